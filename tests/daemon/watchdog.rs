//! systemd's watchdog, seen from a fake notify socket: pings keep coming while the daemon waits
//! for slow answers. (That a stale heartbeat stops them is tested in `daemon::watchdog`.)

use crate::fake_target::Reply;
use crate::helpers::{PC, TestApp};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// systemd's interval in these tests: the daemon must ping at least this often.
const INTERVAL: Duration = Duration::from_secs(4);

/// The daemon under a fake systemd with a watchdog of `INTERVAL`, and the socket it talks to.
fn under_systemd(app: &TestApp) -> (Child, UnixDatagram) {
    let socket_path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket binds");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout set");
    let log = std::fs::File::create(app.log_path()).expect("log file");
    let daemon = app
        .command(&["run"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", INTERVAL.as_micros().to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    (daemon, socket)
}

/// When each watchdog ping came, from now for `span`.
fn pings_for(socket: &UnixDatagram, span: Duration) -> Vec<Instant> {
    let mut pings = Vec::new();
    let mut buf = [0u8; 512];
    let start = Instant::now();
    while start.elapsed() < span {
        // One assignment per line, as systemd reads a datagram.
        if let Ok(n) = socket.recv(&mut buf)
            && buf[..n]
                .split(|b| *b == b'\n')
                .any(|line| line == b"WATCHDOG=1")
        {
            pings.push(Instant::now());
        }
    }
    pings
}

async fn wait_for_request(app: &TestApp) {
    app.wait_until(
        Duration::from_secs(30),
        "the request reaches Target",
        || async { !app.target.received().is_empty() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_is_pinged_while_an_answer_takes_longer_than_its_interval() {
    let app = TestApp::spawn("[target]\ntimeout = \"30s\"\n").await;
    app.target
        .script([Reply::ok().after(Duration::from_secs(10))]);
    app.enqueue_pc(PC, json!({"a": 1})).await;
    let (mut daemon, socket) = under_systemd(&app);
    wait_for_request(&app).await;

    // While the one answer takes 10 s, well past the 4 s systemd allows between pings.
    let pings = pings_for(&socket, Duration::from_secs(9));
    app.stop_daemon(&mut daemon, Duration::from_secs(30)).await;

    assert!(pings.len() >= 3, "{} pings in 9 s", pings.len());
    let longest = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(Duration::MAX);
    assert!(longest < INTERVAL, "{longest:?} between two pings");
}
