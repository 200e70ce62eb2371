//! Runs one history: a real SQLite file, the real start-up, the real `Deliverer` on a manual
//! clock, the fake Target, producers, operators, crashes and restarts, then a fault-free phase
//! that must bring every row to rest. Returns what happened; `check` judges it.

use crate::plan::{Admin, Faults, History, Step};
use crate::rows::{Cell, RowSpec};
use crate::target::{FakeTarget, Received};
use anyhow::Context;
use profile_outbox::admin::{self, Change, PurgeScope, RowFilter};
use profile_outbox::clock::{Clock, Timeline};
use profile_outbox::config::{self, Settings, Token};
use profile_outbox::db::{self, Durability, OpenMode};
use profile_outbox::delivery::{BatchReport, Deliverer};
use profile_outbox::target::{Endpoint, TargetClient};
use profile_outbox::{housekeeping, outbox, state};
use sqlx::SqlitePool;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rounds one delivery step may run while every round finds rows (the loop would go on).
const ROUNDS_PER_STEP: usize = 25;
/// Client timeout: a hang costs this much simulated time.
pub const TIMEOUT_MS: i64 = 10_000;
const DAY: i64 = 86_400_000;
/// Times the daemon may wake during one `Advance` step before the rest passes at once.
const WAKES_PER_ADVANCE: usize = 40;

/// Counts kept while a history runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub rounds: u64,
    pub round_errors: u64,
    pub last_round_error: Option<String>,
    pub crashes: u64,
    pub restarts: u64,
    pub refused_inserts: u64,
    pub admin_changes: u64,
    /// Rounds that claimed rows while no request went out and no row finished, per simulated
    /// second.
    pub idle_claims: HashMap<i64, u32>,
    /// The shortest wait the last rounds asked for (quota spent, delivery paused).
    pub wait_ms: Option<i64>,
}

/// What a history left behind, for the checker.
#[derive(Debug)]
pub struct Outcome {
    pub received: Vec<Received>,
    /// Committed rows by id.
    pub rows: BTreeMap<i64, RowSpec>,
    /// Each row's final state and last error.
    pub states: HashMap<i64, (String, Option<String>)>,
    /// Rows purged, with the state they had then.
    pub purged: HashMap<i64, String>,
    pub stats: Stats,
    /// Rows not at rest after the fault-free phase, with how long it ran.
    pub unsettled: Option<String>,
    pub liveness_rounds: u32,
}

struct Daemon {
    start_pool: SqlitePool,
    delivery_pool: SqlitePool,
    deliverer: Deliverer,
}

pub struct World {
    _dir: tempfile::TempDir,
    path: PathBuf,
    settings: Settings,
    clock: Clock,
    target: Arc<FakeTarget>,
    producers: Option<SqlitePool>,
    daemon: Option<Daemon>,
    /// What the token file holds.
    token: Option<String>,
    /// Steps until the daemon is told of a new token.
    tell_in: Option<u8>,
    rows: BTreeMap<i64, RowSpec>,
    purged: RefCell<HashMap<i64, String>>,
    stats: RefCell<Stats>,
    stop: CancellationToken,
}

impl World {
    pub async fn new(history: &History) -> anyhow::Result<World> {
        let dir = temporary_folder()?;
        let path = dir.path().join("outbox.db");
        let settings = load_settings(history, dir.path(), &path)?;
        let clock = Clock::manual(1_800_000_000_000);
        let token = history.config.auth.then(|| "token-0".to_owned());
        let target = Arc::new(FakeTarget::new(
            history.seed,
            clock.clone(),
            TIMEOUT_MS,
            token.clone(),
        ));
        let mut world = World {
            _dir: dir,
            path,
            settings,
            clock,
            target,
            producers: None,
            daemon: None,
            token,
            tell_in: None,
            rows: BTreeMap::new(),
            purged: RefCell::new(HashMap::new()),
            stats: RefCell::new(Stats::default()),
            stop: CancellationToken::new(),
        };
        world.start().await?;
        let producers = db::open(
            &world.path,
            OpenMode::MustExist,
            Durability::Full,
            Duration::from_secs(5),
            2,
        )
        .await?;
        world.producers = Some(producers);
        Ok(world)
    }

