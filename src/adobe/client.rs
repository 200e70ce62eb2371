//! Sends prepared requests to Target over one keep-alive connection pool. It trusts the host's
//! certificate store (on Debian, `ca-certificates`: a CA added with `update-ca-certificates` is
//! trusted) and, when `target.ca_file` names one, the CAs in that PEM file too, as a store's
//! TLS-inspecting proxy needs.
//!
//! For benchmarks and tests only (cargo feature `test-hooks`, never in the release binary), a
//! client can also answer every request itself with an instant success
//! (`TargetClient::instant_success`), so the queue's own cost can be measured without HTTP.

use super::{Check, Outcome, PreparedRequest, classify, classify_check};
use crate::config::{Method, Token};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Reading more of a body than this tells nothing more about the answer.
const BODY_READ_LIMIT: usize = 16 * 1024;

/// The HTTP client and the current token. Cheap to clone; clones share the pool and the token.
#[derive(Clone, Debug)]
pub struct TargetClient {
    transport: Transport,
    token: Arc<RwLock<Option<Token>>>,
}

/// How requests leave the process.
#[derive(Clone, Debug)]
enum Transport {
    /// Over HTTP, as in production.
    Http(reqwest::Client),
    /// Not at all: every request is answered at once with Target's success. A benchmark seam.
    #[cfg(feature = "test-hooks")]
    InstantSuccess,
    /// To a Target in the same process, for the seeded simulation (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    Simulated(Arc<dyn super::SimulatedTarget>),
}

impl TargetClient {
    /// A client whose requests time out after `timeout` and which keeps up to `idle_connections`
    /// connections open between requests.
    pub fn new(
        timeout: Duration,
        idle_connections: usize,
        token: Option<Token>,
    ) -> anyhow::Result<Self> {
        Self::trusting(timeout, idle_connections, token, None)
    }

    /// Like [`TargetClient::new`], also trusting the CAs in the PEM file `ca_file`
    /// (`target.ca_file`) on top of the host's store.
    pub fn trusting(
        timeout: Duration,
        idle_connections: usize,
        token: Option<Token>,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder();
        for certificate in ca_file.map(read_ca_file).transpose()?.unwrap_or_default() {
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
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
            transport: Transport::Http(http),
            token: Arc::new(RwLock::new(token)),
        })
    }

    /// A client that sends nothing and answers every request with an instant success (HTTP 200
    /// and Target's success body). A seam for benchmarks and tests that measure the queue without
    /// the network; built only with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn instant_success() -> TargetClient {
        TargetClient {
            transport: Transport::InstantSuccess,
            token: Arc::new(RwLock::new(None)),
        }
    }

    /// A client whose requests go to `target`, a Target in the same process, carrying `token`.
    /// The simulation's seam: built only with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn simulated(target: Arc<dyn super::SimulatedTarget>, token: Option<Token>) -> Self {
        TargetClient {
            transport: Transport::Simulated(target),
            token: Arc::new(RwLock::new(token)),
        }
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
        match &self.transport {
            Transport::Http(http) => match self.exchange(http, request).await {
                Ok(answer) => classify(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    SystemTime::now(),
                ),
                Err(failure) => failure,
            },
            #[cfg(feature = "test-hooks")]
            Transport::InstantSuccess => {
                classify(200, None, super::SUCCESS_BODY, SystemTime::now())
            }
            #[cfg(feature = "test-hooks")]
            Transport::Simulated(target) => {
                let token = self.token.read().ok().and_then(|t| t.clone());
                target.answer(request, token.as_ref()).await.outcome()
            }
        }
    }

    /// Asks the profile fetch API whether the visitor of `request` (built by
    /// `Endpoint::profile_check`) has a profile. Never fails: a transport error is an outcome.
    pub async fn check(&self, request: &PreparedRequest) -> Check {
        match &self.transport {
            Transport::Http(http) => match self.exchange(http, request).await {
                Ok(answer) => classify_check(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    SystemTime::now(),
                ),
                Err(failure) => Check::Unclear(failure),
            },
            #[cfg(feature = "test-hooks")]
            Transport::InstantSuccess => Check::Exists,
            #[cfg(feature = "test-hooks")]
            Transport::Simulated(target) => {
                let token = self.token.read().ok().and_then(|t| t.clone());
                target.answer(request, token.as_ref()).await.check()
            }
        }
    }

    /// One HTTP exchange with the token, the answer's status, `Retry-After` and the start of its
    /// body; a transport failure as the outcome it means.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        request: &PreparedRequest,
    ) -> Result<Answer, Outcome> {
        let mut builder = match request.method {
            Method::Get => http.get(&request.url),
            Method::Post => http
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
        let mut response = builder.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_failure(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() >= BODY_READ_LIMIT {
                break;
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// What came back for one request.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// The certificates in a PEM file named by `target.ca_file`. Errors name the file and the key.
pub fn read_ca_file(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the CA file {} (target.ca_file): {e}",
            path.display()
        )
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        anyhow::anyhow!(
            "the CA file {} (target.ca_file) is not PEM certificates: {e}",
            path.display()
        )
    })?;
    if certificates.is_empty() {
        anyhow::bail!(
            "the CA file {} (target.ca_file) holds no certificate; it needs one or more \
             \"-----BEGIN CERTIFICATE-----\" blocks",
            path.display()
        );
    }
    Ok(certificates)
}

/// A request that got no complete answer. The URL (which holds visitor data) is left out.
fn transport_failure(error: &reqwest::Error) -> Outcome {
    let kind = if error.is_timeout() {
        super::TIMED_OUT
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holding_a_token_never_shows_it_in_debug_output() {
        let token = Token::from_file_text("s3cr3t-value\n").ok().flatten();
        let client = TargetClient::new(Duration::from_secs(1), 1, token);
        let Ok(client) = client else {
            panic!("{client:?}")
        };
        client.set_token(Token::from_file_text("n3w-s3cr3t").ok().flatten());
        let shown = format!("{client:?} {client:#?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[tokio::test]
    async fn the_instant_success_seam_answers_delivered_without_sending() {
        let request = PreparedRequest {
            method: Method::Get,
            // Nothing listens on port 9 (discard); a real send would fail.
            url: "http://127.0.0.1:9/m2/bench/profile/update?mboxPC=1-1.01_00&profile.a=1"
                .to_owned(),
            body: None,
        };
        let outcome = TargetClient::instant_success().send(&request).await;
        assert_eq!(outcome, Outcome::Delivered { status: 200 });
    }
}
