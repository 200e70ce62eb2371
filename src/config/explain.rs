//! Turns the config crate's errors into sentences for an operator: the key, what is wrong with
//! its value, and where the value was set (the file, or the environment variable by its name;
//! never a file that was not read).

use config::ConfigError;

use super::ENV_PREFIX;

/// Where each layer's values come from, for the message. The config crate does not say which
/// layer a refused value came from, so the variables that are set tell it.
pub struct Origins<'a> {
    /// The operator's file as the loader was told of it, if one was read.
    pub file: Option<&'a str>,
    /// The names of the `PROFILE_OUTBOX__*` variables that are set.
    pub variables: Vec<String>,
}

/// One sentence for `error`.
pub fn explain(error: &ConfigError, origins: &Origins<'_>) -> String {
    match error {
        ConfigError::At { error, key, .. } => {
            let what = match error.as_ref() {
                ConfigError::Message(message) => message.clone(),
                other => other.to_string(),
            };
            sentence(key.as_deref(), &what, origins)
        }
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let what = format!("{unexpected} is not {}", plain(expected));
            sentence(key.as_deref(), &what, origins)
        }
        other => other.to_string(),
    }
}

fn sentence(key: Option<&str>, what: &str, origins: &Origins<'_>) -> String {
    let Some(key) = key else {
        return what.to_owned();
    };
    let name = variable(key);
    let set_by = if origins.variables.contains(&name) {
        format!("set by the environment variable {name}")
    } else if let Some(file) = origins.file {
        format!("set in {file}")
    } else {
        "the built-in default".to_owned()
    };
    format!("{key}: {what} ({set_by})")
}

/// The environment variable that sets `key`: `target.method` → `PROFILE_OUTBOX__TARGET__METHOD`.
pub fn variable(key: &str) -> String {
    format!(
        "{ENV_PREFIX}__{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

/// serde's names for what was expected, in words.
fn plain(expected: &str) -> &str {
    match expected {
        "a boolean" => "true or false",
        "an integer" | "a signed integer" | "an unsigned integer" => "a whole number",
        "a string" => "text in quotes",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_value_names_the_variable_that_set_it_or_the_file() {
        let error = ConfigError::At {
            error: Box::new(ConfigError::Message("\"put\" is not a method".to_owned())),
            origin: None,
            key: Some("target.method".to_owned()),
        };
        let from_env = Origins {
            file: Some("/etc/profile-outbox/config.toml"),
            variables: vec!["PROFILE_OUTBOX__TARGET__METHOD".to_owned()],
        };
        let from_file = Origins {
            file: Some("/srv/po.toml"),
            variables: Vec::new(),
        };
        assert_eq!(
            explain(&error, &from_env),
            "target.method: \"put\" is not a method (set by the environment variable \
             PROFILE_OUTBOX__TARGET__METHOD)"
        );
        assert_eq!(
            explain(&error, &from_file),
            "target.method: \"put\" is not a method (set in /srv/po.toml)"
        );
    }
}
