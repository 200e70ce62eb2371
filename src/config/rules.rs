//! The rules for single values that serde's own types state in words for Rust developers: whole
//! numbers from 1 up, Target's daily limit, the request method and the log level. Each refusal is
//! a sentence naming the value and the rule; the loader adds the key and where it was set.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, de::Error};
use std::fmt;
use std::num::NonZeroU32;

use super::Method;

/// Target's limit: single profile updates in any rolling 24 hours, for the whole account.
pub const TARGET_CALLS_PER_DAY: u32 = 1_000_000;

/// The levels `log.level` accepts, alone or after `target=`.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A whole number from 1 up, written as a number or (from an environment variable) as text.
pub fn positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NonZeroU32, D::Error> {
    let value = deserializer.deserialize_any(WholeNumber)?;
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "{value} is out of range: write a whole number from 1 to {}",
                u32::MAX
            ))
        })
}

/// `quota.calls_per_day`: from 1 up to Target's limit.
pub fn calls_per_day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NonZeroU32, D::Error> {
    let calls = positive(deserializer)?;
    if calls.get() > TARGET_CALLS_PER_DAY {
        return Err(D::Error::custom(format!(
            "{calls} is more than Target allows: at most {TARGET_CALLS_PER_DAY} calls in any \
             rolling 24 hours for the whole account (hosts that share it split that)"
        )));
    }
    Ok(calls)
}

/// `target.method`: "get" or "post".
pub fn method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "get" => Ok(Method::Get),
        "post" => Ok(Method::Post),
        _ => Err(D::Error::custom(format!(
            "{text:?} is not a request method: write \"get\" (a query string) or \"post\" (a form body)"
        ))),
    }
}

/// `log.level`: a level, or a tracing filter whose every part is a level or `target=level`.
pub fn log_level<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_log_level(&text).map_err(D::Error::custom)?;
    Ok(text)
}

/// Checks a log filter. A bare word that is not a level would be read by tracing as a module
/// name and silently turn every other log line off, so it is refused.
pub fn check_log_level(text: &str) -> Result<(), String> {
    let is_level = |word: &str| LOG_LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    let parts_ok = !text.trim().is_empty()
        && text.split(',').all(|part| match part.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(part),
        });
    if parts_ok && tracing_subscriber::EnvFilter::try_new(text).is_ok() {
        return Ok(());
    }
    Err(format!(
        "{text:?} is not a log level: write error, warn, info, debug or trace, or a filter of \
         target=level parts such as \"info,profile_outbox=debug\""
    ))
}

/// Reads a whole number from a TOML integer or from text such as an environment variable's.
struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| {
            E::custom(format!(
                "{value} is below 1: write a whole number from 1 up"
            ))
        })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        match text.trim().parse::<i64>() {
            Ok(value) => self.visit_i64(value),
            Err(_) => Err(E::custom(format!(
                "{text:?} is not a whole number: write one from 1 up, like 50"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        Err(E::custom(format!(
            "{value} is not a whole number: write one from 1 up, like 50"
        )))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<u64, E> {
        Err(E::custom(format!(
            "{value} is not a number: write a whole number from 1 up, like 50"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_and_filters_of_levels_pass_and_other_words_are_refused() {
        for good in [
            "info",
            "WARN",
            "off",
            "info,profile_outbox=debug",
            "sqlx=warn",
        ] {
            assert_eq!(check_log_level(good), Ok(()), "{good}");
        }
        for bad in ["warning", "verbose", "", "info,loud", "sqlx=loud", "=info"] {
            let error = check_log_level(bad).err().unwrap_or_default();
            assert!(error.contains("is not a log level"), "{bad}: {error}");
        }
    }
}
