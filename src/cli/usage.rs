//! The command line's own refusals: a wrong or incomplete command (no rows named, a state the
//! command does not take) or a change that needs a flag the command line lacks (`--yes`,
//! `--even-if-newer-sent`, `--even-if-invalid`). Nothing was changed, and running it again
//! with a different command line would do it, so these exit 2 like clap's own usage errors; an
//! error met while doing the work exits 1.

use std::process::ExitCode;

/// Exit code of a refused command line, as clap's usage errors.
pub const USAGE: u8 = 2;

/// A refusal of the command line, with the sentence to print.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Refuses the command line with `message`.
pub fn refuse<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Refused(message.into()).into())
}

/// Prints a refusal and turns it into exit 2; any other error is passed on.
pub fn settle(result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Err(error) if error.downcast_ref::<Refused>().is_some() => {
            eprintln!("profile-outbox: error: {error:#}");
            Ok(ExitCode::from(USAGE))
        }
        other => other,
    }
}
