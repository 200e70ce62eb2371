//! What an answer from Target means, decided in one place.
//!
//! Only `Rejected` is the row's fault. Every other outcome is about Target or the path to it, and
//! must never use up a row's attempts. Which 4xx depend on the row is tabled on [`classify`] and
//! in docs/delivery.md.

use std::time::{Duration, SystemTime};

/// How a request that got no answer within the timeout is described (`Outcome::is_timeout`).
pub const TIMED_OUT: &str = "timed out";

/// The meaning of one request's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with Target's success body: accepted for processing.
    Delivered { status: u16 },
    /// 429 or 503: Target asks us to slow down, perhaps saying for how long.
    SlowDown {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No usable answer: connection refused or reset, timeout, other 5xx, a reply that is not
    /// Target's, or a 4xx about the path, method, headers, a proxy or the connection.
    EndpointDown { status: Option<u16>, reason: String },
    /// 401 or 403: the token is missing, wrong or expired. Nothing is wrong with the row.
    Unauthorized { status: u16 },
    /// A 4xx about what the row puts in the request (see [`classify`]), or a 2xx whose body says
    /// `<success>false</success>`: the row is bad.
    Rejected { status: u16, reason: String },
}

impl Outcome {
    /// A one-line description for `last_error` and the log.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Delivered { status } => format!("delivered (HTTP {status})"),
            Outcome::SlowDown {
                status,
                retry_after: Some(wait),
            } => {
                format!(
                    "Target asked to slow down (HTTP {status}, Retry-After {}s)",
                    wait.as_secs()
                )
            }
            Outcome::SlowDown {
                status,
                retry_after: None,
            } => {
                format!("Target asked to slow down (HTTP {status})")
            }
            Outcome::EndpointDown {
                status: Some(status),
                reason,
            } => {
                format!("Target unavailable (HTTP {status}): {reason}")
            }
            Outcome::EndpointDown {
                status: None,
                reason,
            } => format!("Target unreachable: {reason}"),
            Outcome::Unauthorized { status } => {
                format!("Target refused the token (HTTP {status})")
            }
            Outcome::Rejected { status, reason } => {
                format!("Target refused the row (HTTP {status}): {reason}")
            }
        }
    }

    /// No answer came within the timeout. A slow Target makes many requests time out at once, so a
    /// timeout is never pinned on a row's values.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Outcome::EndpointDown { status: None, reason } if reason.starts_with(TIMED_OUT))
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Delivered { status }
            | Outcome::SlowDown { status, .. }
            | Outcome::Unauthorized { status }
            | Outcome::Rejected { status, .. } => Some(*status),
            Outcome::EndpointDown { status, .. } => *status,
        }
    }
}