    /// Start-up as `profile-outbox run` does it: schema, timeline from the saved anchor, the
    /// pending-rows cap, rows left in flight handed back; then a deliverer on its own connection.
    async fn start(&mut self) -> anyhow::Result<()> {
        let busy = self.settings.database.busy_timeout;
        let start_pool = db::open(
            &self.path,
            OpenMode::CreateIfMissing,
            Durability::Normal,
            busy,
            4,
        )
        .await?;
        db::migrate(&start_pool, &self.path).await?;
        let saved = state::saved_anchor(&start_pool).await?;
        let timeline = Timeline::resume(self.clock.clone(), saved.as_ref());
        state::started(&start_pool, &timeline).await?;
        housekeeping::apply_pending_limit(&start_pool, self.settings.database.max_pending_rows)
            .await?;
        outbox::release_in_flight(&start_pool, timeline.now_ms()).await?;
        let delivery_pool = db::open_for_delivery(&self.path, busy).await?;
        let token = self.token.as_deref().and_then(Token::from_file_text);
        let client = TargetClient::simulated(self.target.clone(), token);
        let base = url::Url::parse("https://sim.tt.omtrdc.net")?;
        let endpoint = Endpoint::new(&base, "sim", self.settings.target.method);
        let deliverer = Deliverer::new(
            delivery_pool.clone(),
            client,
            endpoint,
            &self.settings,
            timeline,
        );
        self.daemon = Some(Daemon {
            start_pool,
            delivery_pool,
            deliverer,
        });
        self.tell_in = None;
        Ok(())
    }

