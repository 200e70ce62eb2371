//! `profile-outbox check-config`: loads the configuration the way `run` does and fails on anything
//! that would stop `run` from delivering. systemd runs it before every start.

use crate::config::{self, Token};
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub fn check_config(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    let token = match &settings.target.token_file {
        Some(path) => Token::read_file(path)?,
        None => None,
    };
    if let Some(path) = &settings.target.ca_file {
        crate::adobe::read_ca_file(path)?;
    }
    let (Some(_), Some(base)) = (
        &settings.target.client_code,
        settings.target.endpoint_base(),
    ) else {
        bail!(
            "target.client_code is not set: `run` refuses to start without it (set it, or try \
             the daemon locally with `run --sandbox`)"
        );
    };
    println!("configuration OK ({})", source(config_path));
    println!("  database: {}", settings.database.path.display());
    println!("  target:   {base}");
    let from = match (
        &settings.target.token_file,
        settings.target.token_is_credential,
    ) {
        (Some(path), true) => format!("the systemd credential \"token\", {}", path.display()),
        (Some(path), false) => format!("target.token_file {}", path.display()),
        (None, _) => String::new(),
    };
    let token = match (&settings.target.token_file, token) {
        (Some(_), Some(_)) => format!("set (from {from})"),
        (Some(_), None) => format!("none ({from} is empty)"),
        (None, _) => "none".to_owned(),
    };
    println!("  token:    {token}");
    if settings.target.token_file.is_some() {
        println!(
            "  to replace a refused token: {}",
            settings.target.token_remedy()
        );
    }
    if let Some(path) = &settings.target.ca_file {
        println!("  trust:    the host's CA store and {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the settings came from, as the operator would look for it.
fn source(config_path: Option<&Path>) -> String {
    let default = Path::new(config::DEFAULT_CONFIG_PATH);
    match config_path {
        Some(path) => path.display().to_string(),
        None if default.is_file() => default.display().to_string(),
        None => "built-in defaults".to_owned(),
    }
}
