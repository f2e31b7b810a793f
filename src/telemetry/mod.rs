//! Log set-up: human-readable lines or JSON on standard error, filtered by `RUST_LOG`, beside
//! the metrics layer ([`crate::metrics`]), which has a filter of its own: `RUST_LOG` decides
//! what is written, never what is counted.
//!
//! Lines are formatted on the thread that logs them ([`line`]: the stock text format,
//! written cheaply) and written off the request path ([`writer`]): appended to one bounded
//! buffer that a writer thread empties in few, large writes. A full buffer drops lines rather
//! than stall webhooks, and counts what it drops; the server reports the count as a
//! `log.dropped` warning (see [`dropped_lines`]).

pub mod line;
pub mod writer;

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};
use writer::{BatchWriter, DroppedCounter, WriterGuard};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Bytes the buffer holds before it drops lines: at the default level a webhook writes one
/// to three lines of about 250 bytes, so this is about a second of the heaviest load measured.
const BUFFERED_BYTES: usize = 32 * 1024 * 1024;

static DROPPED: OnceLock<DroppedCounter> = OnceLock::new();

/// Keeps the writer thread alive; dropping it writes what is still queued (hold it in `main`
/// until the process ends).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: Option<WriterGuard>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber (once; later calls do nothing and return an empty guard).
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = match BatchWriter::spawn(std::io::stderr(), BUFFERED_BYTES) {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("bridgekeeper: cannot start the log writer thread: {e}");
            return LogGuard { _worker: None };
        }
    };
    let counter = writer.counter();
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        // On a terminal: the stock format, in colour.
        LogFormat::Text if std::io::stderr().is_terminal() => fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .with_ansi(true)
            .boxed(),
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(line::Line)
            .fmt_fields(line::LineFields)
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
    DROPPED.get().map_or(0, DroppedCounter::dropped_lines)
}
