//! Where rows go: Target as configured, or the built-in stand-in for `run --sandbox`.

use crate::adobe::{Endpoint, Sandbox};
use crate::config::{ClientCode, Settings};
use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

/// Where rows are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Target itself, as configured.
    Target,
    /// The built-in stand-in on loopback: nothing reaches Adobe.
    Sandbox,
}

/// Client code used in the sandbox's request paths.
const SANDBOX_CLIENT: &str = "sandbox";

/// Refuses a destination that cannot work, before anything is opened: rows must never be marked
/// delivered somewhere they were not.
pub fn check(settings: &Settings, destination: Destination) -> anyhow::Result<()> {
    if destination == Destination::Target && settings.target.client_code.is_none() {
        bail!(
            "target.client_code is not set: set it in the config file or with \
             PROFILE_OUTBOX__TARGET__CLIENT_CODE, or use `run --sandbox` to try the daemon \
             against a local stand-in"
        );
    }
    Ok(())
}

/// The endpoint to send to. The sandbox's stand-in runs until `stand_in_stop` is cancelled.
pub async fn endpoint(
    settings: &Settings,
    destination: Destination,
    stand_in_stop: CancellationToken,
) -> anyhow::Result<Endpoint> {
    let method = settings.target.method;
    match destination {
        Destination::Target => {
            let code = settings
                .target
                .client_code
                .as_ref()
                .map(ClientCode::as_str)
                .context("target.client_code is not set")?;
            let base = settings
                .target
                .endpoint_base()
                .context("target.client_code is not set")?;
            tracing::info!(target = %base, "delivering to Adobe Target");
            Ok(Endpoint::new(&base, code, method))
        }
        Destination::Sandbox => {
            let sandbox = Sandbox::start(stand_in_stop).await?;
            let base = sandbox.base_url()?;
            tracing::warn!(
                stand_in = %base,
                "SANDBOX: delivering to a local stand-in for Target; NOTHING REACHES ADOBE, and rows \
                 marked delivered were not sent to Target"
            );
            Ok(Endpoint::new(&base, SANDBOX_CLIENT, method))
        }
    }
}
