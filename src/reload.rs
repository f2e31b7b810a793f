//! Reloading the participants file while the server runs: a watch on the file's directory
//! and SIGHUP both lead to one reload, which swaps the served roster only when the new file
//! loads cleanly and otherwise keeps serving the previous list.
//!
//! The watch is on the file's parent directory, filtered by the file's name, because editors
//! save by writing a new file and renaming it over the old one, which ends a watch on the file
//! itself. Bursts of events are debounced; a file whose bytes are those already served (or
//! already refused) is not loaded again, so a touch or a duplicate event logs nothing above
//! debug. SIGHUP always reloads.

use crate::directory::{Directory, DirectoryError};
use crate::roster::SharedRoster;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest as _, Sha256};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the file must be quiet after an event before it is read.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// The longest a stream of events can put a reload off.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// The watch and SIGHUP listener of one server; stops when stopped or dropped.
#[derive(Debug)]
pub struct Reloader {
    task: JoinHandle<()>,
}

impl Reloader {
    /// Starts reloading `path` into `roster` on a change to the file and on SIGHUP.
    ///
    /// Must be called inside a Tokio runtime. When it returns, the SIGHUP handler and the
    /// watch are in place. If the watch cannot be set up (inotify limits, a missing
    /// directory) it logs a warning and only SIGHUP reloads.
    pub fn start(path: PathBuf, roster: Arc<SharedRoster>, accepts: Accepts) -> Self {
        let hangups = Hangups::listen();
        let (events, watcher) = match watch(&path) {
            Ok((events, watcher)) => (Some(events), Some(watcher)),
            Err(e) => {
                tracing::warn!(
                    event = "directory.watch_unavailable",
                    error = %e,
                    "cannot watch {} for changes: only SIGHUP reloads it",
                    path.display()
                );
                (None, None)
            }
        };
        if events.is_some() || hangups.available() {
            tracing::info!(
                event = "directory.watching",
                file = %path.display(),
                watch = events.is_some(),
                sighup = hangups.available(),
                "the participants file is reloaded when it changes and on SIGHUP"
            );
        }
        // What `Application::build` loaded: read again here, just after the watch is set up.
        let memory = Memory {
            serving: std::fs::read(&path).ok().map(|bytes| digest(&bytes)),
            ..Memory::default()
        };
        let worker = Worker {
            path,
            roster,
            accepts,
            memory,
            debounce: Debounce::new(DEBOUNCE, DEBOUNCE_MAX),
        };
        let task = tokio::spawn(worker.run(events, watcher, hangups));
        Self { task }
    }

    /// Stops watching and listening; the file is no longer reloaded.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What set a reload off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The file watch, after the debounce.
    Watch,
    /// SIGHUP: always reloads.
    Signal,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "sighup",
        }
    }
}

/// A SHA-256 of the file's bytes.
type FileDigest = [u8; 32];

fn digest(bytes: &[u8]) -> FileDigest {
    Sha256::digest(bytes).into()
}

/// What the reloader remembers of the file between reloads.
#[derive(Debug, Default)]
struct Memory {
    /// The bytes being served, if known.
    serving: Option<FileDigest>,
    /// The bytes last refused, while no good load has come since.
    refused: Option<FileDigest>,
    /// Whether the last attempt failed (refused or unreadable).
    failing: bool,
}

/// Whether to load the file, given its bytes now.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Parse it and, if good, serve it.
    Load,
    /// The bytes being served; `after_failure` when a failed attempt came in between.
    Unchanged {
        /// The file went back to the served bytes after a refused or unreadable version.
        after_failure: bool,
    },
    /// The bytes refused last time: already reported.
    AlreadyRefused,
}

impl Memory {
    fn decide(&self, digest: &FileDigest, trigger: Trigger) -> Decision {
        if trigger == Trigger::Signal {
            Decision::Load
        } else if self.serving.as_ref() == Some(digest) {
            Decision::Unchanged {
                after_failure: self.failing,
            }
        } else if self.refused.as_ref() == Some(digest) {
            Decision::AlreadyRefused
        } else {
            Decision::Load
        }
    }

    /// These bytes are now served.
    fn loaded(&mut self, digest: FileDigest) {
        self.serving = Some(digest);
        self.refused = None;
        self.failing = false;
    }

    /// The file is back to the bytes being served.
    fn back_to_serving(&mut self) {
        self.refused = None;
        self.failing = false;
    }