    /// The process goes away: nothing more is recorded, connections close.
    async fn stop_daemon(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            drop(daemon.deliverer);
            let close = async {
                daemon.delivery_pool.close().await;
                daemon.start_pool.close().await;
            };
            // A connection a dropped round still holds is rolled back by SQLite when it closes.
            let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
        }
    }

    fn producers(&self) -> anyhow::Result<&SqlitePool> {
        self.producers
            .as_ref()
            .context("the producers' connection is closed")
    }

    fn now_ms(&self) -> i64 {
        self.daemon
            .as_ref()
            .map_or_else(|| self.clock.wall_ms(), |d| d.deliverer.timeline().now_ms())
    }

    pub async fn run(&mut self, steps: &[Step]) -> anyhow::Result<()> {
        for step in steps {
            self.step(step).await?;
            if let Some(n) = self.tell_in {
                if n == 0 {
                    self.tell_token();
                } else {
                    self.tell_in = Some(n - 1);
                }
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> anyhow::Result<()> {
        match step {
            Step::Insert(rows) => self.insert(rows).await,
            Step::Deliver {
                lanes,
                crash_after,
                admin,
            } => self.deliver(*lanes, *crash_after, admin.as_ref()).await,
            Step::Admin(action) => self.admin(action).await,
            Step::NewToken { told_after } => {
                if self.token.is_some() {
                    let next = format!("token-{}", self.target.received());
                    self.target.set_token(Some(next.clone()));
                    self.token = Some(next);
                    self.tell_in = Some(*told_after);
                }
                Ok(())
            }
            Step::Faults(faults) => {
                self.target.set_faults(*faults);
                Ok(())
            }
            Step::Advance(ms) => self.pass_time(*ms).await,
            Step::Restart => {
                self.stop_daemon().await;
                self.stats.borrow_mut().restarts += 1;
                self.start().await
            }
        }
    }

    fn tell_token(&mut self) {
        self.tell_in = None;
        if let Some(daemon) = &self.daemon {
            daemon
                .deliverer
                .token_changed(self.token.as_deref().and_then(Token::from_file_text));
        }
    }

    async fn insert(&mut self, rows: &[RowSpec]) -> anyhow::Result<()> {
        for row in rows {
            let query = sqlx::query_scalar(
                "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes, source)
                 VALUES (?, ?, ?, ?) RETURNING id",
            );
            let query = bind(
                bind(
                    bind(bind(query, &row.mbox_pc), &row.third_party),
                    &row.attributes,
                ),
                &row.source,
            );
            match query.fetch_one(self.producers()?).await {
                Ok(id) => {
                    self.rows.insert(id, row.clone());
                }
                Err(_) => self.stats.borrow_mut().refused_inserts += 1,
            }
        }
        Ok(())
    }

    /// Rounds of the delivery loop; a crash drops them after `crash_after` polls and restarts.
    async fn deliver(
        &mut self,
        lanes: u8,
        crash_after: Option<u32>,
        admin: Option<&Admin>,
    ) -> anyhow::Result<()> {
        let Some(daemon) = &self.daemon else {
            return Ok(());
        };
        let done = std::cell::Cell::new(false);
        let rounds = async {
            let finished = CrashAfter {
                inner: Box::pin(rounds(daemon, lanes, &self.stats, &self.stop)),
                polls_left: crash_after,
            }
            .await;
            done.set(true);
            self.target.arrivals.notify_waiters();
            finished
        };
        let before = self.target.received();
        let operator = async {
            let Some(action) = admin else { return Ok(()) };
            loop {
                let arrival = self.target.arrivals.notified();
                if self.target.received() > before || done.get() {
                    break;
                }
                arrival.await;
            }
            self.admin(action).await
        };
        let (finished, admin_result) = tokio::join!(rounds, operator);
        admin_result?;
        if !finished {
            self.stats.borrow_mut().crashes += 1;
            self.stop_daemon().await;
            self.start().await?;
        }
        Ok(())
    }

    async fn admin(&self, action: &Admin) -> anyhow::Result<()> {
        let pool = self.producers()?;
        let (change, states, rank) = match action {
            Admin::Retry(rank) => (Change::Retry, "'failed'", *rank),
            Admin::Cancel(rank) => (Change::Cancel, "'pending', 'failed'", *rank),
            Admin::Purge => return self.purge().await,
        };
        let sql = format!("SELECT id FROM outbox WHERE state IN ({states}) ORDER BY id");
        let ids: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(pool).await?;
        let Some(id) = ids.get(rank % ids.len().max(1)) else {
            return Ok(());
        };
        let filter = RowFilter {
            ids: vec![*id],
            ..RowFilter::default()
        };
        let plan = admin::plan(pool, change, &filter).await?;
        // An operator without --yes: a change the command asks to confirm is not made.
        if plan.needs_confirmation().is_none() {
            let changed = admin::apply(pool, &plan, self.now_ms()).await?;
            self.stats.borrow_mut().admin_changes += changed.len() as u64;
        }
        Ok(())
    }

    async fn purge(&self) -> anyhow::Result<()> {
        let pool = self.producers()?;
        let before: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, state FROM outbox WHERE state IN ('delivered', 'cancelled')",
        )
        .fetch_all(pool)
        .await?;
        let scope = PurgeScope {
            states: Vec::new(),
            before_ms: i64::MAX,
        };
        admin::purge(pool, &scope, None).await?;
        let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox")
            .fetch_all(pool)
            .await?;
        let left: std::collections::HashSet<i64> = left.into_iter().collect();
        for (id, state) in before {
            if !left.contains(&id) {
                self.stats.borrow_mut().admin_changes += 1;
                self.purged.borrow_mut().insert(id, state);
            }
        }
        Ok(())
    }

    /// Time passes while the daemon runs: it wakes when it asked to (its waits, rows' retry
    /// times), as the real loop does, and sleeps longer and longer while nothing changes.
    async fn pass_time(&mut self, ms: i64) -> anyhow::Result<()> {
        let end = self.clock.wall_ms() + ms;
        let mut stalled_ms = 1_000;
        let mut last = self.target.received();
        for _ in 0..WAKES_PER_ADVANCE {
            self.deliver(1, None, None).await?;
            let received = self.target.received();
            stalled_ms = if received == last {
                (stalled_ms * 2).min(DAY)
            } else {
                1_000
            };
            last = received;
            let wake = self.next_wake().await?.max(stalled_ms);
            if self.clock.wall_ms() + wake >= end {
                break;
            }
            self.clock.advance_ms(wake);
        }
        let left = end - self.clock.wall_ms();
        self.clock.advance_ms(left.max(0));
        Ok(())
    }

    /// Faults stop, the operator puts the right token in place, and time moves on as the daemon
    /// asks (its waits, rows' retry times) until every row is at rest or the bound passes.
    pub async fn settle(
        &mut self,
        calls_per_day: u32,
        max_attempts: u32,
    ) -> anyhow::Result<(Option<String>, u32)> {
        self.target.set_faults(Faults::None);
        if self.daemon.is_none() {
            self.start().await?;
        }
        self.tell_token();
        let open = self.unsettled_count().await?;
        // Up to 5 requests per row (a split update), each refused up to max_attempts times.
        let calls_needed = (open * 5 * i64::from(max_attempts)) as f64;
        let days = 2 + (calls_needed / f64::from(calls_per_day)).ceil() as i64;
        let bound_ms = days * DAY;
        let started = self.now_ms();
        let mut rounds_run = 0;
        // While nothing moves, time moves faster: 1 s, 2 s, 4 s … up to a day.
        let mut stalled_ms = 1_000;
        let mut last = (open, self.target.received());
        for round in 0..(100 + open as u32 * 10) {
            rounds_run = round;
            self.deliver(1, None, None).await?;
            let now = (self.unsettled_count().await?, self.target.received());
            if now.0 == 0 {
                return Ok((None, round));
            }
            if self.now_ms() - started > bound_ms {
                break;
            }
            stalled_ms = if now == last {
                (stalled_ms * 2).min(DAY)
            } else {
                1_000
            };
            last = now;
            let advance = self.next_wake().await?.max(stalled_ms);
            self.clock.advance_ms(advance);
        }
        let stuck: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, state, last_error FROM outbox WHERE state IN ('pending', 'in_flight') ORDER BY id LIMIT 5",
        )
        .fetch_all(self.producers()?)
        .await?;
        let hours = (self.now_ms() - started) / 3_600_000;
        Ok((
            Some(format!(
                "{} rows not at rest after {hours} simulated hours and {rounds_run} rounds without faults (bound {days} days); first: {stuck:?}; last round error: {:?}",
                self.unsettled_count().await?,
                self.stats.borrow().last_round_error
            )),
            rounds_run,
        ))
    }

    async fn unsettled_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')",
        )
        .fetch_one(self.producers()?)
        .await?)
    }

    /// How far to move time: to the daemon's own wait or the next row's retry time, at least a
    /// second, at most a day.
    async fn next_wake(&self) -> anyhow::Result<i64> {
        let now = self.now_ms();
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND next_attempt_at > ?",
        )
        .bind(now)
        .fetch_one(self.producers()?)
        .await?;
        let wait = self.stats.borrow_mut().wait_ms.take();
        let candidates = [due.map(|d| d - now), wait];
        let next = candidates.into_iter().flatten().min().unwrap_or(1_000);
        Ok(next.clamp(1_000, DAY))
    }

    /// Ends the history and collects what the checker needs.
    pub async fn finish(
        mut self,
        unsettled: Option<String>,
        liveness_rounds: u32,
    ) -> anyhow::Result<Outcome> {
        let rows: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, state, last_error FROM outbox")
                .fetch_all(self.producers()?)
                .await?;
        self.stop_daemon().await;
        if let Some(pool) = self.producers.take() {
            pool.close().await;
        }
        Ok(Outcome {
            received: self.target.log(),
            rows: std::mem::take(&mut self.rows),
            states: rows.into_iter().map(|(id, s, e)| (id, (s, e))).collect(),
            purged: self.purged.into_inner(),
            stats: self.stats.into_inner(),
            unsettled,
            liveness_rounds,
        })
    }
}

