//! Sends prepared requests to Target over one keep-alive connection pool.

use super::{Outcome, PreparedRequest, classify};
use crate::config::{Method, Token};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Reading more of a body than this tells nothing more about the answer.
const BODY_READ_LIMIT: usize = 16 * 1024;

/// The HTTP client and the current token. Cheap to clone; clones share the pool and the token.
#[derive(Clone, Debug)]
pub struct TargetClient {
    http: reqwest::Client,
    token: Arc<RwLock<Option<Token>>>,
}

impl TargetClient {
    /// A client whose requests time out after `timeout` and which keeps up to `idle_connections`
    /// connections open between requests.
    pub fn new(
        timeout: Duration,
        idle_connections: usize,
        token: Option<Token>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(idle_connections)
            .tcp_nodelay(true)
            // A redirect is not Target's answer; classify it rather than follow it with the token.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("profile-outbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
        Ok(TargetClient {
            http,
            token: Arc::new(RwLock::new(token)),
        })
    }

    /// Replaces the token for the requests that follow.
    pub fn set_token(&self, token: Option<Token>) {
        if let Ok(mut current) = self.token.write() {
            *current = token;
        }
    }

    /// Sends one request and says what the answer means. Never fails: a transport error is an
    /// outcome too.
    pub async fn send(&self, request: &PreparedRequest) -> Outcome {
        let mut builder = match request.method {
            Method::Get => self.http.get(&request.url),
            Method::Post => self
                .http
                .post(&request.url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(request.body.clone().unwrap_or_default()),
        };
        let token = self.token.read().ok().and_then(|t| t.clone());
        if let Some(token) = token {
            builder = builder.bearer_auth(token.expose());
        }
        let mut response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() >= BODY_READ_LIMIT {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return transport_failure(&e),
            }
        }
        let body = String::from_utf8_lossy(&body);
        classify(status, retry_after.as_deref(), &body, SystemTime::now())
    }
}

/// A request that got no complete answer. The URL (which holds visitor data) is left out.
fn transport_failure(error: &reqwest::Error) -> Outcome {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "answer cut off"
    } else {
        "request failed"
    };
    let mut reason = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    Outcome::EndpointDown {
        status: None,
        reason,
    }
}
