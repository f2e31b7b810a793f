//! `bridgekeeper load`: plays many complete calls (incoming webhook, code, digits, join)
//! against a running server, a bounded number at a time, through the simulator's engine and
//! one shared HTTP client; then reports calls per second, the latency of each kind of webhook
//! and of whole calls, and the errors by kind.
//!
//! [`run_load`] is the library entry point (for tests and benchmark scripts); [`run`] is the
//! subcommand around it. Neither prints a code, an auth token or a full phone number.

use crate::carrier::CarrierKind;
use crate::directory::Directory;
use crate::domain::PhoneNumber;
use crate::simulator::{
    CodeSource, Fallback, Outcome, Signing, SigningArgs, SimError, Simulator, WebhookKind,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;

/// Exit statuses of `bridgekeeper load`.
pub mod exit {
    /// Every call joined its conference.
    pub const ALL_JOINED: u8 = 0;
    /// Some call did not join (an error or another outcome), or the load could not start.
    pub const NOT_ALL_JOINED: u8 = 1;
}

/// How long one webhook may take before it counts as a timeout: Twilio's own limit.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The line dialed when the only conference lists no numbers (it then answers any number).
pub const ANY_LINE: &str = "+12025550100";

/// `bridgekeeper load`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Each call is a whole call: the incoming webhook (POST /voice), the code typed at the prompt \
(POST /voice/code) and the join. Callers are the participants in --participants, each calling \
the first number of their conference (a number on several lists, the first), taken in turn; \
a number makes one call at a time, so no more calls are in flight than there are numbers. The code comes from \
GET /dev/outbox?to=CALLER (development mode) or is --code (a fake Verify that always sends \
that code).

The report gives calls/s (joined calls over wall time), p50/p90/p99/max latency in \
milliseconds of each webhook kind answered with HTTP 200 and of whole joined calls, and the \
calls that did not join, counted by kind (http 403, http 5xx, connect, timeout, no code, \
not joined: OUTCOME, ...). A progress bar is drawn on standard error when it is a terminal.

Verifiers send at most 5 codes per number per 10 minutes (the development verifier and \
Twilio Verify alike), and the server 10 per number per hour and 600 a minute in all: for \
many calls, list many participants or raise the server's limits.

Exit status: 0 every call joined; 1 some call did not join, or the load could not start \
(unreadable participants file, nobody to call from); 2 usage error.")]
pub struct LoadArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "BRIDGEKEEPER_SERVER",
        default_value = "http://127.0.0.1:5000"
    )]
    pub server: Url,

    /// How many calls to play in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: u64,

    /// How many calls are in flight at once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,

    /// The participants file the callers come from.
    #[arg(
        long,
        env = "BRIDGEKEEPER_PARTICIPANTS",
        default_value = "participants.toml"
    )]
    pub participants: PathBuf,

    /// The carrier to play: its entry path, parameters, body and signature.
    #[arg(long, value_enum, default_value = "twilio")]
    pub carrier: CarrierKind,

    #[command(flatten)]
    pub keys: SigningArgs,

    /// Type this code at every prompt instead of reading /dev/outbox (for a fake Verify that
    /// always sends it).
    #[arg(long)]
    pub code: Option<String>,
}

/// One caller: the number it calls from and the line it dials, both E.164.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller ID.
    pub from: String,
    /// The dialed number.
    pub to: String,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("from", &masked(&self.from))
            .field("to", &masked(&self.to))
            .finish()
    }
}

/// A number as logs show it (`+1202•••0101`).
fn masked(number: &str) -> String {
    PhoneNumber::parse(number).map_or_else(|_| "•••".to_owned(), |n| n.masked())
}

/// Every participant of every conference in `directory`, in file order, each dialing the
/// first number of its conference (or [`ANY_LINE`] when the only conference lists none). A
/// number on several lists is one caller, dialing the line of the first.
pub fn callers(directory: &Directory) -> Vec<Caller> {
    let mut seen = std::collections::HashSet::new();
    directory
        .conferences()
        .iter()
        .flat_map(|conference| {
            let to = conference
                .numbers()
                .first()
                .map_or_else(|| ANY_LINE.to_owned(), |n| n.as_e164().to_owned());
            conference.participants().iter().map(move |p| Caller {
                from: p.phone.as_e164().to_owned(),
                to: to.clone(),
            })
        })
        .filter(|caller| seen.insert(caller.from.clone()))
        .collect()
}

/// The callers of the participants file at `path`.
pub fn load_callers(path: &Path) -> Result<Vec<Caller>, LoadError> {
    let directory = Directory::load(path).map_err(|e| LoadError::Participants(e.to_string()))?;
    Ok(callers(&directory))
}

