//! `profile-outbox check-config`: loads the configuration the way `run` does and reports.

use crate::config::{self, Token};
use std::path::Path;
use std::process::ExitCode;

pub fn check_config(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = config::load(config_path, None)?;
    let token = match &settings.target.token_file {
        Some(path) => Token::read_file(path)?,
        None => None,
    };
    if settings.target.token_file.is_some() && token.is_none() {
        anyhow::bail!("target.token_file names an empty file");
    }
    let shown = config_path.map_or_else(
        || config::DEFAULT_CONFIG_PATH.into(),
        |p| p.display().to_string(),
    );
    println!("configuration OK ({shown})");
    println!("  database: {}", settings.database.path.display());
    match settings.target.endpoint_base() {
        Some(base) if settings.target.client_code.is_some() => println!("  target:   {base}"),
        _ => println!("  target:   not set (target.client_code); only `run --sandbox` will start"),
    }
    println!(
        "  token:    {}",
        if token.is_some() {
            "set (from target.token_file)"
        } else {
            "none"
        }
    );
    Ok(ExitCode::SUCCESS)
}