/// Runs the loop's rounds until one finds nothing, as `Deliverer::run`'s lanes do: a round that
/// claimed rows is followed at once by another. An error hands rows back as the loop does.
async fn rounds(daemon: &Daemon, lanes: u8, stats: &RefCell<Stats>, stop: &CancellationToken) {
    let deliverer = &daemon.deliverer;
    for _ in 0..ROUNDS_PER_STEP {
        let results = if lanes >= 2 {
            let (a, b) = tokio::join!(deliverer.run_once(stop), deliverer.run_once(stop));
            vec![a, b]
        } else {
            vec![deliverer.run_once(stop).await]
        };
        let now = deliverer.timeline().now_ms();
        let mut claimed = 0;
        let mut failed = false;
        for result in results {
            match result {
                Ok(report) => {
                    claimed += report.claimed;
                    note(stats, now, &report);
                }
                Err(e) => {
                    let mut stats = stats.borrow_mut();
                    stats.round_errors += 1;
                    stats.last_round_error = Some(format!("{e:#}"));
                    failed = true;
                }
            }
        }
        if failed {
            // As the loop does after a failed round: rows it left in flight go back to pending.
            let _ = outbox::release_in_flight(&daemon.delivery_pool, now).await;
            return;
        }
        if claimed == 0 {
            return;
        }
    }
}

