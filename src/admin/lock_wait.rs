//! Waiting for SQLite's write lock, out loud. Another program (a producer in a long transaction,
//! an `sqlite3` shell left inside `BEGIN`) can hold the lock; an admin command then waits up to
//! [`LOCK_WAIT`], says on stderr after a moment that it is waiting and which processes have the
//! database open, and when it gives up says the same instead of SQLite's bare "database is
//! locked".

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long an admin command or `enqueue` waits for the write lock: what README asks producers to
/// wait, whatever `database.busy_timeout` (the daemon's own wait) says.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// After this long without the lock, the command says it is waiting.
const NOTICE_AFTER: Duration = Duration::from_secs(2);

/// Runs `work` (one statement that needs the write lock on `database`), saying on stderr when it
/// waits, and naming the lock's likely holders when it gives up.
pub async fn with_lock_notice<T>(
    database: &Path,
    work: impl Future<Output = sqlx::Result<T>>,
) -> anyhow::Result<T> {
    tokio::pin!(work);
    let result = tokio::select! {
        result = &mut work => result,
        () = tokio::time::sleep(NOTICE_AFTER) => {
            eprintln!(
                "profile-outbox: waiting for the write lock on {} (held by another program; {}); \
                 giving up after {}s",
                database.display(),
                holders_text(database),
                LOCK_WAIT.as_secs()
            );
            work.await
        }
    };
    result.map_err(|e| explain(database, e))
}

/// SQLite's "database is locked" (SQLITE_BUSY, code 5) in words that say what to do.
pub fn explain(database: &Path, error: sqlx::Error) -> anyhow::Error {
    let busy = error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        // Extended codes (SQLITE_BUSY_SNAPSHOT, …) keep the primary code in the low byte.
        .is_some_and(|code| code & 0xff == 5);
    if !busy {
        return anyhow::Error::new(error)
            .context(format!("cannot change database {}", database.display()));
    }
    anyhow::anyhow!(
        "database {} is still locked after {}s: another program holds its write lock ({}); \
         nothing was changed. Find the program that keeps a transaction open (a producer, an \
         `sqlite3` shell inside BEGIN), let it finish, and try again",
        database.display(),
        LOCK_WAIT.as_secs(),
        holders_text(database)
    )
}

/// `processes with it open: 4242 (sqlite3), 4250 (python3)`, or why none can be named.
fn holders_text(database: &Path) -> String {
    let holders = holders(database);
    if holders.is_empty() {
        return "no other process of this user has it open; it may belong to another user".into();
    }
    let named: Vec<String> = holders
        .iter()
        .map(|(pid, name)| format!("{pid} ({name})"))
        .collect();
    format!("processes with it open: {}", named.join(", "))
}

/// Other processes that have the database (or its WAL) open, as far as /proc lets this user see:
/// pid and command name.
pub fn holders(database: &Path) -> Vec<(u32, String)> {
    let Ok(target) = database.canonicalize() else {
        return Vec::new();
    };
    let wal = PathBuf::from(format!("{}-wal", target.display()));
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && has_open(*pid, &target, &wal))
        .map(|pid| (pid, command_name(pid)))
        .collect();
    found.sort();
    found
}

fn has_open(pid: u32, database: &Path, wal: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|link| link == database || link == wal)
}

fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_holding_the_database_open_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("outbox.db");
        std::fs::write(&path, b"x").expect("file written");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&path).expect("opens"))
            .spawn()
            .expect("sleep starts");
        let mut named = Vec::new();
        for _ in 0..100 {
            named = holders(&path);
            if !named.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(named, vec![(child.id(), "sleep".to_owned())]);
    }
}