/// Classifies an HTTP answer. `retry_after` is the header's text, `body` the start of the body.
///
/// Only the query string (or the form body) of a request depends on the row: the method, the path
/// (`/m2/{client}/profile/update`), the host and the headers are the same for every row. So a 4xx
/// counts against the row only when it is about what the row puts in the request; one about the
/// path, the method, the headers, a proxy or the connection is everyone's problem, paused for
/// like an outage and never counted against a row:
///
/// | status | meaning | class |
/// |---|---|---|
/// | 400 Bad Request, 422 Unprocessable Content | the parameters are wrong | rejected (the row) |
/// | 409 Conflict | the visitor's profile is in a conflicting state | rejected (the row) |
/// | 413 Content Too Large, 414 URI Too Long | the row's data is too large | rejected (the row) |
/// | other 4xx not listed here | Target's answer about the request it read | rejected (the row) |
/// | 401, 403 | the token | unauthorised |
/// | 429 | too many requests | slow down |
/// | 404 Not Found, 410 Gone | the path: client code, base URL or a proxy | endpoint down |
/// | 405 Method Not Allowed | `target.method` | endpoint down |
/// | 406, 411, 412, 415, 416, 417, 428, 431 | headers the daemon sets, the same for every row | endpoint down |
/// | 407 Proxy Authentication Required | a proxy between us and Target | endpoint down |
/// | 408 Request Timeout | the server gave up waiting for the request | endpoint down |
/// | 421 Misdirected, 425 Too Early, 426 Upgrade Required | the connection or protocol | endpoint down |
/// | 451 Unavailable For Legal Reasons | the endpoint is blocked where we are | endpoint down |
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, now: SystemTime) -> Outcome {
    match status {
        200..=299 => classify_success_body(status, body),
        429 | 503 => Outcome::SlowDown {
            status,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        401 | 403 => Outcome::Unauthorized { status },
        400..=499 => match not_about_the_row(status) {
            Some(why) => Outcome::EndpointDown {
                status: Some(status),
                reason: format!("{why}: {}", excerpt(body)),
            },
            None => Outcome::Rejected {
                status,
                reason: excerpt(body),
            },
        },
        _ => Outcome::EndpointDown {
            status: Some(status),
            reason: if body.trim().is_empty() {
                "no body".to_owned()
            } else {
                excerpt(body)
            },
        },
    }
}

/// For a 4xx that does not depend on the row (see the table on [`classify`]), what it is about.
fn not_about_the_row(status: u16) -> Option<&'static str> {
    Some(match status {
        404 | 410 => {
            "the update path was not found: check target.client_code, the base URL and any proxy"
        }
        405 => "the method was refused: check target.method",
        407 => "a proxy asks for its own authentication: check the proxy settings",
        408 => "the server timed out waiting for the request",
        406 | 411 | 412 | 415..=417 | 428 | 431 => "the request's headers were refused",
        421 | 425 | 426 => "the connection or protocol was refused",
        451 => "the endpoint is unavailable for legal reasons",
        _ => return None,
    })
}

/// What a profile fetch (`GET /rest/v1/profiles/…`) says about a visitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// 2xx: Target has a profile for the visitor, so an update will land.
    Exists,
    /// 404 with Target's "No profile found" answer: an update would be dropped unseen.
    Missing,
    /// Anything else, read exactly as an update's answer: a slow-down, an outage, a refused
    /// token (the gate pauses everyone; no row is failed), or a refusal of the lookup itself
    /// (the check cannot tell; the update goes ahead).
    Unclear(Outcome),
}