/// What to play.
#[derive(Clone)]
pub struct LoadOptions {
    /// The server's base URL.
    pub server: Url,
    /// Calls in all (at least 1).
    pub calls: usize,
    /// Calls in flight at once (at least 1).
    pub concurrency: usize,
    /// Who calls, taken in turn (at least one).
    pub callers: Vec<Caller>,
    /// The carrier played.
    pub carrier: CarrierKind,
    /// How every webhook is authenticated.
    pub signing: Signing,
    /// Types this code instead of reading `/dev/outbox`.
    pub code: Option<String>,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Draws a progress bar on standard error.
    pub progress: bool,
}

impl LoadOptions {
    /// `calls` calls, `concurrency` at a time, from `callers` against `server`; unsigned,
    /// codes from the outbox, Twilio's 15-second timeout, no progress bar.
    pub fn new(server: Url, calls: usize, concurrency: usize, callers: Vec<Caller>) -> Self {
        Self {
            server,
            calls,
            concurrency,
            callers,
            carrier: CarrierKind::Twilio,
            signing: Signing::None,
            code: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            progress: false,
        }
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("server", &self.server.as_str())
            .field("calls", &self.calls)
            .field("concurrency", &self.concurrency)
            .field("callers", &self.callers.len())
            .field("carrier", &self.carrier)
            .field("signing", &self.signing)
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("request_timeout", &self.request_timeout)
            .field("progress", &self.progress)
            .finish()
    }
}

/// Why the load could not be played at all (a failed call is not an error: it is counted).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The participants file could not be read.
    #[error("{0}")]
    Participants(String),
    /// Nobody to call from.
    #[error("no participants to call from")]
    NoCallers,
    /// Zero calls or zero concurrency.
    #[error("--calls and --concurrency must be at least 1")]
    Nothing,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    /// A worker task failed.
    #[error("a load worker failed: {0}")]
    Worker(String),
}

/// The spread of a set of latencies (nearest-rank percentiles); all zero with no samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Latency {
    /// Sorts the samples and reads the percentiles off them.
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |percent: usize| -> Duration {
            let rank = (percent * samples.len()).div_ceil(100).max(1);
            samples.get(rank - 1).copied().unwrap_or_default()
        };
        Self {
            count: samples.len(),
            p50: at(50),
            p90: at(90),
            p99: at(99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The server played against.
    pub server: Url,
    /// Calls played.
    pub calls: usize,
    /// Calls asked to be in flight at once.
    pub concurrency: usize,
    /// Calls that could be in flight at once: a number makes one call at a time, so at most
    /// one per caller (and no more than the calls).
    pub in_flight: usize,
    /// Calls that joined a conference.
    pub joined: usize,
    /// From the first request to the last answer.
    pub wall: Duration,
    /// `POST /voice` answered with 200.
    pub incoming: Latency,
    /// `POST /voice/code` answered with 200.
    pub code: Latency,
    /// Any other webhook answered with 200 (none, against bridgekeeper).
    pub other: Latency,
    /// Whole joined calls: first webhook sent to the join read, outbox reads included.
    pub call: Latency,
    /// Calls that did not join, by kind of failure.
    pub errors: BTreeMap<String, usize>,
}

impl LoadReport {
    /// Joined calls per second of wall time.
    pub fn calls_per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.joined as f64 / secs
        } else {
            0.0
        }
    }

    /// Whether every call joined.
    pub fn all_joined(&self) -> bool {
        self.joined == self.calls
    }

    /// Calls that did not join.
    pub fn failed(&self) -> usize {
        self.errors.values().sum()
    }

    /// The exit status of `bridgekeeper load` for this report.
    pub fn exit_status(&self) -> u8 {
        if self.all_joined() {
            exit::ALL_JOINED
        } else {
            exit::NOT_ALL_JOINED
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "server       {}", self.server)?;
        writeln!(f, "calls        {}", self.calls)?;
        if self.in_flight < self.concurrency {
            writeln!(
                f,
                "concurrency  {} (at most {} in flight: one call per number at a time)",
                self.concurrency, self.in_flight
            )?;
        } else {
            writeln!(f, "concurrency  {}", self.concurrency)?;
        }
        writeln!(f, "joined       {} of {}", self.joined, self.calls)?;
        writeln!(f, "total time   {:.3} s", self.wall.as_secs_f64())?;
        writeln!(f, "calls/s      {:.1}", self.calls_per_second())?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<14}{:>8}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        )?;
        let mut rows = vec![("incoming", &self.incoming), ("code", &self.code)];
        if self.other.count > 0 {
            rows.push(("other", &self.other));
        }
        rows.push(("whole call", &self.call));
        for (name, l) in rows {
            if l.count == 0 {
                writeln!(
                    f,
                    "  {name:<12}{:>8}{:>10}{:>10}{:>10}{:>10}",
                    0, "-", "-", "-", "-"
                )?;
            } else {
                writeln!(
                    f,
                    "  {name:<12}{:>8}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                    l.count,
                    ms(l.p50),
                    ms(l.p90),
                    ms(l.p99),
                    ms(l.max)
                )?;
            }
        }
        writeln!(f)?;
        if self.errors.is_empty() {
            writeln!(f, "errors       0")?;
        } else {
            writeln!(
                f,
                "errors       {} (calls that did not join)",
                self.failed()
            )?;
            let mut by_count: Vec<(&String, &usize)> = self.errors.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            for (kind, count) in by_count {
                writeln!(f, "  {count:>8}  {kind}")?;
            }
        }
        Ok(())
    }
}

