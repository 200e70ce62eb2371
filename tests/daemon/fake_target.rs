//! Our fake Target: an HTTP server on 127.0.0.1 at a random port that records every request and
//! answers from a script, falling back to Target's success answer.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const SUCCESS: &str =
    "<success>true</success><message>Request successfully submitted</message>";

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
    pub delay: Duration,
    /// Cut the connection halfway through the body.
    pub reset: bool,
}

/// A delay long enough that every client gives up first.
const HANG: Duration = Duration::from_secs(3_600);

impl Reply {
    pub fn ok() -> Reply {
        Reply::status(200, SUCCESS)
    }
    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            retry_after: None,
            delay: Duration::ZERO,
            reset: false,
        }
    }
    /// Accepts the request and never answers.
    pub fn hang() -> Reply {
        Reply::ok().after(HANG)
    }
    /// Starts Target's success answer, then drops the connection.
    pub fn reset() -> Reply {
        Reply {
            reset: true,
            ..Reply::ok()
        }
    }
    /// Whether the client can have seen Target's success answer.
    fn acknowledges(&self) -> bool {
        self.status == 200
            && self.body.contains("<success>true</success>")
            && !self.reset
            && self.delay < HANG
    }
    pub fn retry_after(mut self, value: &str) -> Reply {
        self.retry_after = Some(value.to_owned());
        self
    }
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The raw query string, exactly as sent.
    pub query: String,
    pub body: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// Whether the answer was Target's success, delivered whole.
    pub acknowledged: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    /// The decoded parameters, from the query (GET) or the form body (POST), in order.
    pub fn params(&self) -> Vec<(String, String)> {
        let source = if self.method == "POST" {
            &self.body
        } else {
            &self.query
        };
        url::form_urlencoded::parse(source.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    /// When set, a request without `Authorization: Bearer <this>` gets 401.
    token: Option<String>,
    /// When set, each request gets this reply with this probability instead of the usual one.
    chaos: Option<(f64, Reply)>,
    /// Requests whose query or body contains the text get the reply, always.
    poison: Vec<(String, Reply)>,
    /// Visitor ids (as in the URL) the profile fetch API has no profile for; every other has one.
    missing_profiles: std::collections::HashSet<String>,
    /// Answers to profile lookups, in order, before the registry above answers.
    check_script: VecDeque<Reply>,
    /// Profile lookups as received (kept apart from updates).
    checks: Vec<Received>,
    received: Vec<Received>,
}

/// Requests being answered now, and the most there ever were at once.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// A running fake; it stops when dropped.
pub struct FakeTarget {
    pub address: SocketAddr,
    state: Arc<Mutex<State>>,
    concurrency: Arc<Concurrency>,
    stop: Mutex<CancellationToken>,
}

impl FakeTarget {
    pub async fn start() -> FakeTarget {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let concurrency = Arc::new(Concurrency::default());
        let stop = serve(listener, state.clone(), concurrency.clone());
        FakeTarget {
            address,
            state,
            concurrency,
            stop: Mutex::new(stop),
        }
    }

    /// Stops listening: connections are refused until [`FakeTarget::come_back`].
    pub fn go_down(&self) {
        self.stop.lock().expect("fake stop").cancel();
    }

    /// Listens again on the same port.
    pub async fn come_back(&self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.address),
            }
        };
        *self.stop.lock().expect("fake stop") =
            serve(listener, self.state.clone(), self.concurrency.clone());
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Answers to give, in order, before falling back to the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("fake state")
            .script
            .extend(replies);
    }

    /// The answer once the script is used up (Target's success answer unless set).
    pub fn answer_by_default(&self, reply: Reply) {
        self.state.lock().expect("fake state").default = Some(reply);
    }

    /// Gives `fault` instead of the usual answer to a random share `chance` of requests.
    pub fn chaos(&self, chance: f64, fault: Reply) {
        self.state.lock().expect("fake state").chaos = Some((chance, fault));
    }

    /// Always answers `reply` to requests whose query or body contains `needle` (a WAF that
    /// refuses one value, a value that breaks the server), whatever the script says.
    pub fn answer_when(&self, needle: &str, reply: Reply) {
        self.state
            .lock()
            .expect("fake state")
            .poison
            .push((needle.to_owned(), reply));
    }

    /// The profile fetch API has no profile for the visitor with this id until
    /// [`FakeTarget::profile_appears`].
    pub fn profile_missing(&self, id: &str) {
        self.state
            .lock()
            .expect("fake state")
            .missing_profiles
            .insert(id.to_owned());
    }

    pub fn profile_appears(&self, id: &str) {
        self.state
            .lock()
            .expect("fake state")
            .missing_profiles
            .remove(id);
    }

    /// Answers to give profile lookups, in order, before the usual ones.
    pub fn script_checks(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("fake state")
            .check_script
            .extend(replies);
    }

    /// Whether any request, update or profile lookup, has come in.
    pub fn anything_received(&self) -> bool {
        let state = self.state.lock().expect("fake state");
        !state.received.is_empty() || !state.checks.is_empty()
    }

    /// The profile lookups received, in order.
    pub fn checks(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").checks.clone()
    }

    /// Answers 401 to any request that does not carry this bearer token.
    pub fn require_token(&self, token: &str) {
        self.state.lock().expect("fake state").token = Some(token.to_owned());
    }

    /// The values one parameter had, request by request, where it was present.
    pub fn values_of(&self, param: &str) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|r| r.param(param))
            .collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").received.clone()
    }

    /// The most requests the fake was answering at the same time.
    pub fn most_at_once(&self) -> usize {
        self.concurrency.most.load(Ordering::SeqCst)
    }
}

