//! The `bridgekeeper` binary: parse the command line, start logging, dispatch.

use bridgekeeper::cli::{Cli, Command};
use bridgekeeper::clock::SystemClock;
use bridgekeeper::config::Settings;
use bridgekeeper::directory::Directory;
use bridgekeeper::startup::{Application, shutdown_signal};
use bridgekeeper::telemetry::{self, LogFormat};
use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the webhook path allocates many small, short-lived strings, and glibc's malloc
/// showed up at about 15% of the server's CPU under load (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let format = args.log_format;
            let _log = telemetry::init(format);
            match serve(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let message = error_chain(&e);
                    // Text logs go to the same standard error as the line below: one line
                    // for people is enough. A JSON log shipper gets its event too.
                    if format == LogFormat::Json {
                        tracing::error!(event = "server.failed", "{message}");
                    }
                    eprintln!("bridgekeeper: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        #[cfg(feature = "tools")]
        Command::Call(args) => bridgekeeper::simulator::run(args).await,
        #[cfg(feature = "tools")]
        Command::Load(args) => bridgekeeper::load::run(args).await,
        #[cfg(feature = "tools")]
        Command::FakeVerify(args) => bridgekeeper::fake_verify::run(args).await,
        Command::Check(args) => check(&args),
        Command::Enrolled(args) => match bridgekeeper::console::export::run(&args).await {
            Ok(text) => {
                use std::io::Write;
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bridgekeeper: {}", error_chain(&e));
                ExitCode::FAILURE
            }
        },
    }
}

/// `bridgekeeper check`: the file's own rules, then the channels its participants ask for
/// against the verifier the environment configures (as `serve` would read it).
fn check(args: &bridgekeeper::cli::CheckArgs) -> ExitCode {
    let verifier = match bridgekeeper::config::verifier_settings(&|name| std::env::var(name).ok()) {
        Ok(verifier) => verifier,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let checked = Directory::load(&args.file).and_then(|directory| {
        directory
            .check_channels(verifier.name(), verifier.channels())
            .map(|()| directory)
    });
    match checked {
        Ok(directory) => {
            use std::io::Write;
            // A closed pipe (`check | head`) is not an error worth a panic.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}: OK (verifier: {})",
                args.file.display(),
                verifier.name()
            )
            .and_then(|()| write!(out, "{}", directory.summary()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: bridgekeeper::config::ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::from_args(args)?;
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// The error and its causes, `: `-separated like `{e:#}`, but without a cause whose words the
/// message before it already ends with (an error that prints its source as well as returning
/// it would otherwise read "cannot read: No such file …: No such file …").
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if previous.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
        previous = part;
    }
    text
}
