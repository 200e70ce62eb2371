//! The fake Target: answers each request the way the history's faults and the request's own
//! content say, and logs every request it received (simulated time, visitor, every `profile.*`
//! parameter, the answer and whether it applied the update), which is all the checker trusts.
//!
//! An answer is drawn from the seed, the request's text and how often that exact text came
//! before, not from the order requests arrive in, so two lanes racing do not change the answers.

use crate::plan::Faults;
use crate::rows::{POISON_5XX, POISON_403, REFUSED};
use futures_util::future::BoxFuture;
use profile_outbox::adobe::{PreparedRequest, SUCCESS_BODY, SimulatedAnswer, SimulatedTarget};
use profile_outbox::clock::Clock;
use profile_outbox::config::{Method, Token};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// One request as Target received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Simulated wall-clock time of arrival.
    pub at_ms: i64,
    /// `mboxPC=…` or `mbox3rdPartyId=…`, decoded; empty when the request named no visitor.
    pub visitor: String,
    /// Every `profile.*` parameter, name without the prefix, decoded.
    pub params: Vec<(String, String)>,
    /// Parameters that are neither the visitor nor `profile.*`.
    pub stray: Vec<String>,
    /// The status answered, `None` for a reset or a hang.
    pub status: Option<u16>,
    /// Target applied the update (it may have, even when the answer was lost).
    pub applied: bool,
}

#[derive(Debug)]
struct Inner {
    faults: Faults,
    /// The token Target accepts; `None` when the account does not require one.
    token: Option<String>,
    seen: HashMap<u64, u32>,
    /// Request texts Target has applied once: it refuses a request for its content (400), so it
    /// never refuses a text it once took.
    applied: std::collections::HashSet<u64>,
    log: Vec<Received>,
}

/// Target, inside the test process.
#[derive(Debug)]
pub struct FakeTarget {
    seed: u64,
    clock: Clock,
    timeout_ms: i64,
    inner: Mutex<Inner>,
    received: AtomicUsize,
    lookups: AtomicUsize,
    /// Woken on every request, for an operator who acts while requests are out.
    pub arrivals: Notify,
}