/// The kind under which a failed call is counted: no URL, number or code in it.
pub fn error_kind(error: &SimError) -> String {
    match error {
        SimError::Http { source, .. } => {
            if source.is_timeout() {
                "timeout".into()
            } else if source.is_connect() {
                "connect".into()
            } else if source.is_decode() || source.is_body() {
                "unreadable response".into()
            } else {
                "request failed".into()
            }
        }
        SimError::Status { status, .. } if (500..600).contains(status) => "http 5xx".into(),
        SimError::Status { status, .. } => format!("http {status}"),
        SimError::BadTwiml { .. } => "bad twiml".into(),
        SimError::BadUrl(_) => "bad url in twiml".into(),
        SimError::NoCode(_) => "no code".into(),
        SimError::Endless => "endless call".into(),
        SimError::Terminal(_) => "terminal".into(),
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    joined: usize,
    incoming: Vec<Duration>,
    code: Vec<Duration>,
    other: Vec<Duration>,
    call: Vec<Duration>,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.joined += other.joined;
        self.incoming.extend(other.incoming);
        self.code.extend(other.code);
        self.other.extend(other.other);
        self.call.extend(other.call);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }
}

/// A call id unique within this run, in the carrier's shape: 16 hex digits for the run, 16
/// for the call.
fn call_sid(carrier: CarrierKind, run: u64, index: usize) -> String {
    crate::simulator::call_id_from_hex(carrier, &format!("{run:016x}{index:016x}"))
}

fn run_id() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        return nanos as u64;
    }
    u64::from_be_bytes(bytes)
}

fn progress_bar(options: &LoadOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.calls as u64);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} calls, {rate} calls/s {msg}",
    )
    .map(|s| {
        s.progress_chars("=> ").with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn fmt::Write| {
                let _ = write!(out, "{:.0}", state.per_sec());
            },
        )
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Everything the workers share.
struct Shared {
    client: reqwest::Client,
    options: LoadOptions,
    /// The next call's index.
    next: AtomicUsize,
    /// One line per caller, held for the length of a call: call `i` comes from caller
    /// `i % callers`, so consecutive calls come from different numbers and each number makes
    /// its share of the calls, and no number is in two calls at once (a call waits, rarely,
    /// for the same caller's previous call to end).
    lines: Vec<tokio::sync::Mutex<()>>,
    run: u64,
    bar: ProgressBar,
    failed: AtomicUsize,
}

/// One worker: plays calls until the shared counter reaches the total.
async fn worker(shared: Arc<Shared>) -> Tally {
    let options = &shared.options;
    let source = match &options.code {
        Some(code) => CodeSource::Fixed(code.clone()),
        None => CodeSource::OutboxForCaller,
    };
    let mut tally = Tally::default();
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= options.calls {
            break;
        }
        let who = index % options.callers.len();
        let (Some(caller), Some(line)) = (options.callers.get(who), shared.lines.get(who)) else {
            break;
        };
        let _busy = line.lock().await;
        let mut simulator = Simulator::with_client(
            shared.client.clone(),
            options.server.clone(),
            caller.from.clone(),
            caller.to.clone(),
        )
        .call_sid(call_sid(options.carrier, shared.run, index))
        .carrier(options.carrier)
        .signing(options.signing.clone())
        .fallback(Fallback::AutoCode)
        .code_source(source.clone());
        let started = Instant::now();
        let result = simulator.play().await;
        let took = started.elapsed();
        for webhook in simulator.webhooks().iter().filter(|w| w.status == 200) {
            match webhook.kind {
                WebhookKind::Incoming => tally.incoming.push(webhook.latency),
                WebhookKind::Code => tally.code.push(webhook.latency),
                WebhookKind::Other => tally.other.push(webhook.latency),
            }
        }
        let failure = match result {
            Ok(Outcome::Joined { .. } | Outcome::Dialed { .. }) => {
                tally.joined += 1;
                tally.call.push(took);
                None
            }
            Ok(outcome) => Some(format!("not joined: {outcome}")),
            Err(e) => Some(error_kind(&e)),
        };
        if let Some(kind) = failure {
            *tally.errors.entry(kind).or_default() += 1;
            let failed = shared.failed.fetch_add(1, Ordering::Relaxed) + 1;
            shared.bar.set_message(format!("{failed} not joined"));
        }
        shared.bar.inc(1);
    }
    tally
}

