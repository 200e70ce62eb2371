//! Clock steps: the wall clock jumps an hour back and a day forward in the middle of a run with
//! retries pending and the quota spent. No row is stuck and no 24 hours hold more calls than the
//! quota, counted on real (simulated) time.

use super::checker::check;
use crate::fake_target::Reply;
use crate::helpers::TestApp;
use crate::producer::fill;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const QUOTA: u32 = 150;

#[tokio::test]
async fn wall_clock_steps_back_and_forward_leave_no_row_stuck_and_the_quota_unpassed() {
    let app = TestApp::spawn(&format!(
        "[quota]\ncalls_per_day = {QUOTA}\ncoalesce = false\n[retry]\ninitial_delay = \"10m\"\nmax_delay = \"1h\"\nmax_attempts = 50\n"
    ))
    .await;
    // Refusals schedule retries minutes ahead, across the steps.
    app.target.chaos(0.1, Reply::status(400, "try again later"));
    let rows = fill(&app.pool, "clock", 100, 400).await;
    let start = app.now_ms();
    let (mut stepped_back, mut stepped_forward) = (false, false);
    let mut calls: Vec<(i64, u32)> = Vec::new();
    // Real time passes in steps of up to an hour; the wall clock is stepped on top.
    while (app.count("delivered").await as usize) < rows && app.now_ms() - start < 10 * DAY_MS {
        let report = app.run_once().await;
        if report.requests > 0 {
            calls.push((app.now_ms(), report.requests));
        }
        let wait = report
            .wait
            .map_or(60_000, |w| i64::try_from(w.as_millis()).unwrap_or(HOUR_MS));
        app.clock.advance_ms(wait.clamp(1_000, HOUR_MS));
        if !stepped_back && app.now_ms() - start > 2 * HOUR_MS {
            app.clock.step_wall_ms(-HOUR_MS);
            stepped_back = true;
        }
        if !stepped_forward && app.now_ms() - start > 6 * HOUR_MS {
            app.clock.step_wall_ms(DAY_MS);
            stepped_forward = true;
        }
    }
    assert!(stepped_back && stepped_forward);
    for (i, (at, _)) in calls.iter().enumerate() {
        let in_day: u32 = calls[i..]
            .iter()
            .take_while(|(t, _)| *t < at + DAY_MS)
            .map(|(_, n)| n)
            .sum();
        assert!(in_day <= QUOTA, "{in_day} calls in the 24 hours from {at}");
    }
    let mut verdict = check("clock steps", &app.pool, &app.target.received(), usize::MAX).await;
    verdict.extra = format!("simulated_hours={}", (app.now_ms() - start) / HOUR_MS);
    verdict.assert_clean();
}
