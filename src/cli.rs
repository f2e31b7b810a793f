//! The command line: `serve`, `call`, `check`, and the measuring tools `load` and
//! `fake-verify`.

use crate::config::ServeArgs;
#[cfg(feature = "tools")]
use crate::fake_verify::FakeVerifyArgs;
#[cfg(feature = "tools")]
use crate::load::LoadArgs;
#[cfg(feature = "tools")]
use crate::simulator::CallArgs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// bridgekeeper: an OTP-gated conference line.
#[derive(Debug, Parser)]
#[command(name = "bridgekeeper", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. (Parsed once per process: the size of a variant does not matter.)
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the webhook server.
    Serve(ServeArgs),
    /// Play the carrier against a running server: one call, printed as the caller hears it.
    #[cfg(feature = "tools")]
    Call(CallArgs),
    /// Validate a participants file and print a summary (numbers masked).
    Check(CheckArgs),
    /// The people enrolled through console invitations; `--export` prints them as
    /// participants-file entries.
    Enrolled(EnrolledArgs),
    /// Play many complete calls against a server and report calls/s, latencies and errors.
    #[cfg(feature = "tools")]
    Load(LoadArgs),
    /// Run a fake Twilio Verify v2 on loopback (for benchmarks and rehearsals).
    #[cfg(feature = "tools")]
    FakeVerify(FakeVerifyArgs),
}

/// `bridgekeeper check [FILE]`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The participants file.
    #[arg(env = "BRIDGEKEEPER_PARTICIPANTS", default_value = "participants.toml")]
    pub file: PathBuf,
}

/// `bridgekeeper enrolled --export [FILE]`.
#[derive(Debug, Args)]
pub struct EnrolledArgs {
    /// Print the enrolments as `[[conference.participant]]` entries for the participants
    /// file (the only output there is; required so that the intent is explicit).
    #[arg(long, required = true)]
    pub export: bool,
    /// The participants file (it names the conferences).
    #[arg(env = "BRIDGEKEEPER_PARTICIPANTS", default_value = "participants.toml")]
    pub file: PathBuf,
    /// The shared store the server uses (redis://...).
    #[arg(long, env = "BRIDGEKEEPER_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of the server's Redis keys.
    #[arg(
        long,
        env = "BRIDGEKEEPER_REDIS_PREFIX",
        default_value = "bridgekeeper:"
    )]
    pub redis_prefix: String,
    /// Without Redis: the in-memory store's state file the server writes.
    #[arg(long, env = "BRIDGEKEEPER_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}
