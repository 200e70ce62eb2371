//! The simulation's seam (cargo feature `test-hooks`, off by default and never in the release
//! binary): a fake Target inside the process answers each prepared request, and its answer is
//! classified by the same [`classify`] as an answer that came over HTTP.
//!
//! The seeded simulation (`tests/simulation/`) drives the real delivery code through it, choosing
//! per request a status, a `Retry-After`, a body, a reset or a hang until the client's timeout.

use super::{Check, Outcome, PreparedRequest, classify, classify_check};
use crate::config::Token;
use futures_util::future::BoxFuture;
use std::fmt::Debug;
use std::time::SystemTime;

/// What a simulated Target does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimulatedAnswer {
    /// A complete HTTP answer.
    Http {
        status: u16,
        /// The `Retry-After` header's text, when there is one.
        retry_after: Option<String>,
        body: String,
    },
    /// The connection was reset before a complete answer.
    Reset,
    /// No answer before the client's timeout.
    Hang,
}

/// A Target living in the same process. `answer` may advance a simulated clock (a slow answer)
/// before it resolves.
pub trait SimulatedTarget: Debug + Send + Sync {
    fn answer<'a>(
        &'a self,
        request: &'a PreparedRequest,
        token: Option<&'a Token>,
    ) -> BoxFuture<'a, SimulatedAnswer>;
}

impl SimulatedAnswer {
    /// What the answer means, read exactly as `TargetClient` reads an HTTP answer or a
    /// transport error.
    pub fn outcome(&self) -> Outcome {
        match self {
            SimulatedAnswer::Http {
                status,
                retry_after,
                body,
            } => classify(*status, retry_after.as_deref(), body, SystemTime::now()),
            SimulatedAnswer::Reset => Outcome::EndpointDown {
                status: None,
                reason: "request failed: connection reset by peer".to_owned(),
            },
            SimulatedAnswer::Hang => Outcome::EndpointDown {
                status: None,
                reason: super::TIMED_OUT.to_owned(),
            },
        }
    }

    /// What the answer to a profile lookup means, read exactly as `TargetClient` reads one that
    /// came over HTTP.
    pub fn check(&self) -> Check {
        match self {
            SimulatedAnswer::Http {
                status,
                retry_after,
                body,
            } => classify_check(*status, retry_after.as_deref(), body, SystemTime::now()),
            SimulatedAnswer::Reset | SimulatedAnswer::Hang => Check::Unclear(self.outcome()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_answers_are_classified_like_http_answers_and_transport_errors() {
        let ok = SimulatedAnswer::Http {
            status: 200,
            retry_after: None,
            body: crate::adobe::SUCCESS_BODY.to_owned(),
        };
        assert_eq!(ok.outcome(), Outcome::Delivered { status: 200 });
        let slow = SimulatedAnswer::Http {
            status: 429,
            retry_after: Some("7".to_owned()),
            body: String::new(),
        };
        assert_eq!(
            slow.outcome(),
            Outcome::SlowDown {
                status: 429,
                retry_after: Some(std::time::Duration::from_secs(7))
            }
        );
        assert!(matches!(
            SimulatedAnswer::Hang.outcome(),
            Outcome::EndpointDown { status: None, .. }
        ));
        assert!(matches!(
            SimulatedAnswer::Reset.outcome(),
            Outcome::EndpointDown { status: None, .. }
        ));
    }
}