/// Classifies a profile fetch's answer, in the same terms as [`classify`]: only a 2xx and
/// Target's own "No profile found" 404 say anything about the visitor. A 404 without those words
/// is about the path (a proxy, a wrong client code), as it is for updates.
pub fn classify_check(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> Check {
    match status {
        200..=299 => Check::Exists,
        404 if body.contains("No profile found") => Check::Missing,
        _ => Check::Unclear(classify(status, retry_after, body, now)),
    }
}

/// Target's success answer reads `<success>true</success> … Request successfully submitted`. A 2xx
/// without it is not counted as delivered: a proxy or captive portal can answer 200 too.
fn classify_success_body(status: u16, body: &str) -> Outcome {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("<success>true</success>")
        || body.contains("Request successfully submitted")
    {
        Outcome::Delivered { status }
    } else if compact.contains("<success>false</success>") {
        Outcome::Rejected {
            status,
            reason: excerpt(body),
        }
    } else {
        Outcome::EndpointDown {
            status: Some(status),
            reason: format!("answer is not Target's success body: {}", excerpt(body)),
        }
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date. A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The start of a body, on one line, for `last_error`.
fn excerpt(body: &str) -> String {
    let line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "empty body".to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_fetch_tells_exists_from_missing_and_reads_everything_else_as_updates_do() {
        let now = SystemTime::UNIX_EPOCH;
        let check = |status, body| classify_check(status, None, body, now);
        assert_eq!(check(200, r#"{"tntId":"1-1.01_00"}"#), Check::Exists);
        let miss = r#"{"status":404,"message":"No profile found for client acme with third party id=CRM-1"}"#;
        assert_eq!(check(404, miss), Check::Missing);
        assert!(matches!(
            check(404, "<html>Not Found</html>"),
            Check::Unclear(Outcome::EndpointDown {
                status: Some(404),
                ..
            })
        ));
        assert!(matches!(
            check(401, ""),
            Check::Unclear(Outcome::Unauthorized { status: 401 })
        ));
        assert!(matches!(
            check(429, ""),
            Check::Unclear(Outcome::SlowDown { .. })
        ));
        assert!(matches!(
            check(502, ""),
            Check::Unclear(Outcome::EndpointDown { .. })
        ));
        assert!(matches!(
            check(400, "bad id"),
            Check::Unclear(Outcome::Rejected { .. })
        ));
    }
    use std::time::UNIX_EPOCH;

    const OK_BODY: &str =
        "<success>true</success><message>Request successfully submitted</message>";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn each_status_lands_in_its_class() {
        let now = at(1_700_000_000);
        assert_eq!(
            classify(200, None, OK_BODY, now),
            Outcome::Delivered { status: 200 }
        );
        assert_eq!(
            classify(200, None, "trueRequest successfully submitted", now),
            Outcome::Delivered { status: 200 }
        );
        assert!(matches!(
            classify(200, None, "<html>login</html>", now),
            Outcome::EndpointDown {
                status: Some(200),
                ..
            }
        ));
        assert!(matches!(
            classify(200, None, "", now),
            Outcome::EndpointDown { .. }
        ));
        assert!(matches!(
            classify(200, None, "<success>false</success>", now),
            Outcome::Rejected { status: 200, .. }
        ));
        assert_eq!(
            classify(429, Some("7"), "", now),
            Outcome::SlowDown {
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify(503, None, "", now),
            Outcome::SlowDown {
                status: 503,
                retry_after: None
            }
        );
        assert_eq!(
            classify(401, None, "", now),
            Outcome::Unauthorized { status: 401 }
        );
        assert_eq!(
            classify(403, None, "", now),
            Outcome::Unauthorized { status: 403 }
        );
        assert!(
            matches!(classify(400, None, "bad param", now), Outcome::Rejected { status: 400, ref reason } if reason == "bad param")
        );
        assert!(matches!(
            classify(500, None, "", now),
            Outcome::EndpointDown {
                status: Some(500),
                ..
            }
        ));
        assert!(matches!(
            classify(502, None, "", now),
            Outcome::EndpointDown {
                status: Some(502),
                ..
            }
        ));
        assert!(matches!(
            classify(302, None, "", now),
            Outcome::EndpointDown {
                status: Some(302),
                ..
            }
        ));
    }

    #[test]
    fn only_answers_about_what_the_row_puts_in_the_request_count_against_it() {
        let now = at(1_700_000_000);
        for status in [400, 409, 413, 414, 422, 418, 499] {
            assert!(
                matches!(classify(status, None, "no", now), Outcome::Rejected { status: s, .. } if s == status),
                "{status}"
            );
        }
        let not_the_row = [
            404, 405, 406, 407, 408, 410, 411, 412, 415, 416, 417, 421, 425, 426, 428, 431, 451,
        ];
        for status in not_the_row {
            let outcome = classify(status, None, "<html>proxy</html>", now);
            assert!(
                matches!(outcome, Outcome::EndpointDown { status: Some(s), .. } if s == status),
                "{status}: {outcome:?}"
            );
        }
        let Outcome::EndpointDown { reason, .. } = classify(404, None, "Not Found", now) else {
            panic!("404 is not endpoint down")
        };
        assert_eq!(
            reason,
            "the update path was not found: check target.client_code, the base URL and any \
             proxy: Not Found"
        );
        let Outcome::EndpointDown { reason, .. } = classify(407, None, "", now) else {
            panic!("407 is not endpoint down")
        };
        assert!(
            reason.starts_with("a proxy asks for its own authentication"),
            "{reason}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = at(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
