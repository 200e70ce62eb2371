//! Starts one PostgreSQL server for the whole test binary: `initdb` into a temporary folder as the
//! unprivileged `postgres` user when the tests run as root, listening only on a Unix socket in
//! that folder. A watcher process stops the server and removes the folder once this test process
//! is gone, however it ends.

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Server {
    /// The folder holding the socket.
    pub socket_dir: PathBuf,
    bin: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A server of this test's own, to stop and start again. Fails when PostgreSQL is missing.
#[allow(dead_code)]
pub fn own_server() -> Server {
    start().unwrap_or_else(|why| panic!("{why}"))
}

/// The shared server, started on first use. Fails (never skips) when PostgreSQL is missing.
pub fn server() -> &'static Server {
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("{why}"),
    }
}

fn bin_dir() -> Result<PathBuf, String> {
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").is_file() {
        return Ok(debian.to_owned());
    }
    let others = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten();
    for entry in others.flatten() {
        if entry.path().join("bin/initdb").is_file() {
            return Ok(entry.path().join("bin"));
        }
    }
    Err(
        "PostgreSQL's initdb was not found (looked in /usr/lib/postgresql/*/bin): install \
         the `postgresql` package (apt-get install postgresql) to run the pool tests"
            .to_owned(),
    )
}

/// A command run as the `postgres` user when this process is root (PostgreSQL refuses root).
fn as_server_user(program: &Path) -> Command {
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if root {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn start() -> Result<Server, String> {
    let bin = bin_dir()?;
    let dir = tempfile::Builder::new()
        .prefix("pool-pg-")
        .tempdir()
        .map_err(|e| format!("cannot make a folder for PostgreSQL: {e}"))?
        .keep();
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if root {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cannot give {} to the postgres user",
                dir.display()
            ));
        }
    }
    let data = dir.join("data");
    let initdb = as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let server = Server {
        socket_dir: dir,
        bin,
    };
    server.launch()?;
    watch(&server)?;
    Ok(server)
}

impl Server {
    /// Starts the server on its data folder, and waits until it takes connections.
    pub fn launch(&self) -> Result<(), String> {
        let dir = &self.socket_dir;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .map_err(|e| e.to_string())?;
        as_server_user(&self.bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-k")
            .arg(dir)
            .args(["-c", "listen_addresses=", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        wait_for_socket(dir)
    }

    /// Stops the server at once, as a crash would.
    #[allow(dead_code)]
    pub fn stop(&self) {
        let stopped = self.pg_ctl_stop().status();
        assert!(stopped.is_ok_and(|s| s.success()), "pg_ctl stop failed");
    }

    /// Stops every process of the server with SIGSTOP (the postmaster and its backends), as a
    /// server that hangs: connections are accepted by the kernel and never answered. The server
    /// goes on when the returned guard is dropped.
    #[allow(dead_code)]
    pub fn hang(&self) -> Hung {
        let pids = self.processes();
        assert!(!pids.is_empty(), "no PostgreSQL process to stop");
        signal("-STOP", &pids);
        Hung { pids }
    }

    /// The postmaster (the first line of its pid file) and its children.
    fn processes(&self) -> Vec<u32> {
        let pid_file = self.socket_dir.join("data/postmaster.pid");
        let text = std::fs::read_to_string(pid_file).unwrap_or_default();
        let Some(postmaster) = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // /proc/PID/stat: "pid (name) state ppid ..."; the name may hold spaces.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }

    fn pg_ctl_stop(&self) -> Command {
        let mut command = as_server_user(&self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.socket_dir.join("data"))
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }
}

/// Stops the server and removes its folder once this process has ended.
fn watch(server: &Server) -> Result<(), String> {
    let stop = format!("{:?}", server.pg_ctl_stop()).replace('"', "'");
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; {stop}; rm -rf '{dir}'",
        me = std::process::id(),
        dir = server.socket_dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot start the server's watcher: {e}"))
}

fn wait_for_socket(dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let ready = dir.join("data/postmaster.pid");
        // The pid file's last line says "ready" once the server takes connections.
        let text = std::fs::read_to_string(ready).unwrap_or_default();
        if dir.join(".s.PGSQL.5432").exists() && text.contains("ready") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "PostgreSQL did not start: see {}/server.log",
        dir.display()
    ))
}

impl Server {
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}",
            self.socket_dir.display()
        )
    }
}

/// A new, empty database on the shared server: its URL.
pub async fn fresh_database() -> String {
    fresh_database_on(server()).await
}

/// A new, empty database on `server`: its URL.
pub async fn fresh_database_on(server: &Server) -> String {
    let name = format!(
        "pool_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = connect_url(&server.url("postgres")).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    server.url(&name)
}

pub async fn connect_url(url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(url).unwrap();
    // The server may still be finishing its start: try for a few seconds.
    let started = Instant::now();
    loop {
        match PgConnection::connect_with(&options).await {
            Ok(conn) => return conn,
            Err(e) if started.elapsed() > Duration::from_secs(10) => panic!("connect {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A fresh database on the shared server with the pool set up at `limit`: its URL and an admin
/// connection.
pub async fn pool_with_limit(limit: i64) -> (String, PgConnection) {
    pool_with_limit_on(server(), limit).await
}

/// A fresh database on `server` with the pool set up at `limit`: its URL and an admin connection.
pub async fn pool_with_limit_on(server: &Server, limit: i64) -> (String, PgConnection) {
    let url = fresh_database_on(server).await;
    let mut conn = connect_url(&url).await;
    profile_outbox::quota::pool::init(&mut conn, limit)
        .await
        .unwrap();
    (url, conn)
}

/// A server hung by [`Server::hang`]; dropping this lets it go on (SIGCONT), also when a test
/// fails meanwhile, so no stopped process outlives the test.
#[allow(dead_code)]
pub struct Hung {
    pids: Vec<u32>,
}

impl Drop for Hung {
    fn drop(&mut self) {
        signal("-CONT", &self.pids);
    }
}

fn signal(which: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(which)
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}
