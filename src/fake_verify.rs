//! `bridgekeeper fake-verify`: a stand-in for Twilio Verify v2 on loopback, for benchmarks
//! and tests. (Being written.)

use clap::Args;
use std::process::ExitCode;

/// `bridgekeeper fake-verify`.
#[derive(Debug, Clone, Args)]
pub struct FakeVerifyArgs {}

/// Runs `bridgekeeper fake-verify`.
pub async fn run(_args: FakeVerifyArgs) -> ExitCode {
    eprintln!("bridgekeeper fake-verify: not built yet");
    ExitCode::FAILURE
}
