//! A rate limit on repetitive log lines, so that a flood of bad requests cannot flood the
//! logs: per event name, the first [`BURST`] lines in each [`INTERVAL`] are written and the
//! rest are counted, and the next time the event comes up after the interval (or when the
//! server stops, see [`flush`]) one `log.suppressed` line says how many were dropped.
//!
//! It sits on the request path of refused webhooks, so a check is a few atomic operations:
//! no lock and no allocation. Call sites stay one line:
//!
//! ```ignore
//! if log_throttle::allow("webhook.forbidden") {
//!     tracing::warn!(event = "webhook.forbidden", ...);
//! }
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lines of one event written per interval before the rest are suppressed.
pub const BURST: u64 = 10;

/// The interval the burst is counted over.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The most distinct event names throttled at once; further names are never suppressed.
const SLOTS: usize = 32;

/// Whether a line of `event` may be written now. Counts it either way, and first writes the
/// `log.suppressed` summary of the previous interval when this call starts a new one.
pub fn allow(event: &'static str) -> bool {
    let Some(throttle) = registry().get(event) else {
        return true;
    };
    let verdict = throttle.check(elapsed_ms());
    if verdict.suppressed_before > 0 {
        summarize(event, verdict.suppressed_before);
    }
    verdict.allowed
}

/// Writes the summary of every event with lines suppressed in its current interval, and
/// starts their counts afresh (the server calls it when it stops).
pub fn flush() {
    for (event, throttle) in registry().iter() {
        let suppressed = throttle.take_suppressed();
        if suppressed > 0 {
            summarize(event, suppressed);
        }
    }
}

fn summarize(event: &str, suppressed: u64) {
    tracing::warn!(
        event = "log.suppressed",
        suppressed_event = event,
        suppressed,
        "{suppressed} more {event} lines suppressed (at most {BURST} per {}s are written)",
        INTERVAL.as_secs()
    );
}

/// Milliseconds since the first throttled line, on the monotonic clock.
fn elapsed_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the line is written.
    pub allowed: bool,
    /// Lines suppressed in the interval this check closed (0 if it closed none).
    pub suppressed_before: u64,
}

/// The counter of one event: which interval it is in and how many lines came in it.
#[derive(Debug)]
pub struct Throttle {
    burst: u64,
    interval_ms: u64,
    window: AtomicU64,
    count: AtomicU64,
}