    /// The attempt failed: with the bytes' digest when they were read but refused.
    fn failed(&mut self, refused: Option<FileDigest>) {
        if refused.is_some() {
            self.refused = refused;
        }
        self.failing = true;
    }
}

/// A trailing-edge debounce: due `quiet` after the last poke, but no later than `max` after
/// the first poke of the burst.
#[derive(Debug)]
struct Debounce {
    quiet: Duration,
    max: Duration,
    burst: Option<(Instant, Instant)>,
}

impl Debounce {
    fn new(quiet: Duration, max: Duration) -> Self {
        Self {
            quiet,
            max,
            burst: None,
        }
    }

    /// An event came at `now`.
    fn poke(&mut self, now: Instant) {
        let first = self.burst.map_or(now, |(first, _)| first);
        self.burst = Some((first, now));
    }

    /// When the reload is due, if an event is pending.
    fn due(&self) -> Option<Instant> {
        let (first, last) = self.burst?;
        Some((last + self.quiet).min(first + self.max))
    }

    /// The pending events are dealt with.
    fn clear(&mut self) {
        self.burst = None;
    }
}

/// Whether a watch event on the directory may have changed the file named `name`.
///
/// Reads (the reloader's own among them) and metadata changes are not changes; a queue
/// overflow might hide one, so it counts.
fn concerns(event: &Event, name: &OsStr) -> bool {
    if event.need_rescan() {
        return true;
    }
    let may_change = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    };
    may_change
        && event
            .paths
            .iter()
            .any(|path| path.file_name() == Some(name))
}

