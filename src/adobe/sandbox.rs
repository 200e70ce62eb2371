//! A local stand-in for Target, for `run --sandbox`: it answers on loopback the way Target's
//! profile update API does, so the whole path can be tried without reaching Adobe.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The body Target answers a successful update with.
pub const SUCCESS_BODY: &str =
    "<success>true</success><message>Request successfully submitted</message>";

/// A running stand-in.
#[derive(Debug)]
pub struct Sandbox {
    pub address: SocketAddr,
}

impl Sandbox {
    /// Starts the stand-in on 127.0.0.1 at a free port; it stops when `stop` is cancelled.
    pub async fn start(stop: CancellationToken) -> anyhow::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .route("/m2/{client}/profile/update", get(answer).post(answer_form))
            .route("/rest/v1/profiles/{*visitor}", get(profile));
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the sandbox stand-in for Target stopped");
            }
        });
        Ok(Sandbox { address })
    }

    /// The base URL to send to.
    pub fn base_url(&self) -> anyhow::Result<Url> {
        Ok(Url::parse(&format!("http://{}", self.address))?)
    }
}

/// The profile fetch API: the stand-in knows every visitor.
async fn profile() -> (StatusCode, &'static str) {
    (StatusCode::OK, r#"{"profile":{}}"#)
}

async fn answer(RawQuery(query): RawQuery) -> (StatusCode, &'static str) {
    respond(query.as_deref().unwrap_or_default())
}

async fn answer_form(body: String) -> (StatusCode, &'static str) {
    respond(&body)
}

/// Like Target: a request must name a visitor, else it is refused.
fn respond(params: &str) -> (StatusCode, &'static str) {
    let names_visitor = url::form_urlencoded::parse(params.as_bytes())
        .any(|(name, value)| (name == "mboxPC" || name == "mbox3rdPartyId") && !value.is_empty());
    if names_visitor {
        (StatusCode::OK, SUCCESS_BODY)
    } else {
        (
            StatusCode::BAD_REQUEST,
            "mboxPC or mbox3rdPartyId is required",
        )
    }
}
