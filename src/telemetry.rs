//! Log set-up: human-readable lines or JSON on standard error, filtered by `RUST_LOG`, beside
//! the metrics layer ([`crate::metrics`]), which has a filter of its own: `RUST_LOG` decides
//! what is written, never what is counted.
//!
//! Lines are formatted on the thread that logs them but written off the request path: a
//! bounded queue hands them to one writer thread that batches them into few writes. A full
//! queue drops lines rather than stall webhooks, and counts what it drops; the server reports
//! the count as a `log.dropped` warning (see [`dropped_lines`]).

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Lines the queue holds before it drops: at the default level a webhook writes one or two
/// lines, so this is several seconds of the heaviest load measured.
const QUEUED_LINES: usize = 256 * 1024;

/// Bytes the writer thread gathers into one write.
const WRITE_BUFFER: usize = 64 * 1024;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the writer thread alive; dropping it writes what is still queued (hold it in `main`
/// until the process ends).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber (once; later calls do nothing and return an empty guard).
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("bridgekeeper-log")
        .finish(std::io::BufWriter::with_capacity(
            WRITE_BUFFER,
            std::io::stderr(),
        ));
    let counter = writer.error_counter();
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_target(false)
            .boxed(),
    };
    crate::metrics::handle();
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(crate::metrics::layer())
        .try_init();
    match installed {
        Ok(()) => {
            let _ = DROPPED.set(counter);
            LogGuard {
                _worker: Some(guard),
            }
        }
        Err(_) => LogGuard { _worker: None },
    }
}

/// Lines dropped so far because the queue was full (0 before [`init`]).
pub fn dropped_lines() -> usize {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines)
}