/// Plays `options.calls` calls, `options.concurrency` at a time, and measures them.
pub async fn run_load(options: LoadOptions) -> Result<LoadReport, LoadError> {
    if options.calls == 0 || options.concurrency == 0 {
        return Err(LoadError::Nothing);
    }
    if options.callers.is_empty() {
        return Err(LoadError::NoCallers);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(options.request_timeout)
        .connect_timeout(options.request_timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(options.concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(LoadError::Client)?;
    let workers = options
        .concurrency
        .min(options.calls)
        .min(options.callers.len());
    let bar = progress_bar(&options);
    let shared = Arc::new(Shared {
        client,
        bar: bar.clone(),
        next: AtomicUsize::new(0),
        lines: options
            .callers
            .iter()
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        run: run_id(),
        failed: AtomicUsize::new(0),
        options,
    });

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(worker(shared.clone()));
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.map_err(|e| LoadError::Worker(e.to_string()))?);
    }
    let wall = started.elapsed();
    bar.finish_and_clear();

    let options = &shared.options;
    Ok(LoadReport {
        server: options.server.clone(),
        calls: options.calls,
        concurrency: options.concurrency,
        in_flight: workers,
        joined: tally.joined,
        wall,
        incoming: Latency::from_samples(tally.incoming),
        code: Latency::from_samples(tally.code),
        other: Latency::from_samples(tally.other),
        call: Latency::from_samples(tally.call),
        errors: tally.errors,
    })
}

/// Whether `participants` is `participants.toml`: the example file a fresh clone serves (or
/// the file a server is serving to real callers), not a file set aside for load.
fn uses_the_default_file(participants: &std::path::Path) -> bool {
    participants.file_name() == Some(std::ffi::OsStr::new("participants.toml"))
}

/// What a load run leaves behind for the numbers it calls from.
fn spent_allowance_note(participants: &std::path::Path) -> String {
    format!(
        "bridgekeeper load: note: each call spends one of its number's hourly codes on the \
         server (--max-codes-per-number, 10 by default), and a call that goes wrong may \
         spend a wrong-code try (--max-wrong-per-number, 3): after this run the numbers in {} \
         may be refused on that server until the hour has passed (a development server keeps \
         its counters across restarts, in its .state file), demo and real calls alike. To keep them usable, start a server on a \
         separate file whose numbers nobody calls from, and load that: `serve --participants \
         load.toml`, `load --participants load.toml`.",
        participants.display()
    )
}

/// Runs `bridgekeeper load`: the report on standard output, notes and the progress bar on
/// standard error; exit status 0 when every call joined, 1 otherwise.
pub async fn run(args: LoadArgs) -> ExitCode {
    let failed = ExitCode::from(exit::NOT_ALL_JOINED);
    let callers = match load_callers(&args.participants) {
        Ok(callers) if callers.is_empty() => {
            eprintln!(
                "bridgekeeper load: {}: no participants to call from",
                args.participants.display()
            );
            return failed;
        }
        Ok(callers) => callers,
        Err(e) => {
            eprintln!("bridgekeeper load: {e}");
            return failed;
        }
    };
    let (Ok(calls), Ok(concurrency)) = (
        usize::try_from(args.calls),
        usize::try_from(args.concurrency),
    ) else {
        eprintln!("bridgekeeper load: --calls or --concurrency is too large");
        return failed;
    };
    if callers.len() < concurrency.min(calls) {
        eprintln!(
            "bridgekeeper load: note: {} numbers to call from: a number makes one call at a \
             time, so at most {} calls are in flight",
            callers.len(),
            callers.len()
        );
    }
    if calls > callers.len() * 5 {
        eprintln!(
            "bridgekeeper load: note: {calls} calls from {} numbers is more than 5 codes per \
             number, more than a verifier sends in 10 minutes",
            callers.len()
        );
    }
    if uses_the_default_file(&args.participants) {
        eprintln!("{}", spent_allowance_note(&args.participants));
    }
    let mut options = LoadOptions::new(args.server, calls, concurrency, callers);
    options.carrier = args.carrier;
    options.signing = match args.keys.signing(args.carrier) {
        Ok(signing) => signing,
        Err(e) => {
            eprintln!("bridgekeeper load: {e}");
            return failed;
        }
    };
    options.code = args.code;
    options.progress = std::io::stderr().is_terminal();
    match run_load(options).await {
        Ok(report) => {
            {
                use std::io::Write;
                // A closed pipe (`load | head`) is not worth a panic.
                let _ = write!(std::io::stdout().lock(), "{report}");
            }
            ExitCode::from(report.exit_status())
        }
        Err(e) => {
            eprintln!("bridgekeeper load: {e}");
            failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_nearest_rank_over_sorted_samples() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let l = Latency::from_samples(samples);
        assert_eq!(l.count, 100);
        assert_eq!(
            (l.p50, l.p90, l.p99, l.max),
            (ms(50), ms(90), ms(99), ms(100))
        );

        let one = Latency::from_samples(vec![ms(7)]);
        assert_eq!((one.p50, one.p99, one.max), (ms(7), ms(7), ms(7)));

        let ten = Latency::from_samples((1..=10).map(ms).collect());
        assert_eq!((ten.p50, ten.p90, ten.p99), (ms(5), ms(9), ms(10)));

        assert_eq!(Latency::from_samples(vec![]), Latency::default());
    }

    #[test]
    fn call_sids_are_twilio_shaped_and_distinct() {
        let a = call_sid(CarrierKind::Twilio, 0xdead_beef, 0);
        let b = call_sid(CarrierKind::Twilio, 0xdead_beef, 1);
        assert_eq!(a.len(), 34);
        assert!(a.starts_with("CA"));
        assert_ne!(a, b);
    }

    #[test]
    fn status_errors_are_grouped_and_name_no_url() {
        let url = Url::parse("http://127.0.0.1:1/voice").unwrap();
        let status = |status| SimError::Status {
            url: url.clone(),
            status,
            body: String::new(),
        };
        assert_eq!(error_kind(&status(403)), "http 403");
        assert_eq!(error_kind(&status(502)), "http 5xx");
        assert_eq!(error_kind(&SimError::NoCode(url.clone())), "no code");
    }

    #[test]
    fn callers_dial_their_conference_line_or_any_line() {
        let directory = Directory::parse(
            r#"
[[conference]]
name = "A"
numbers = ["+12025550100", "+12025550109"]
[[conference.participant]]
name = "x"
phone = "+1 202 555 0101"
[[conference]]
name = "B"
numbers = ["+12025550150"]
[[conference.participant]]
name = "y"
phone = "+12025550151"
[[conference.participant]]
name = "x again"
phone = "+12025550101"
"#,
            "test",
        )
        .unwrap();
        let got = callers(&directory);
        assert_eq!(
            got,
            [
                Caller {
                    from: "+12025550101".into(),
                    to: "+12025550100".into()
                },
                Caller {
                    from: "+12025550151".into(),
                    to: "+12025550150".into()
                },
            ]
        );
        let single = Directory::parse(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"x\"\nphone = \"+12025550101\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(callers(&single)[0].to, ANY_LINE);
        assert!(!format!("{:?}", callers(&single)[0]).contains("2025550101"));
    }

    #[test]
    fn the_report_prints_a_table_and_the_errors_by_count() {
        let mut errors = BTreeMap::new();
        errors.insert("http 403".to_owned(), 1);
        errors.insert("not joined: rejected".to_owned(), 3);
        let report = LoadReport {
            server: Url::parse("http://127.0.0.1:5000").unwrap(),
            calls: 10,
            concurrency: 2,
            in_flight: 2,
            joined: 6,
            wall: Duration::from_secs(2),
            incoming: Latency::from_samples(vec![ms(1), ms(2)]),
            code: Latency::default(),
            other: Latency::default(),
            call: Latency::from_samples(vec![ms(10)]),
            errors,
        };
        let text = report.to_string();
        assert!(text.contains("calls/s      3.0"), "{text}");
        assert!(text.contains("joined       6 of 10"), "{text}");
        assert!(
            text.contains("  incoming           2      1.00      2.00"),
            "{text}"
        );
        assert!(!text.contains("other"), "{text}");
        let rejected = text.find("not joined: rejected").unwrap();
        let forbidden = text.find("http 403").unwrap();
        assert!(rejected < forbidden, "{text}");
        assert_eq!(report.exit_status(), 1);
        assert_eq!(report.failed(), 4);
    }
}
