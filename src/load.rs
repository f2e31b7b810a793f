//! `bridgekeeper load`: plays many complete calls against a server and measures them.
//! (Being written.)

use clap::Args;
use std::process::ExitCode;

/// `bridgekeeper load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {}

/// Runs `bridgekeeper load`.
pub async fn run(_args: LoadArgs) -> ExitCode {
    eprintln!("bridgekeeper load: not built yet");
    ExitCode::FAILURE
}
