//! A full disk: the database lives on a small tmpfs that fills up while the daemon delivers. Every
//! committed row is kept, the problem is logged and shown in the daemon's state, and delivery
//! resumes when space returns. Needs permission to mount a tmpfs (CI runs as root).

use super::checker::check;
use crate::fake_target::Reply;
use crate::helpers::TestApp;
use crate::producer::fill;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status();
        mounted.ok()?.success().then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem holding `dir` with one file until a write fails.
fn fill_disk(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler file");
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    let _ = std::io::Write::write_all(&mut file, &[0u8; 512]);
    filler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_every_committed_row_and_delivery_resumes_when_space_returns() {
    let outer = tempfile::tempdir().expect("temp dir");
    let mount_point = outer.path().join("disk");
    let Some(_tmpfs) = Tmpfs::mount(&mount_point, "8m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); CI runs this case");
        return;
    };
    let database = mount_point.join("outbox.db");
    // Small batches, so delivery is still under way when the disk fills.
    let app = TestApp::spawn(&format!(
        "[database]\npath = {:?}\n[workers]\nbatch_size = 8\n",
        database.display().to_string()
    ))
    .await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(20)));
    let rows = fill(&app.pool, "disk", 500, 2_000).await;

    let mut daemon = app.spawn_daemon();
    app.wait_until(Duration::from_secs(30), "delivery under way", || async {
        app.count("delivered").await > 0
    })
    .await;
    // An empty WAL, so the daemon's next write must find new space on the disk (a WAL that keeps
    // its size is reused in place and needs none).
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&app.pool)
        .await
        .expect("checkpoint");
    let filler = fill_disk(&mount_point);
    app.wait_until(
        Duration::from_secs(60),
        "the daemon to report the full disk",
        || async { app.daemon_log().contains("full") },
    )
    .await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(
        kept as usize, rows,
        "every committed row is still there while the disk is full"
    );

    std::fs::remove_file(filler).expect("space returns");
    app.wait_delivered(rows, Duration::from_secs(120)).await;
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;
    let last_error: Option<String> = sqlx::query_scalar("SELECT last_error FROM daemon_state")
        .fetch_one(&app.pool)
        .await
        .expect("state");
    assert!(
        last_error.as_deref().is_some_and(|e| e.contains("full")),
        "status shows it: {last_error:?}\n{}",
        app.daemon_log()
    );
    let mut verdict = check("disk full", &app.pool, &app.target.received(), 1_000_000).await;
    verdict.extra = format!(
        "disk_errors_logged={}",
        app.daemon_log().matches("full").count()
    );
    verdict.assert_clean();
}
