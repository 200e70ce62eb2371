//! Crash loop: the daemon is killed with SIGKILL at random moments, and aborts itself at each
//! named crash point, over and over, while a producer keeps inserting.

use super::checker::check;
use super::scale::scale;
use crate::fake_target::Reply;
use crate::helpers::TestApp;
use crate::producer::produce;
use profile_outbox::delivery::CRASH_ENV;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::process::Stdio;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NAMED: [&str; 6] = [
    "after_claim:1",
    "after_send:1",
    "before_record:1",
    "after_claim:3",
    "after_send:5",
    "before_record:2",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_again_and_again_while_producers_insert_loses_nothing() {
    let scale = scale();
    let app = TestApp::spawn("[quota]\nmax_rows_per_call = 4\n[workers]\nbatch_size = 16\n").await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(2)));
    let producing = CancellationToken::new();
    let producer = tokio::spawn(produce(
        app.pool.clone(),
        "crash".into(),
        40,
        Duration::from_millis(2),
        producing.clone(),
    ));
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (mut kills, mut aborts) = (0, 0);
    for round in 0..scale.kills {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(app.log_path())
            .expect("log");
        let mut command = app.command(&["run"]);
        command.stdout(Stdio::null()).stderr(log);
        let armed = round % 3 == 2;
        if armed {
            command.env(CRASH_ENV, NAMED[(round / 3) % NAMED.len()]);
        }
        let mut daemon = command.spawn().expect("daemon starts");
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..150))).await;
        // An armed daemon gets up to two seconds more to reach its crash point, so a loaded
        // machine's slow start does not turn every planned crash into a kill.
        let mut waited = 0;
        while armed && waited < 40 && daemon.try_wait().expect("status").is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        match daemon.try_wait().expect("status") {
            Some(_) => aborts += 1,
            None => {
                daemon.kill().expect("SIGKILL");
                kills += 1;
            }
        }
        let _ = daemon.wait();
    }
    producing.cancel();
    let committed = producer.await.expect("producer ends");

    let mut daemon = app.spawn_daemon();
    app.wait_delivered(committed, Duration::from_secs(120))
        .await;
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;

    let mut verdict = check("crash loop", &app.pool, &app.target.received(), 1_000_000).await;
    verdict.extra = format!("kills={kills} crash_point_aborts={aborts} committed={committed}");
    verdict.assert_clean();
    assert_eq!(kills + aborts, scale.kills);
    assert!(aborts > 0, "the named crash points were reached");
}