/// The directory to watch for `path` and the name to filter its events by.
fn watch_target(path: &Path) -> Option<(PathBuf, OsString)> {
    let name = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

type WatchEvents = mpsc::UnboundedReceiver<notify::Result<Event>>;

/// Watches the file's directory; events about other files are dropped here.
fn watch(path: &Path) -> notify::Result<(WatchEvents, RecommendedWatcher)> {
    let (dir, name) = watch_target(path).ok_or_else(|| {
        notify::Error::generic("the participants path does not name a file")
            .add_path(path.to_path_buf())
    })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let wanted = match &event {
            Ok(event) => concerns(event, &name),
            Err(_) => true,
        };
        if wanted {
            let _ = tx.send(event);
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok((rx, watcher))
}

/// SIGHUPs, where the platform has them.
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Installs the handler (from then on SIGHUP no longer ends the process).
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = match signal(SignalKind::hangup()) {
                Ok(signal) => Some(signal),
                Err(e) => {
                    tracing::warn!(
                        event = "directory.sighup_unavailable",
                        error = %e,
                        "cannot listen for SIGHUP: only a change to the file reloads it"
                    );
                    None
                }
            };
            Self { signal }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    fn available(&self) -> bool {
        #[cfg(unix)]
        {
            self.signal.is_some()
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    /// Completes on the next SIGHUP; never, without a handler.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// The next watch event; never, without a watch.
async fn next_event(events: &mut Option<WatchEvents>) -> notify::Result<Event> {
    if let Some(events) = events
        && let Some(event) = events.recv().await
    {
        return event;
    }
    std::future::pending().await
}

/// Completes at `due`; never, for `None`.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await,
        None => std::future::pending().await,
    }
}

/// The reloader's task: its state lives here, so no lock is needed.
/// What a new participants file must fit besides its own rules: the channels the verifier
/// can deliver (a file asking for another is refused like a broken one).
#[derive(Debug, Clone, Copy)]
pub struct Accepts {
    /// The verifier's name, for the message.
    pub verifier: &'static str,
    /// The channels it can deliver.
    pub channels: &'static [crate::verify::Channel],
}

impl Default for Accepts {
    fn default() -> Self {
        Self {
            verifier: "dev",
            channels: &crate::verify::Channel::ALL,
        }
    }
}

struct Worker {
    path: PathBuf,
    roster: Arc<SharedRoster>,
    accepts: Accepts,
    memory: Memory,
    debounce: Debounce,
}

impl Worker {
    /// Runs until aborted; `_watcher` lives as long as the task (dropping it ends the watch).
    async fn run(
        mut self,
        mut events: Option<WatchEvents>,
        _watcher: Option<RecommendedWatcher>,
        mut hangups: Hangups,
    ) {
        loop {
            let due = self.debounce.due();
            tokio::select! {
                event = next_event(&mut events) => {
                    if let Err(e) = event {
                        tracing::warn!(
                            event = "directory.watch_error",
                            error = %e,
                            "the watch on the participants file reported an error"
                        );
                    }
                    self.debounce.poke(Instant::now());
                }
                () = sleep_until(due) => {
                    self.debounce.clear();
                    self.reload(Trigger::Watch).await;
                }
                () = hangups.next() => {
                    self.debounce.clear();
                    self.reload(Trigger::Signal).await;
                }
            }
        }
    }

    /// Loads the file and serves it if it is good; otherwise keeps the previous list.
    async fn reload(&mut self, trigger: Trigger) {
        let file = self.path.display().to_string();
        let path = self.path.clone();
        let bytes = match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(source)) => {
                return self.refused(trigger, None, DirectoryError::Unreadable { file, source });
            }
            Err(e) => {
                let source = std::io::Error::other(e);
                return self.refused(trigger, None, DirectoryError::Unreadable { file, source });
            }
        };
        let digest = digest(&bytes);
        match self.memory.decide(&digest, trigger) {
            Decision::Load => {}
            Decision::Unchanged { after_failure } => {
                self.memory.back_to_serving();
                if after_failure {
                    tracing::info!(
                        event = "directory.restored",
                        trigger = trigger.as_str(),
                        "the participants file is back to the list being served"
                    );
                } else {
                    tracing::debug!(
                        event = "directory.unchanged",
                        trigger = trigger.as_str(),
                        "the participants file is unchanged; not reloaded"
                    );
                }
                return;
            }
            Decision::AlreadyRefused => {
                tracing::debug!(
                    event = "directory.unchanged",
                    trigger = trigger.as_str(),
                    "the participants file is still the version refused before; not reloaded"
                );
                return;
            }
        }
        let parsed = match String::from_utf8(bytes) {
            Ok(text) => Directory::parse(&text, &file).and_then(|directory| {
                directory
                    .check_channels(self.accepts.verifier, self.accepts.channels)
                    .map(|()| directory)
            }),
            Err(_) => Err(DirectoryError::Unreadable {
                file,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                ),
            }),
        };
        match parsed {
            Ok(directory) => {
                let conferences = directory.conferences().len();
                let participants: usize = directory
                    .conferences()
                    .iter()
                    .map(|c| c.participants().len())
                    .sum();
                let warnings = directory.warnings();
                self.roster.replace(directory);
                self.memory.loaded(digest);
                tracing::info!(
                    event = "directory.reloaded",
                    trigger = trigger.as_str(),
                    conferences,
                    participants,
                    "participants file reloaded"
                );
                for warning in warnings {
                    tracing::warn!(event = "directory.warning", "{warning}");
                }
            }
            Err(e) => self.refused(trigger, Some(digest), e),
        }
    }

    fn refused(&mut self, trigger: Trigger, digest: Option<FileDigest>, error: DirectoryError) {
        self.memory.failed(digest);
        tracing::warn!(
            event = "directory.reload_failed",
            trigger = trigger.as_str(),
            error = %error,
            "participants file refused; still serving the previous list"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};

    const GOOD: &str = r#"
[[conference]]
name = "A"
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"
"#;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_is_due_a_quiet_period_after_its_last_event() {
        let mut debounce = Debounce::new(ms(200), ms(2000));
        let t0 = Instant::now();
        assert_eq!(debounce.due(), None);
        debounce.poke(t0);
        assert_eq!(debounce.due(), Some(t0 + ms(200)));
        debounce.poke(t0 + ms(150));
        assert_eq!(debounce.due(), Some(t0 + ms(350)));
        debounce.clear();
        assert_eq!(debounce.due(), None);
    }

    #[test]
    fn an_endless_burst_is_due_at_the_latest_max_after_its_first_event() {
        let mut debounce = Debounce::new(ms(200), ms(2000));
        let t0 = Instant::now();
        for step in 0..30 {
            debounce.poke(t0 + ms(100 * step));
        }
        assert_eq!(debounce.due(), Some(t0 + ms(2000)));
        debounce.clear();
        debounce.poke(t0 + ms(5000));
        assert_eq!(
            debounce.due(),
            Some(t0 + ms(5200)),
            "a new burst starts afresh"
        );
    }

    #[test]
    fn the_same_bytes_are_loaded_again_only_on_sighup() {
        let good = digest(b"good");
        let bad = digest(b"bad");
        let mut memory = Memory::default();
        assert_eq!(memory.decide(&good, Trigger::Watch), Decision::Load);
        memory.loaded(good);
        assert_eq!(
            memory.decide(&good, Trigger::Watch),
            Decision::Unchanged {
                after_failure: false
            }
        );
        assert_eq!(memory.decide(&good, Trigger::Signal), Decision::Load);

        assert_eq!(memory.decide(&bad, Trigger::Watch), Decision::Load);
        memory.failed(Some(bad));
        assert_eq!(
            memory.decide(&bad, Trigger::Watch),
            Decision::AlreadyRefused
        );
        assert_eq!(memory.decide(&bad, Trigger::Signal), Decision::Load);
        assert_eq!(
            memory.decide(&good, Trigger::Watch),
            Decision::Unchanged {
                after_failure: true
            },
            "back to the served bytes after a refusal"
        );
        memory.back_to_serving();
        assert_eq!(memory.decide(&bad, Trigger::Watch), Decision::Load);
    }

    #[test]
    fn an_unreadable_file_does_not_count_as_refused_bytes() {
        let good = digest(b"good");
        let mut memory = Memory::default();
        memory.loaded(good);
        memory.failed(None);
        assert_eq!(memory.refused, None);
        assert_eq!(
            memory.decide(&good, Trigger::Watch),
            Decision::Unchanged {
                after_failure: true
            }
        );
    }

    #[test]
    fn only_changes_to_the_file_itself_count() {
        let name = OsStr::new("participants.toml");
        let file = PathBuf::from("/srv/participants.toml");
        let other = PathBuf::from("/srv/other.toml");
        let changes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Any,
        ];
        for kind in changes {
            assert!(
                concerns(&Event::new(kind).add_path(file.clone()), name),
                "{kind:?}"
            );
            assert!(
                !concerns(&Event::new(kind).add_path(other.clone()), name),
                "{kind:?}"
            );
        }
        // An editor's save: the temporary file renamed over the real one.
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/srv/.participants.toml.swp"))
            .add_path(file.clone());
        assert!(concerns(&rename, name));
        // Reads, the reloader's own included, and metadata are not changes.
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
        ] {
            assert!(
                !concerns(&Event::new(kind).add_path(file.clone()), name),
                "{kind:?}"
            );
        }
        let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(
            concerns(&overflow, name),
            "a lost event might have been a change"
        );
    }

    #[test]
    fn the_watched_directory_is_the_parent_or_the_current_one() {
        assert_eq!(
            watch_target(Path::new("/srv/participants.toml")),
            Some((PathBuf::from("/srv"), OsString::from("participants.toml")))
        );
        assert_eq!(
            watch_target(Path::new("participants.toml")),
            Some((PathBuf::from("."), OsString::from("participants.toml")))
        );
        assert_eq!(watch_target(Path::new("/")), None);
    }

    fn roster(toml: &str) -> Arc<SharedRoster> {
        Arc::new(SharedRoster::new(
            Directory::parse(toml, "t.toml").unwrap(),
            [7; 32],
        ))
    }

    fn people(roster: &SharedRoster) -> Vec<String> {
        roster.current().directory().conferences()[0]
            .participants()
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_good_file_is_served_and_a_bad_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("participants.toml");
        std::fs::write(&path, GOOD).unwrap();
        let shared = roster(GOOD);
        let mut worker = Worker {
            path: path.clone(),
            roster: shared.clone(),
            accepts: Accepts::default(),
            memory: Memory::default(),
            debounce: Debounce::new(DEBOUNCE, DEBOUNCE_MAX),
        };
        let more = format!(
            "{GOOD}[[conference.participant]]\nname = \"Grace\"\nphone = \"+12025550102\"\n"
        );
        std::fs::write(&path, &more).unwrap();
        worker.reload(Trigger::Watch).await;
        assert_eq!(people(&shared), ["Ada", "Grace"]);
        assert_eq!(worker.memory.serving, Some(digest(more.as_bytes())));

        std::fs::write(&path, GOOD.replace("moderator", "chair")).unwrap();
        worker.reload(Trigger::Watch).await;
        assert_eq!(people(&shared), ["Ada", "Grace"], "the previous list stays");
        assert!(worker.memory.failing);

        std::fs::remove_file(&path).unwrap();
        worker.reload(Trigger::Signal).await;
        assert_eq!(
            people(&shared),
            ["Ada", "Grace"],
            "a missing file changes nothing"
        );

        std::fs::write(&path, GOOD).unwrap();
        worker.reload(Trigger::Signal).await;
        assert_eq!(people(&shared), ["Ada"]);
        assert!(!worker.memory.failing);
    }
}
