//! Builds [`Settings`] from three layers: the built-in defaults (which are `config.example.toml`
//! itself, so the example can never drift from them), the operator's TOML file, then
//! `PROFILE_OUTBOX__SECTION__KEY` environment variables.

use super::Settings;
use super::explain::{Origins, explain};
use anyhow::{anyhow, bail};
use config::builder::{ConfigBuilder, DefaultState};
use config::{Config, Environment, File, FileFormat};
use std::collections::HashMap;
use std::path::Path;

/// Where `--config` points when it is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/profile-outbox/config.toml";

/// The prefix of environment variables that override keys.
pub const ENV_PREFIX: &str = "PROFILE_OUTBOX";

const DEFAULTS: &str = include_str!("../../config.example.toml");

/// Loads the settings. `path` is the operator's file: when it is `None`, the default path is used if
/// it exists and the built-in defaults alone otherwise. `env` is the environment to read overrides
/// from (`None` reads the process environment; tests pass their own).
pub fn load(path: Option<&Path>, env: Option<HashMap<String, String>>) -> anyhow::Result<Settings> {
    let (builder, file_read) = files(path)?;
    let origins = Origins {
        file: file_read.as_deref(),
        variables: variables(env.as_ref()),
    };
    let credentials = match &env {
        Some(env) => env.get("CREDENTIALS_DIRECTORY").cloned(),
        None => std::env::var("CREDENTIALS_DIRECTORY").ok(),
    };
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .source(env);
    let shown = file_read.as_deref().unwrap_or("the built-in defaults");
    let mut settings = builder
        .add_source(environment)
        .build()
        .map_err(|e| {
            anyhow!(
                "cannot read the configuration ({shown}): {}",
                explain(&e, &origins)
            )
        })?
        .try_deserialize::<Settings>()
        .map_err(|e| anyhow!("invalid configuration: {}", explain(&e, &origins)))?;
    // Under systemd the token arrives with LoadCredential=token:...; use it when no file is named.
    if settings.target.token_file.is_none() {
        settings.target.token_file = credentials
            .clone()
            .map(|dir| Path::new(&dir).join("token"))
            .filter(|p| p.is_file());
        settings.target.token_is_credential = settings.target.token_file.is_some();
    }
    // Likewise the pool's password, with LoadCredential=pool-password:...
    if let Some(pool) = settings
        .quota
        .pool
        .as_mut()
        .filter(|p| p.password_file.is_none())
    {
        pool.password_file = credentials
            .map(|dir| Path::new(&dir).join("pool-password"))
            .filter(|p| p.is_file());
    }
    Ok(settings)
}

/// The built-in defaults and the operator's file, and the file's name when one is read.
fn files(path: Option<&Path>) -> anyhow::Result<(ConfigBuilder<DefaultState>, Option<String>)> {
    let builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
    let file = match path {
        Some(path) if !path.is_file() => bail!(
            "config file {} does not exist or is not a file",
            path.display()
        ),
        Some(path) => path,
        None if Path::new(DEFAULT_CONFIG_PATH).is_file() => Path::new(DEFAULT_CONFIG_PATH),
        None => return Ok((builder, None)),
    };
    let builder = builder.add_source(File::from(file).format(FileFormat::Toml));
    Ok((builder, Some(file.display().to_string())))
}

/// The names of the `PROFILE_OUTBOX__*` variables set in `env` (or the process environment).
fn variables(env: Option<&HashMap<String, String>>) -> Vec<String> {
    let names: Vec<String> = match env {
        Some(env) => env.keys().cloned().collect(),
        None => std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect(),
    };
    names
        .into_iter()
        .filter(|name| name.starts_with(ENV_PREFIX))
        .collect()
}