impl Throttle {
    /// A throttle writing `burst` lines per `interval`.
    pub const fn new(burst: u64, interval: Duration) -> Self {
        let ms = interval.as_millis();
        Self {
            burst,
            interval_ms: if ms == 0 {
                1
            } else if ms > u64::MAX as u128 {
                u64::MAX
            } else {
                ms as u64
            },
            window: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Counts one line at `now_ms` (any monotonic millisecond clock).
    pub fn check(&self, now_ms: u64) -> Verdict {
        let window = now_ms / self.interval_ms;
        let current = self.window.load(Ordering::Relaxed);
        if window > current
            && self
                .window
                .compare_exchange(current, window, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // This call opens the new interval: it is its first line, and it reports what
            // the old interval dropped. Lines counted by racing threads land in one interval
            // or the other; none is lost.
            let before = self.count.swap(1, Ordering::AcqRel);
            return Verdict {
                allowed: self.burst >= 1,
                suppressed_before: before.saturating_sub(self.burst),
            };
        }
        let seen = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        Verdict {
            allowed: seen <= self.burst,
            suppressed_before: 0,
        }
    }

    /// Takes the count of lines suppressed so far in the current interval, leaving the burst
    /// spent (so that a flush does not reopen it).
    pub fn take_suppressed(&self) -> u64 {
        let burst = self.burst;
        let mut current = self.count.load(Ordering::Acquire);
        loop {
            if current <= burst {
                return 0;
            }
            match self
                .count
                .compare_exchange(current, burst, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return current - burst,
                Err(actual) => current = actual,
            }
        }
    }
}

/// The throttles, one per event name, claimed on first use.
struct Registry {
    names: [OnceLock<&'static str>; SLOTS],
    throttles: [Throttle; SLOTS],
}

impl Registry {
    /// The throttle of `event`, claiming a free slot for a new name.
    fn get(&self, event: &'static str) -> Option<&Throttle> {
        for (name, throttle) in self.names.iter().zip(&self.throttles) {
            let claimed = *name.get_or_init(|| event);
            if claimed == event {
                return Some(throttle);
            }
        }
        None
    }

    /// Every claimed slot.
    fn iter(&self) -> impl Iterator<Item = (&'static str, &Throttle)> {
        self.names
            .iter()
            .zip(&self.throttles)
            .filter_map(|(name, throttle)| name.get().map(|name| (*name, throttle)))
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: Registry = Registry {
        names: [const { OnceLock::new() }; SLOTS],
        throttles: [const { Throttle::new(BURST, INTERVAL) }; SLOTS],
    };
    &REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lines_of_an_interval_pass_and_the_rest_are_counted() {
        let throttle = Throttle::new(3, Duration::from_secs(10));
        let verdicts: Vec<bool> = (0..8).map(|i| throttle.check(i * 100).allowed).collect();
        assert_eq!(
            verdicts,
            [true, true, true, false, false, false, false, false]
        );
        // The next interval opens with the count of what the last one dropped.
        assert_eq!(
            throttle.check(10_000),
            Verdict {
                allowed: true,
                suppressed_before: 5
            }
        );
        assert!(throttle.check(10_001).allowed);
        assert!(throttle.check(10_002).allowed);
        assert!(!throttle.check(10_003).allowed);
        // A quiet interval in between changes nothing: the count is of the last busy one.
        assert_eq!(throttle.check(45_000).suppressed_before, 1);
    }

    #[test]
    fn an_interval_without_excess_reports_nothing() {
        let throttle = Throttle::new(10, Duration::from_secs(1));
        for i in 0..10 {
            assert!(throttle.check(i).allowed);
        }
        assert_eq!(throttle.check(1_000).suppressed_before, 0);
        assert_eq!(throttle.take_suppressed(), 0);
    }

    #[test]
    fn a_flush_takes_the_suppressed_count_once_and_keeps_the_burst_spent() {
        let throttle = Throttle::new(2, Duration::from_secs(10));
        for i in 0..7 {
            throttle.check(i);
        }
        assert_eq!(throttle.take_suppressed(), 5);
        assert_eq!(throttle.take_suppressed(), 0);
        assert!(!throttle.check(8).allowed);
        assert_eq!(throttle.take_suppressed(), 1);
    }

    #[test]
    fn racing_threads_lose_no_line() {
        let throttle = Throttle::new(10, Duration::from_millis(1));
        let clock = AtomicU64::new(0);
        let (allowed, reported) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let (mut allowed, mut reported) = (0, 0);
                        for _ in 0..10_000 {
                            let now = clock.fetch_add(1, Ordering::Relaxed) / 500;
                            let verdict = throttle.check(now);
                            allowed += u64::from(verdict.allowed);
                            reported += verdict.suppressed_before;
                        }
                        (allowed, reported)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |(a, r), (x, y)| (a + x, r + y))
        });
        assert_eq!(allowed + reported + throttle.take_suppressed(), 40_000);
    }

    #[test]
    fn events_are_throttled_apart_and_unknown_names_get_slots() {
        let registry = Registry {
            names: [const { OnceLock::new() }; SLOTS],
            throttles: [const { Throttle::new(1, Duration::from_secs(60)) }; SLOTS],
        };
        assert!(registry.get("a").unwrap().check(0).allowed);
        assert!(!registry.get("a").unwrap().check(0).allowed);
        assert!(registry.get("b").unwrap().check(0).allowed);
        assert_eq!(registry.iter().count(), 2);
    }
}
