//! Builds [`Settings`] from three layers: the built-in defaults (which are `config.example.toml`
//! itself, so the example can never drift from them), the operator's TOML file, then
//! `PROFILE_OUTBOX__SECTION__KEY` environment variables.

use super::Settings;
use anyhow::{Context, bail};
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
    let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
    match path {
        Some(path) => {
            if !path.is_file() {
                bail!(
                    "config file {} does not exist or is not a file",
                    path.display()
                );
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        None => {
            let default = Path::new(DEFAULT_CONFIG_PATH);
            if default.is_file() {
                builder = builder.add_source(File::from(default).format(FileFormat::Toml));
            }
        }
    }
    let credentials = match &env {
        Some(env) => env.get("CREDENTIALS_DIRECTORY").cloned(),
        None => std::env::var("CREDENTIALS_DIRECTORY").ok(),
    };
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .source(env);
    let shown = path.map_or_else(
        || DEFAULT_CONFIG_PATH.to_owned(),
        |p| p.display().to_string(),
    );
    let mut settings = builder
        .add_source(environment)
        .build()
        .with_context(|| format!("cannot read configuration from {shown}"))?
        .try_deserialize::<Settings>()
        .with_context(|| {
            format!("invalid configuration (file {shown}, then {ENV_PREFIX}__* variables)")
        })?;
    // Under systemd the token arrives with LoadCredential=token:...; use it when no file is named.
    if settings.target.token_file.is_none() {
        settings.target.token_file = credentials
            .clone()
            .map(|dir| Path::new(&dir).join("token"))
            .filter(|p| p.is_file());
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
