//! The real daemon as a child process: the release binary built by `cargo bench`, started with
//! `run` on a config file pointing at the stand-in, watched through /proc, stopped with SIGTERM.

use super::proc_stats::{self, Memory};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How fast the daemon may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// The built-in defaults (`quota.max_per_second` 50, `burst` 10).
    Defaults,
    /// No short-term rate limit to speak of: only the 24-hour quota (1,000,000 calls) applies.
    Unlimited,
}

/// The binary `cargo bench` built alongside this benchmark.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_profile-outbox"))
}

/// Writes a config file in `dir` for a daemon on `database`, sending to `base_url`. The profile
/// lookup is off: these figures are the update path's (the stand-in answers only updates), and
/// `cargo bench --bench profile_check` measures the lookup.
pub fn write_config(
    dir: &Path,
    database: &Path,
    base_url: &url::Url,
    pace: Pace,
) -> anyhow::Result<PathBuf> {
    let quota = match pace {
        Pace::Defaults => "",
        Pace::Unlimited => "max_per_second = 1000000000\nburst = 1000000000\n",
    };
    let text = format!(
        "[database]\npath = {database:?}\n\n[target]\nclient_code = \"bench\"\nbase_url = \"{base_url}\"\ncheck_profile = false\n\n[quota]\n{quota}",
        database = database.display().to_string(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A running `profile-outbox run`; killed if dropped while still running.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `profile-outbox --config <config> run`, its log written to `log`.
    pub fn spawn(config: &Path, log: &Path) -> anyhow::Result<Daemon> {
        let log = std::fs::File::create(log)?;
        let child = Command::new(binary())
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary().display()))?;
        Ok(Daemon { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        proc_stats::memory(self.pid())
    }

    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        proc_stats::process_cpu_seconds(self.pid())
    }

    /// Fails if the daemon has exited (its log says why).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("the daemon exited early with {status}");
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit (up to 60 s, the time to record what is in flight).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {} failed", self.pid());
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::ensure!(status.success(), "the daemon exited with {status}");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("the daemon did not stop within 60 s of SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether the built binary has a subcommand (`status` comes from another branch).
pub fn has_subcommand(name: &str) -> bool {
    Command::new(binary())
        .arg("--help")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false)
}
