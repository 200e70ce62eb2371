//! Reads durations written the way people write them: "250ms", "30s", "5m", "1h 30m".

use serde::{Deserialize, Deserializer, de::Error};
use std::time::Duration;

/// Deserializes a duration from a string such as `"30s"`.
pub fn deserialize<'de, D>(deserializer: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(text.trim()).map_err(|e| {
        D::Error::custom(format!(
            "{text:?} is not a duration ({e}); write it like \"250ms\", \"30s\", \"5m\" or \"1h\""
        ))
    })
}