fn note(stats: &RefCell<Stats>, now: i64, report: &BatchReport) {
    let mut stats = stats.borrow_mut();
    stats.rounds += 1;
    if report.claimed > 0 && report.requests == 0 && report.delivered == 0 && report.failed == 0 {
        *stats.idle_claims.entry(now.div_euclid(1_000)).or_default() += 1;
    }
    if let Some(wait) = report.wait {
        let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        stats.wait_ms = Some(stats.wait_ms.map_or(wait, |w| w.min(wait)));
    }
}

/// A future that is dropped, like a killed process, after `polls_left` polls. Resolves to
/// whether the inner future finished.
struct CrashAfter<'a> {
    inner: Pin<Box<dyn Future<Output = ()> + 'a>>,
    polls_left: Option<u32>,
}

impl Future for CrashAfter<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<bool> {
        if let Some(left) = self.polls_left {
            if left == 0 {
                return Poll::Ready(false);
            }
            self.polls_left = Some(left - 1);
        }
        self.inner.as_mut().poll(cx).map(|()| true)
    }
}

type Scalar<'q> =
    sqlx::query::QueryScalar<'q, sqlx::Sqlite, i64, sqlx::sqlite::SqliteArguments<'q>>;

fn bind<'q>(query: Scalar<'q>, cell: &'q Cell) -> Scalar<'q> {
    match cell {
        Cell::Null => query.bind(None::<String>),
        Cell::Text(text) => query.bind(text.as_str()),
        Cell::Int(n) => query.bind(*n),
        Cell::Real(x) => query.bind(*x),
        Cell::Blob(bytes) => query.bind(bytes.as_slice()),
    }
}

/// A folder for one history's database: in memory (`/dev/shm`) where there is one, since the
/// disk's fsyncs would cost most of a history's time and are not what the simulation tests.
fn temporary_folder() -> anyhow::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.context("cannot make a temporary folder for a history")
}

/// The history's settings, written as a config file and read by the real loader.
fn load_settings(
    history: &History,
    dir: &std::path::Path,
    database: &std::path::Path,
) -> anyhow::Result<Settings> {
    let c = &history.config;
    let text = format!(
        "[database]\npath = {database:?}\n\n\
         [target]\nclient_code = \"sim\"\ntimeout = \"{TIMEOUT_MS}ms\"\nmethod = \"{method}\"\n\n\
         [quota]\ncalls_per_day = {calls}\nmax_per_second = 100000\nburst = 1000\ncoalesce = {coalesce}\nmax_rows_per_call = {rows}\n\n\
         [retry]\ninitial_delay = \"1s\"\nmax_delay = \"5m\"\nmax_attempts = {attempts}\nmax_retry_after = \"1h\"\n\n\
         [workers]\nconcurrency = {concurrency}\nbatch_size = {batch}\npoll_interval = \"50ms\"\nshutdown_deadline = \"10s\"\n",
        database = database.display().to_string(),
        method = if c.post { "post" } else { "get" },
        calls = c.calls_per_day,
        coalesce = c.coalesce,
        rows = c.max_rows_per_call,
        attempts = c.max_attempts,
        concurrency = c.concurrency,
        batch = c.batch_size,
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    config::load(Some(&path), Some(HashMap::new()))
}