impl FakeTarget {
    pub fn new(seed: u64, clock: Clock, timeout_ms: i64, token: Option<String>) -> FakeTarget {
        FakeTarget {
            seed,
            clock,
            timeout_ms,
            inner: Mutex::new(Inner {
                faults: Faults::None,
                token,
                seen: HashMap::new(),
                applied: std::collections::HashSet::new(),
                log: Vec::new(),
            }),
            received: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
            arrivals: Notify::new(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_faults(&self, faults: Faults) {
        self.inner().faults = faults;
    }

    /// Accepts `token` from now on; the old one fails at once.
    pub fn set_token(&self, token: Option<String>) {
        self.inner().token = token;
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<Received> {
        self.inner().log.clone()
    }

    /// Profile lookups received (kept apart from updates: they carry no values and count nothing
    /// against the quota).
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// Answers a profile lookup: the token is checked as for updates, and every visitor has a
    /// profile, behind the same faults as updates (a 2xx, the only answer that is not a fault,
    /// says the profile exists).
    fn look_up(&self, request: &PreparedRequest, token: Option<&Token>) -> (SimulatedAnswer, i64) {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let inner = self.inner();
        let accepted = inner.token.as_deref();
        if accepted.is_some() && token.map(Token::expose) != accepted {
            return (http(401, None, "token expired"), 0);
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, &request.url, self.lookups()).hash(&mut hasher);
        let mut rng = StdRng::seed_from_u64(hasher.finish());
        let (answer, _, delay) = fault_answer(inner.faults, &mut rng, self.timeout_ms);
        (answer, delay)
    }

    /// Decides the answer to one request, logs it, and says how long it takes.
    fn receive(&self, request: &PreparedRequest, token: Option<&Token>) -> (SimulatedAnswer, i64) {
        if request.url.contains("/rest/v1/profiles/") {
            return self.look_up(request, token);
        }
        let text = match request.method {
            Method::Get => request.url.split_once('?').map(|(_, q)| q).unwrap_or(""),
            Method::Post => request.body.as_deref().unwrap_or(""),
        };
        let mut received = parse(text);
        received.at_ms = self.clock.wall_ms();
        let mut inner = self.inner();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, text).hash(&mut hasher);
        let key = hasher.finish();
        let seen = inner.seen.entry(key).or_insert(0);
        *seen += 1;
        let mut rng =
            StdRng::seed_from_u64(key ^ u64::from(*seen).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let accepted = inner.token.as_deref();
        let (answer, applied, delay) = if accepted.is_some() && token.map(Token::expose) != accepted
        {
            (http(401, None, "token expired"), false, 0)
        } else if let Some(answer) = content_answer(&received) {
            (answer, false, 0)
        } else {
            match fault_answer(inner.faults, &mut rng, self.timeout_ms) {
                (SimulatedAnswer::Http { status: 400, .. }, _, _)
                    if inner.applied.contains(&key) =>
                {
                    (http(200, None, SUCCESS_BODY), true, 0)
                }
                answer => answer,
            }
        };
        if applied {
            inner.applied.insert(key);
        }
        received.status = match &answer {
            SimulatedAnswer::Http { status, .. } => Some(*status),
            SimulatedAnswer::Reset | SimulatedAnswer::Hang => None,
        };
        received.applied = applied;
        inner.log.push(received);
        self.received.fetch_add(1, Ordering::SeqCst);
        (answer, delay)
    }
}

impl SimulatedTarget for FakeTarget {
    fn answer<'a>(
        &'a self,
        request: &'a PreparedRequest,
        token: Option<&'a Token>,
    ) -> BoxFuture<'a, SimulatedAnswer> {
        Box::pin(async move {
            let (answer, delay) = self.receive(request, token);
            self.arrivals.notify_waiters();
            // A slow answer: the world moves on while this request waits for it.
            self.clock.advance_ms(delay);
            tokio::task::yield_now().await;
            answer
        })
    }
}

/// What Target answers whatever the faults: a refusal of a value it does not take (400), and
/// the poison values that always get a 500, or a 403 from a firewall.
fn content_answer(received: &Received) -> Option<SimulatedAnswer> {
    let has = |mark: &str| received.params.iter().any(|(_, v)| v.contains(mark));
    if has(POISON_5XX) {
        Some(http(500, None, "internal error"))
    } else if has(POISON_403) {
        Some(http(403, None, "<html>Request blocked by firewall</html>"))
    } else if has(REFUSED) {
        Some(http(
            400,
            None,
            "<success>false</success><message>invalid value</message>",
        ))
    } else {
        None
    }
}

/// The answer, whether Target applied the update, and the delay, drawn for the faults in force.
fn fault_answer(faults: Faults, rng: &mut StdRng, timeout_ms: i64) -> (SimulatedAnswer, bool, i64) {
    let ok = || http(200, None, SUCCESS_BODY);
    let draw = rng.random_range(0..100);
    match faults {
        Faults::None => (ok(), true, 0),
        Faults::Light => match draw {
            0..=3 => (http(429, None, ""), false, 0),
            4..=6 => (http(500, None, ""), false, 0),
            7..=16 => (ok(), true, rng.random_range(1_000..30_000)),
            _ => (ok(), true, 0),
        },
        Faults::Slow => (ok(), true, rng.random_range(5_000..60_000)),
        Faults::Heavy => match draw {
            0..=9 => {
                let after = rng
                    .random_bool(0.5)
                    .then(|| rng.random_range(0..120).to_string());
                (http(429, after.as_deref(), ""), false, 0)
            }
            10..=14 => (http(503, None, "busy"), false, 0),
            15..=22 => (http(500, None, ""), false, 0),
            23..=27 => (
                SimulatedAnswer::Reset,
                rng.random_bool(0.5),
                rng.random_range(0..2_000),
            ),
            28..=31 => (SimulatedAnswer::Hang, rng.random_bool(0.5), timeout_ms),
            32..=35 => (http(400, None, "bad request"), false, 0),
            36..=38 => (http(200, None, "<html>captive portal</html>"), false, 0),
            39..=54 => (ok(), true, rng.random_range(1_000..90_000)),
            _ => (ok(), true, 0),
        },
    }
}

fn http(status: u16, retry_after: Option<&str>, body: &str) -> SimulatedAnswer {
    SimulatedAnswer::Http {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: body.to_owned(),
    }
}

/// Reads a query string or form body as Target would.
fn parse(text: &str) -> Received {
    let mut received = Received {
        at_ms: 0,
        visitor: String::new(),
        params: Vec::new(),
        stray: Vec::new(),
        status: None,
        applied: false,
    };
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        if let Some(attribute) = name.strip_prefix("profile.") {
            received
                .params
                .push((attribute.to_owned(), value.into_owned()));
        } else if (name == "mboxPC" || name == "mbox3rdPartyId") && received.visitor.is_empty() {
            received.visitor = format!("{name}={value}");
        } else {
            received.stray.push(format!("{name}={value}"));
        }
    }
    received
}
