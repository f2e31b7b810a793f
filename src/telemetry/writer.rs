//! The log writer: lines are appended to one shared buffer on the thread that logs them (a
//! short lock and a copy, no allocation and no wake-up per line), and one writer thread takes
//! the whole buffer every few milliseconds and writes it in one go.
//!
//! Nothing on the request path waits for the output: a buffer that has reached its limit
//! (the output is stuck, or slower than the load) drops lines and counts them, which the
//! server reports as a `log.dropped` warning. Lines keep the order they were logged in,
//! across threads.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after the first one arrives: at most this late on
/// screen, and at most a few hundred writes a second under any load.
const LINGER: Duration = Duration::from_millis(5);

/// A buffer this full is written at once, without waiting out the linger.
const EARLY_WRITE: usize = 256 * 1024;

/// A spare buffer larger than this after a burst is given back.
const KEEP_CAPACITY: usize = 1024 * 1024;

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    dropped: AtomicUsize,
    limit: usize,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer is parked waiting for a first line.
    parked: bool,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a buffer of whole lines: keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the fmt layer writes: cheap to clone, one per line.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written everything buffered.
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BatchWriter {
    /// A writer to `out` through a thread of its own, holding at most `limit` bytes that
    /// are not written yet.
    pub fn spawn<W: Write + Send + 'static>(
        out: W,
        limit: usize,
    ) -> io::Result<(Self, WriterGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            dropped: AtomicUsize::new(0),
            limit,
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("bridgekeeper-log".into())
            .spawn(move || run(&worker, out))?;
        Ok((
            Self {
                shared: Arc::clone(&shared),
            },
            WriterGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// A handle that reads the dropped count after the writer has been handed away.
    pub fn counter(&self) -> DroppedCounter {
        DroppedCounter {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Reads how many lines a [`BatchWriter`] dropped.
#[derive(Clone)]
pub struct DroppedCounter {
    shared: Arc<Shared>,
}

impl DroppedCounter {
    /// Lines dropped so far.
    pub fn dropped_lines(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Write for BatchWriter {
    /// Takes one formatted line (the fmt layer writes each line whole).
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.closing || state.lines.len() + line.len() > self.shared.limit {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        let wake = state.parked && state.lines.is_empty();
        state.lines.extend_from_slice(line);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.lines.is_empty() && !state.closing {
            state.parked = true;
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.parked = false;
        }
        if state.lines.is_empty() {
            return; // closing, and everything is written
        }
        if !state.closing && state.lines.len() < EARLY_WRITE {
            drop(state);
            std::thread::sleep(LINGER);
            state = shared.lock();
        }
        std::mem::swap(&mut state.lines, &mut spare);
        drop(state);
        // Nowhere to report a failed write but the output that failed: the lines are lost.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            spare.shrink_to(KEEP_CAPACITY / 4);
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read, and stall.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _open = self.gate.lock().unwrap();
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole_by_the_time_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::spawn(sink.clone(), 1 << 24).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        let mut w = writer.make_writer();
                        w.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 20_000);
        for t in 0..4 {
            let mut next = 0;
            for line in text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
            {
                assert_eq!(line, format!("thread {t} line {next}"), "in order, whole");
                next += 1;
            }
            assert_eq!(next, 5000);
        }
        assert_eq!(writer.counter().dropped_lines(), 0);
    }

    #[test]
    fn a_stuck_output_drops_and_counts_lines_instead_of_blocking() {
        let sink = Sink::default();
        let stall = sink.gate.lock().unwrap();
        let (writer, guard) = BatchWriter::spawn(sink.clone(), 1000).unwrap();
        let counter = writer.counter();
        let mut w = writer.make_writer();
        // The first line goes to the stuck output; the rest fill the buffer and then drop.
        for i in 0..2000 {
            w.write_all(format!("line {i:05}\n").as_bytes()).unwrap();
        }
        let dropped = counter.dropped_lines();
        assert!(dropped > 1000, "dropped {dropped}");
        drop(stall);
        drop(guard);
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count() + dropped, 2000);
        assert!(text.lines().all(|l| l.len() == 10), "only whole lines");
    }

    #[test]
    fn a_line_is_written_without_a_flood_behind_it() {
        let sink = Sink::default();
        let (writer, _guard) = BatchWriter::spawn(sink.clone(), 1 << 20).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sink.bytes.lock().unwrap().as_slice() != b"alone\n" {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
