//! Reads durations written the way people write them: "250ms", "30s", "5m", "1h 30m".

use serde::{Deserialize, Deserializer, de::Error};
use std::time::Duration;

/// Deserializes a duration from a string such as `"30s"`.
pub fn deserialize<'de, D>(deserializer: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    // humantime's own error ("expected number at 11") points into the text; a number and a unit
    // is what the operator needs to hear.
    humantime::parse_duration(text.trim()).map_err(|_| {
        D::Error::custom(format!(
            "{text:?} is not a duration: write a number and a unit, like \"250ms\", \"30s\", \
             \"5m\", \"1h\" or \"1h 30m\""
        ))
    })
}
