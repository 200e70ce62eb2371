//! Runs one history: a real SQLite file, the real start-up, the real `Deliverer` on a manual
//! clock, the fake Target, producers, operators, crashes and restarts, then a fault-free phase
//! that must bring every row to rest. Returns what happened; `check` judges it.

use crate::plan::{Admin, History, Step};
use crate::rows::RowSpec;
use crate::target::{FakeTarget, Received};
use anyhow::Context;
use profile_outbox::admin::{self, Change, OrderGuard, PurgeScope, RowFilter};
use profile_outbox::adobe::{Endpoint, TargetClient};
use profile_outbox::clock::Clock;
use profile_outbox::config::{Settings, Token};
use profile_outbox::daemon::{self, Started};
use profile_outbox::db::{self, Durability, InstanceLock, OpenMode};
use profile_outbox::delivery::Deliverer;
use sqlx::SqlitePool;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod rounds;
mod setup;
mod time;

pub use rounds::Stats;
use rounds::{CrashAfter, rounds};
use setup::{bind, column, load_settings, temporary_folder};

/// Client timeout: a hang costs this much simulated time.
pub const TIMEOUT_MS: i64 = 10_000;
const DAY: i64 = 86_400_000;

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
    /// Released when the simulated process goes away, as the kernel does.
    _lock: InstanceLock,
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

    /// Start-up as `profile-outbox run` does it (`daemon::start`: schema, timeline from the saved
    /// anchor, the instance lock, the pending-rows cap, rows left in flight handed back); then a
    /// deliverer on its own connection.
    async fn start(&mut self) -> anyhow::Result<()> {
        let busy = self.settings.database.busy_timeout;
        let Started {
            pool: start_pool,
            lock,
            timeline,
            slow_down_until,
        } = daemon::start(&self.settings, self.clock.clone()).await?;
        let delivery_pool = db::open_for_delivery(&self.path, busy).await?;
        let token = self.current_token();
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
        if let Some(until) = slow_down_until {
            deliverer.resume_requested_pause(until);
        }
        self.daemon = Some(Daemon {
            start_pool,
            _lock: lock,
            delivery_pool,
            deliverer,
        });
        self.tell_in = None;
        Ok(())
    }

    /// The token the daemon reads now, as a file's text would give it.
    fn current_token(&self) -> Option<Token> {
        self.token
            .as_deref()
            .and_then(|t| Token::from_file_text(t).ok().flatten())
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
            daemon.deliverer.token_changed(self.current_token());
        }
    }

    async fn insert(&mut self, rows: &[RowSpec]) -> anyhow::Result<()> {
        for row in rows {
            let sql = format!(
                "INSERT INTO outbox (mbox_pc, mbox_3rd_party_id, attributes, source)
                 VALUES ({}, {}, {}, {}) RETURNING id",
                column(1),
                column(3),
                column(5),
                column(7)
            );
            let query = sqlx::query_scalar(&sql);
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
        // An operator giving no flag: a change the command asks to confirm (or refuses, for a
        // visitor's order or a row that breaks a rule) is not made.
        if plan.needs(&[]).is_empty() {
            let applied = admin::apply(pool, &plan, self.now_ms(), OrderGuard::Keep).await?;
            self.stats.borrow_mut().admin_changes += applied.changed.len() as u64;
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
