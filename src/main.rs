//! The `profile-outbox` binary: parse the command line, run it, turn errors into exit codes.

use clap::Parser;
use profile_outbox::cli::{Cli, execute};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole chain: what failed, and why.
            eprintln!("profile-outbox: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
