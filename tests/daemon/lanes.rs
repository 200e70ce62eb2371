//! The delivery loop's two lanes: batches overlap, yet the limit on requests in flight holds and a
//! visitor's rows still reach Target oldest first.

use crate::fake_target::Reply;
use crate::helpers::TestApp;
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const VISITORS: usize = 30;
const ROWS_EACH: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lanes_overlap_batches_within_the_concurrency_limit_and_keep_each_visitors_order() {
    // Batches of two visitors, four requests at once: more than two requests in flight at a time
    // can only come from two batches overlapping. Coalescing off, so each row is its own request.
    let app =
        TestApp::spawn("[workers]\nconcurrency = 4\nbatch_size = 2\n[quota]\ncoalesce = false\n")
            .await;
    app.target
        .answer_by_default(Reply::ok().after(Duration::from_millis(20)));
    for n in 1..=ROWS_EACH {
        for v in 0..VISITORS {
            app.enqueue_pc(&format!("{v}-{v}.01_00"), json!({"n": n.to_string()}))
                .await;
        }
    }
    let total = i64::try_from(VISITORS * ROWS_EACH).expect("small");

    let stop = CancellationToken::new();
    let drained = async {
        app.wait_until(Duration::from_secs(60), "every row delivered", || async {
            app.count("delivered").await == total
        })
        .await;
        stop.cancel();
    };
    tokio::join!(app.deliverer.run(&stop), drained);

    let most = app.target.most_at_once();
    assert!(most <= 4, "{most} requests were in flight at once");
    assert!(
        most > 2,
        "batches never overlapped (at most {most} requests at once)"
    );
    for v in 0..VISITORS {
        let pc = format!("{v}-{v}.01_00");
        let values: Vec<String> = app
            .target
            .received()
            .iter()
            .filter(|r| r.param("mboxPC").as_deref() == Some(pc.as_str()))
            .filter_map(|r| r.param("profile.n"))
            .collect();
        assert_eq!(values, ["1", "2", "3"], "visitor {pc}'s rows out of order");
    }
}