impl Drop for FakeTarget {
    fn drop(&mut self) {
        if let Ok(stop) = self.stop.lock() {
            stop.cancel();
        }
    }
}

fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Mutex<State>>,
    concurrency: Arc<Concurrency>,
) -> CancellationToken {
    let app = Router::new().fallback(move |request: Request<Body>| {
        counted_answer(state.clone(), concurrency.clone(), request)
    });
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
    });
    stop
}

/// Answers while counting the requests being answered at once.
async fn counted_answer(
    state: Arc<Mutex<State>>,
    concurrency: Arc<Concurrency>,
    request: Request<Body>,
) -> Response {
    let now = concurrency.now.fetch_add(1, Ordering::SeqCst) + 1;
    concurrency.most.fetch_max(now, Ordering::SeqCst);
    let response = answer(state, request).await;
    concurrency.now.fetch_sub(1, Ordering::SeqCst);
    response
}

/// Where the profile fetch API lives.
const PROFILES: &str = "/rest/v1/profiles/";

/// Answers a profile lookup like Target's fetch API: 200 with the profile, or 404 "No profile
/// found" for a visitor marked missing; a scripted answer first, if any.
fn lookup(state: &mut State, received: Received, authorized: bool) -> Response {
    let id = received
        .path
        .trim_start_matches(PROFILES)
        .trim_start_matches("thirdPartyId/")
        .to_owned();
    let id = percent_decode(&id);
    state.checks.push(received);
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "").into_response();
    }
    if let Some(reply) = state.check_script.pop_front() {
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if reply.reset {
            return cut_off(status, &reply.body);
        }
        let mut response = (status, reply.body).into_response();
        if let Some(value) = reply.retry_after.and_then(|v| v.parse().ok()) {
            response.headers_mut().insert("retry-after", value);
        }
        return response;
    }
    if state.missing_profiles.contains(&id) {
        let body = format!(
            r#"{{"status":404,"message":"No profile found for client acme with third party id={id}"}}"#
        );
        return (StatusCode::NOT_FOUND, body).into_response();
    }
    (
        StatusCode::OK,
        format!(r#"{{"tntId":"{id}","profile":{{}}}}"#),
    )
        .into_response()
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body,
        content_type: header("content-type"),
        authorization: header("authorization"),
        acknowledged: false,
        at: std::time::Instant::now(),
    };
    let reply = {
        let mut state = state.lock().expect("fake state");
        let authorized = state
            .token
            .as_ref()
            .is_none_or(|t| received.authorization.as_deref() == Some(&format!("Bearer {t}")));
        if received.path.starts_with(PROFILES) {
            return lookup(&mut state, received, authorized);
        }
        if !authorized {
            state.received.push(received);
            return (StatusCode::UNAUTHORIZED, "").into_response();
        }
        let fallback = match &state.chaos {
            Some((chance, fault)) if rand::random::<f64>() < *chance => fault.clone(),
            _ => state.default.clone().unwrap_or_else(Reply::ok),
        };
        let poisoned = state
            .poison
            .iter()
            .find(|(needle, _)| received.query.contains(needle) || received.body.contains(needle))
            .map(|(_, reply)| reply.clone());
        let reply = match poisoned {
            Some(reply) => reply,
            None => state.script.pop_front().unwrap_or(fallback),
        };
        state.received.push(Received {
            acknowledged: reply.acknowledges(),
            ..received
        });
        reply
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if reply.reset {
        return cut_off(status, &reply.body);
    }
    let mut response = (status, reply.body).into_response();
    if let Some(value) = reply.retry_after.and_then(|v| v.parse().ok()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Starts an answer with half of `body`, then drops the connection.
fn cut_off(status: StatusCode, body: &str) -> Response {
    let half = body[..body.len() / 2].to_owned();
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "cut",
        )),
    ];
    (
        status,
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}
