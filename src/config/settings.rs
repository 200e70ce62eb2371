//! The settings the daemon runs on, as types: every value here has already been checked, so
//! nothing downstream validates configuration again.

use super::{duration, rules};
use serde::{Deserialize, Deserializer, de::Error};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Where the packaged unit's `LoadCredential=token:` reads the token from.
pub const CREDENTIAL_SOURCE: &str = "/etc/profile-outbox/token";

/// Everything `config.example.toml` documents, one field per key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub target: TargetSettings,
    pub quota: QuotaSettings,
    pub retry: RetrySettings,
    pub workers: WorkerSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    #[serde(with = "duration")]
    pub busy_timeout: Duration,
    #[serde(with = "duration")]
    pub retention: Duration,
    /// 0 in the file means no cap.
    #[serde(deserialize_with = "zero_is_none")]
    pub max_pending_rows: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    #[serde(deserialize_with = "optional")]
    pub client_code: Option<ClientCode>,
    #[serde(deserialize_with = "optional_url")]
    pub base_url: Option<Url>,
    #[serde(deserialize_with = "optional")]
    pub token_file: Option<PathBuf>,
    /// Set by the loader when `token_file` is systemd's copy of the `token` credential rather
    /// than a file the operator named: the copy cannot be edited, and only a restart renews it.
    #[serde(skip)]
    pub token_is_credential: bool,
    /// A PEM file of CAs to trust on top of the host's store (a TLS-inspecting proxy's CA).
    #[serde(deserialize_with = "optional")]
    pub ca_file: Option<PathBuf>,
    #[serde(with = "duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "rules::method")]
    pub method: Method,
    /// Look a visitor up with the profile fetch API before updating it.
    pub check_profile: bool,
    pub check_max_per_second: NonZeroU32,
    /// How long a visitor without a profile is looked up again before its rows fail.
    #[serde(with = "duration")]
    pub profile_wait: Duration,
}

impl TargetSettings {
    /// What an operator changes to replace a refused token, for messages: the credential's
    /// source and a restart under systemd, else the file named by `target.token_file`.
    pub fn token_remedy(&self) -> String {
        match (&self.token_file, self.token_is_credential) {
            (Some(_), true) => format!(
                "write the new token into {CREDENTIAL_SOURCE} (the systemd credential \"token\"), \
                 then `systemctl restart profile-outbox`"
            ),
            (Some(path), false) => format!(
                "write the new token into {} (target.token_file); it is re-read at once",
                path.display()
            ),
            (None, _) => "set target.token_file, or under systemd write the token into \
                          /etc/profile-outbox/token and restart"
                .to_owned(),
        }
    }

    /// The address requests go to: `base_url` when set, else Target's own host for the client code.
    pub fn endpoint_base(&self) -> Option<Url> {
        if let Some(url) = &self.base_url {
            return Some(url.clone());
        }
        let code = self.client_code.as_ref()?;
        Url::parse(&format!("https://{}.tt.omtrdc.net", code.as_str())).ok()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    #[serde(deserialize_with = "rules::calls_per_day")]
    pub calls_per_day: NonZeroU32,
    #[serde(deserialize_with = "rules::positive")]
    pub max_per_second: NonZeroU32,
    #[serde(deserialize_with = "rules::positive")]
    pub burst: NonZeroU32,
    pub coalesce: bool,
    #[serde(deserialize_with = "rules::positive")]
    pub max_rows_per_call: NonZeroU32,
    /// The pool shared with other hosts, when `[quota.pool]` names one.
    #[serde(deserialize_with = "super::pool::section")]
    pub pool: Option<super::PoolSettings>,
}

impl QuotaSettings {
    /// How many of a visitor's rows one call may carry: 1 when coalescing is off.
    pub fn rows_per_call(&self) -> u32 {
        if self.coalesce {
            self.max_rows_per_call.get()
        } else {
            1
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    #[serde(with = "duration")]
    pub initial_delay: Duration,
    #[serde(with = "duration")]
    pub max_delay: Duration,
    #[serde(deserialize_with = "rules::positive")]
    pub max_attempts: NonZeroU32,
    #[serde(with = "duration")]
    pub max_retry_after: Duration,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    #[serde(deserialize_with = "rules::positive")]
    pub concurrency: NonZeroU32,
    #[serde(deserialize_with = "rules::positive")]
    pub batch_size: NonZeroU32,
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    #[serde(with = "duration")]
    pub shutdown_deadline: Duration,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A level or a filter of `target=level` parts, checked by `rules::check_log_level`.
    #[serde(deserialize_with = "rules::log_level")]
    pub level: String,
}

/// How requests carry the update: GET with a query string (Target's documented form, 8 KB) or
/// POST with a form body (60 KB; keeps visitor data out of URLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event; without timestamps when journald adds its own.
    Text,
    /// One JSON object per line.
    Json,
}

/// A Target client code: the account name in `{client}.tt.omtrdc.net` and in the request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCode(String);

impl ClientCode {
    pub fn parse(text: &str) -> Result<ClientCode, String> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(ClientCode(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a client code: use the 1 to 63 letters, digits, '-' or '_' \
                 that Target shows under Administration > Implementation"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClientCode::parse(&text).map_err(D::Error::custom)
    }
}

fn zero_is_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = u64::deserialize(deserializer)?;
    Ok((value > 0).then_some(value))
}

/// Reads an optional value where an empty string means "not set", so that the example file can
/// list every key.
fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    T::deserialize(serde::de::value::StringDeserializer::<D::Error>::new(text)).map(Some)
}

fn optional_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let url = Url::parse(text.trim())
        .map_err(|e| D::Error::custom(format!("{text:?} is not a URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(D::Error::custom(format!(
            "{text:?} must start with https:// (or http:// for a local stand-in)"
        )));
    }
    Ok(Some(url))
}
