//! Shared set-up: a fresh database and fake Target per test, settings loaded through the real
//! loader, and a deliverer driven one batch at a time on a manual clock.

use crate::fake_target::FakeTarget;
use profile_outbox::adobe::{Endpoint, TargetClient};
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::{self, Settings, Token};
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::delivery::{BatchReport, Deliverer};
use profile_outbox::outbox::{self, NewRow};
use profile_outbox::state;
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const PC: &str = "1368007744041-575948.01_00";

/// Logs go to the test output only when TEST_LOG is set.
pub fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// A row as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowView {
    pub state: String,
    pub attempts: i64,
    pub sends: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub target: FakeTarget,
    pub settings: Settings,
    pub config_path: PathBuf,
    pub pool: SqlitePool,
    pub clock: Clock,
    pub deliverer: Deliverer,
    pub stop: CancellationToken,
}

impl TestApp {
    /// A fresh app. `extra` is more TOML appended to the test's config file.
    pub async fn spawn(extra: &str) -> TestApp {
        init_test_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let target = FakeTarget::start().await;
        let config_path = write_config(dir.path(), &target.base_url(), extra);
        let settings =
            config::load(Some(&config_path), Some(Default::default())).expect("test config loads");
        let path = settings.database.path.clone();
        let pool = db::open(
            &path,
            OpenMode::CreateIfMissing,
            Durability::Normal,
            settings.database.busy_timeout,
            4,
        )
        .await
        .expect("database opens");
        db::migrate(&pool, &path).await.expect("schema applies");
        let clock = Clock::manual(1_800_000_000_000);
        let deliverer = build_deliverer(&settings, &pool, &clock, &target.base_url()).await;
        TestApp {
            dir,
            target,
            settings,
            config_path,
            pool,
            clock,
            deliverer,
            stop: CancellationToken::new(),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.settings.database.path.clone()
    }

    pub async fn enqueue(&self, row: NewRow) -> i64 {
        outbox::enqueue(&self.pool, &row)
            .await
            .expect("row inserts")
    }

    /// A row for the tntId visitor `pc` with attributes given as JSON.
    pub async fn enqueue_pc(&self, pc: &str, attributes: serde_json::Value) -> i64 {
        let serde_json::Value::Object(attributes) = attributes else {
            panic!("attributes must be an object")
        };
        self.enqueue(NewRow {
            mbox_pc: Some(pc.to_owned()),
            attributes,
            ..NewRow::default()
        })
        .await
    }

    /// Inserts raw SQL values, as a producer might, bypassing the typed helper.
    pub async fn insert_raw(
        &self,
        mbox_pc: Option<&str>,
        third: Option<&str>,
        attributes: &str,
    ) -> i64 {
        sqlx::query_scalar("INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes) VALUES (?, ?, ?) RETURNING id")
            .bind(mbox_pc)
            .bind(third)
            .bind(attributes)
            .fetch_one(&self.pool)
            .await
            .expect("raw row inserts")
    }

    /// Now, on the deliverer's timeline (the time rows are scheduled on).
    pub fn now_ms(&self) -> i64 {
        self.deliverer.timeline().now_ms()
    }

    /// A new deliverer on the same database, clock and fake: what a restarted daemon would be.
    pub async fn restarted(&self) -> Deliverer {
        build_deliverer(
            &self.settings,
            &self.pool,
            &self.clock,
            &self.target.base_url(),
        )
        .await
    }

    pub async fn run_once(&self) -> BatchReport {
        self.deliverer
            .run_once(&self.stop)
            .await
            .expect("batch runs")
    }

    /// Runs batches until one claims nothing.
    pub async fn drain(&self) -> Vec<BatchReport> {
        let mut reports = Vec::new();
        for _ in 0..10_000 {
            let report = self.run_once().await;
            if report.claimed == 0 {
                return reports;
            }
            reports.push(report);
        }
        panic!("the outbox never drained");
    }

    pub async fn row(&self, id: i64) -> RowView {
        row_view(&self.pool, id).await
    }

    /// Refusals counted against rows, over the whole outbox.
    pub async fn attempts_counted(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(sum(attempts), 0) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .expect("sum of attempts")
    }

    /// Calls counted in the quota ledger, over all time.
    pub async fn calls_booked(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(sum(calls), 0) FROM quota_ledger")
            .fetch_one(&self.pool)
            .await
            .expect("ledger sum")
    }

    pub async fn count(&self, state: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = ?")
            .bind(state)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// The binary, with this test's config.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_profile-outbox"));
        command.arg("--config").arg(&self.config_path).args(args);
        command.env_remove("RUST_LOG").env("NO_COLOR", "1");
        command
    }

    /// Starts `profile-outbox run` as a separate process, its log appended to `daemon.log`.
    pub fn spawn_daemon(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file opens");
        self.command(&["run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(Daemon)
            .expect("daemon starts")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Stops a daemon with SIGTERM and checks that it exits 0 within `limit`.
    pub async fn stop_daemon(&self, daemon: &mut Child, limit: Duration) {
        terminate(daemon);
        let status = wait_exit(daemon, limit).await;
        assert!(
            status.success(),
            "the daemon exited with {status:?}; its log:\n{}",
            self.daemon_log()
        );
    }

    /// Waits until `rows` rows are delivered, for at most `limit`.
    pub async fn wait_delivered(&self, rows: usize, limit: Duration) {
        self.wait_until(limit, &format!("{rows} rows delivered"), || async {
            self.count("delivered").await as usize == rows
        })
        .await;
    }

    /// Waits for `done` to hold, checking every 20 ms, for at most `limit`.
    pub async fn wait_until<F, Fut>(&self, limit: Duration, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !done().await {
            assert!(
                start.elapsed() < limit,
                "gave up waiting for {what} after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A deliverer as `run` builds one: its timeline continues from the saved state, as after a restart.
pub async fn build_deliverer(
    settings: &Settings,
    pool: &SqlitePool,
    clock: &Clock,
    base_url: &str,
) -> Deliverer {
    let saved = state::saved_anchor(pool).await.expect("state reads");
    let timeline = Timeline::resume(clock.clone(), saved.as_ref());
    // As `run` starts: a slow-down pause the last run kept is carried over.
    let slow_down_until = state::saved_slow_down(pool).await.expect("state reads");
    state::started(pool, &timeline).await.expect("state writes");
    let token = settings
        .target
        .token_file
        .as_deref()
        .and_then(|p| Token::read_file(p).ok().flatten());
    let client = TargetClient::new(settings.target.timeout, 8, token).expect("client builds");
    let base = url::Url::parse(base_url).expect("base url");
    let endpoint = Endpoint::new(&base, "acme", settings.target.method);
    let deliverer = Deliverer::new(pool.clone(), client, endpoint, settings, timeline);
    if let Some(until) = slow_down_until {
        deliverer.resume_requested_pause(until);
    }
    deliverer
}

pub async fn row_view(pool: &SqlitePool, id: i64) -> RowView {
    let row = sqlx::query(
        "SELECT state, attempts, sends, next_attempt_at, last_status, last_error FROM outbox WHERE id = ?",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("row exists");
    RowView {
        state: row.get(0),
        attempts: row.get(1),
        sends: row.get(2),
        next_attempt_at: row.get(3),
        last_status: row.get(4),
        last_error: row.get(5),
    }
}

/// A config file for a test: its own database, the fake Target, fast retries.
fn write_config(dir: &Path, base_url: &str, extra: &str) -> PathBuf {
    let database = dir.join("outbox.db");
    let text = format!(
        "[database]\npath = {database:?}\n\n[target]\nclient_code = \"acme\"\nbase_url = \"{base_url}\"\ntimeout = \"2s\"\n\n\
         [quota]\nmax_per_second = 100000\nburst = 1000\n\n\
         [retry]\ninitial_delay = \"100ms\"\nmax_delay = \"1s\"\n\n\
         [workers]\npoll_interval = \"10ms\"\nshutdown_deadline = \"5s\"\n\n{extra}\n",
        database = database.display().to_string(),
    );
    let text = merge_sections(&text);
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Lets `extra` add or replace keys of a section the base text already opened, by merging repeated
/// section headers (TOML forbids opening a table twice); a later key wins.
fn merge_sections(text: &str) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut sections: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            current = trimmed.to_owned();
            if !sections.contains_key(&current) {
                order.push(current.clone());
            }
            sections.entry(current.clone()).or_default();
        } else if !trimmed.is_empty() {
            let lines = sections.entry(current.clone()).or_default();
            let key = |l: &str| l.split('=').next().unwrap_or_default().trim().to_owned();
            lines.retain(|l| key(l) != key(trimmed));
            lines.push(line.to_owned());
        }
    }
    let mut out = String::new();
    for header in order {
        out.push_str(&header);
        out.push('\n');
        for line in &sections[&header] {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits up to `limit` for a child to exit.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status;
        }
        if start.elapsed() > limit {
            // Killed first, so a failing test leaves no process behind.
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A daemon process started by a test: a `Child`, killed and reaped when dropped, so that a test
/// that fails half-way leaves no daemon running.
pub struct Daemon(pub Child);

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
