//! Makes sure only one daemon drains a database at a time.
//!
//! The lock is an exclusive `flock` on `<database>.lock`. The kernel drops it when the process
//! ends, however it ends, so a daemon killed with SIGKILL never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Held for as long as the daemon runs; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another profile-outbox daemon (pid {holder}) is already delivering from this database; \
         lock file {path}"
    )]
    Held { path: String, holder: String },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock for the database at `database`, or says who holds it.
    pub fn acquire(database: &Path) -> Result<InstanceLock, LockError> {
        let path = lock_path(database);
        let shown = path.display().to_string();
        let io = |source| LockError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default();
                let holder = if holder.is_empty() {
                    "unknown".to_owned()
                } else {
                    holder
                };
                return Err(LockError::Held {
                    path: shown,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // The pid is only for the message another process prints; the lock itself is the flock.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a daemon holds the lock on the database at `database` now, for the admin commands.
///
/// Never creates the lock file: a missing one means no daemon has run here. The probe takes a
/// *shared* lock and drops it at once, so two admin commands probing together do not mistake each
/// other for a daemon. A daemon starting in those few microseconds would find the lock taken and
/// exit with "another daemon is running"; systemd's `Restart=on-failure` starts it again.
pub fn is_held(database: &Path) -> std::io::Result<bool> {
    let file = match File::open(lock_path(database)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The lock file that goes with a database file.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir.as_ref().map(|d| d.path().join("outbox.db"));
        let Ok(db) = dir else { panic!("no temp dir") };
        let first = InstanceLock::acquire(&db);
        assert!(first.is_ok(), "{first:?}");
        let second = InstanceLock::acquire(&db);
        assert!(matches!(second, Err(LockError::Held { .. })), "{second:?}");
        drop(first);
        assert!(InstanceLock::acquire(&db).is_ok());
    }

    #[test]
    fn the_probe_sees_a_held_lock_and_creates_no_lock_file() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir.as_ref().map(|d| d.path().join("outbox.db"));
        let Ok(db) = dir else { panic!("no temp dir") };
        assert!(matches!(is_held(&db), Ok(false)));
        assert!(!lock_path(&db).exists(), "probing made a lock file");
        let lock = InstanceLock::acquire(&db);
        assert!(matches!(is_held(&db), Ok(true)));
        assert!(matches!(is_held(&db), Ok(true)), "probing twice");
        drop(lock);
        assert!(matches!(is_held(&db), Ok(false)));
        assert!(
            InstanceLock::acquire(&db).is_ok(),
            "a probe leaves nothing held"
        );
    }
}
