//! The default store: concurrent maps in this process, entries expiring on their own, and
//! bounded: past a cap (1,000,000 entries by default, about 150 MB) the oldest call marks are
//! evicted first, then the oldest other entries, so that no flood can grow it without end.

use crate::BoxFuture;
use crate::clock::Clock;
use crate::domain::CallSid;
use crate::store::{MapFields, Store, StoreError};
use dashmap::DashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Shards per map. Under load the maps hold one entry per call for hours, and a growing
/// shard is rehashed whole: many small shards keep each rehash (a latency spike) short.
const SHARDS: usize = 128;

/// Call marks and counters in memory.
#[derive(Debug)]
pub struct MemoryStore {
    marks: DashMap<CallSid, (Instant, u8)>,
    counters: DashMap<String, (Instant, u64)>,
    values: DashMap<String, (Instant, Vec<u8>)>,
    lists: DashMap<String, (Instant, VecDeque<Vec<u8>>)>,
    maps: DashMap<String, (Instant, std::collections::HashMap<String, Vec<u8>>)>,
    clock: Arc<dyn Clock>,
    /// The most entries held; past it the oldest are evicted.
    cap: usize,
    /// Inserts since the size was last checked (checking on every insert would cost the hot
    /// path a walk over every shard).
    inserts: AtomicUsize,
}

/// How often (in inserts) the size is checked against the cap.
const CHECK_EVERY: usize = 256;

/// The default cap on entries.
pub const DEFAULT_CAP: usize = 1_000_000;

impl MemoryStore {
    /// An empty store with the default cap.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_cap(clock, DEFAULT_CAP)
    }

    /// An empty store holding at most about `cap` entries.
    pub fn with_cap(clock: Arc<dyn Clock>, cap: usize) -> Self {
        Self {
            marks: DashMap::with_shard_amount(SHARDS),
            counters: DashMap::with_shard_amount(SHARDS),
            values: DashMap::with_shard_amount(SHARDS),
            lists: DashMap::new(),
            maps: DashMap::new(),
            clock,
            cap: cap.max(16),
            inserts: AtomicUsize::new(0),
        }
    }

    /// Drops expired entries and gives their memory back; called now and then.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.marks.retain(|_, (expires, _)| *expires > now);
        self.counters.retain(|_, (expires, _)| *expires > now);
        self.values.retain(|_, (expires, _)| *expires > now);
        self.lists.retain(|_, (expires, _)| *expires > now);
        self.maps.retain(|_, (expires, _)| *expires > now);
        // Retaining frees the entries but not the tables' capacity: shrink what is mostly empty.
        if self.marks.capacity() > 4 * self.marks.len() + 1024 {
            self.marks.shrink_to_fit();
        }
        if self.counters.capacity() > 4 * self.counters.len() + 1024 {
            self.counters.shrink_to_fit();
        }
        if self.values.capacity() > 4 * self.values.len() + 1024 {
            self.values.shrink_to_fit();
        }
    }

    /// After an insert: now and then, when over the cap, drop expired entries and then the
    /// oldest ones (call marks first: they only stop old states being replayed, and a state
    /// older than the evicted marks is near its own expiry), down to 90% of the cap.
    fn bound(&self) {
        if !self
            .inserts
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CHECK_EVERY)
            || self.len() <= self.cap
        {
            return;
        }
        self.sweep();
        let target = self.cap - self.cap / 10;
        let over = self.len().saturating_sub(target);
        if over == 0 {
            return;
        }
        let evicted = evict_oldest(&self.marks, over)
            + evict_oldest(
                &self.counters,
                over.saturating_sub(self.marks.len().min(over)),
            )
            + evict_oldest(&self.values, self.len().saturating_sub(target));
        if crate::log_throttle::allow("store.evicted") {
            tracing::warn!(
                event = "store.evicted",
                evicted,
                cap = self.cap,
                "the in-memory store is full: the oldest entries were evicted (a flood?)"
            );
        }
    }

    /// Entries held (marks, counters and values).
    pub fn len(&self) -> usize {
        self.marks.len()
            + self.counters.len()
            + self.values.len()
            + self.lists.len()
            + self.maps.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry of a saved store, with the time it has left.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    /// `m` mark, `c` counter, `v` value, `l` list.
    kind: char,
    key: String,
    /// Milliseconds left before it expires.
    left_ms: u64,
    /// A mark's step or a counter's count.
    #[serde(default)]
    n: u64,
    /// A value's bytes, or a list's items.
    #[serde(default)]
    items: Vec<Vec<u8>>,
}

impl MemoryStore {
    /// Writes what the store holds (with the time each entry has left) to `path`, so that a
    /// restart in development mode keeps the counters, the replay marks and the codes. Written
    /// to a temporary file first, then renamed, so that a crash never leaves half a file.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<usize> {
        let now = self.clock.now();
        let left = |expires: Instant| expires.saturating_duration_since(now).as_millis() as u64;
        let mut saved: Vec<Saved> = Vec::with_capacity(self.len());
        for e in self.marks.iter() {
            saved.push(Saved {
                kind: 'm',
                key: e.key().as_str().to_owned(),
                left_ms: left(e.value().0),
                n: u64::from(e.value().1),
                items: Vec::new(),
            });
        }
        for e in self.counters.iter() {
            saved.push(Saved {
                kind: 'c',
                key: e.key().clone(),
                left_ms: left(e.value().0),
                n: e.value().1,
                items: Vec::new(),
            });
        }
        for e in self.values.iter() {
            saved.push(Saved {
                kind: 'v',
                key: e.key().clone(),
                left_ms: left(e.value().0),
                n: 0,
                items: vec![e.value().1.clone()],
            });
        }
        for e in self.lists.iter() {
            saved.push(Saved {
                kind: 'l',
                key: e.key().clone(),
                left_ms: left(e.value().0),
                n: 0,
                items: e.value().1.iter().cloned().collect(),
            });
        }
        saved.retain(|s| s.left_ms > 0);
        let bytes = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        let temporary = path.with_extension("state-writing");
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)?;
        Ok(saved.len())
    }

    /// Reads what [`MemoryStore::save`] wrote; entries whose time ran out are skipped.
    pub fn restore(&self, path: &std::path::Path) -> std::io::Result<usize> {
        let bytes = std::fs::read(path)?;
        let saved: Vec<Saved> = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        let now = self.clock.now();
        let mut restored = 0;
        for entry in saved {
            let expires = now + Duration::from_millis(entry.left_ms);
            match entry.kind {
                'm' => {
                    if let Ok(sid) = CallSid::parse(&entry.key) {
                        let step = u8::try_from(entry.n).unwrap_or(u8::MAX);
                        self.marks.insert(sid, (expires, step));
                    }
                }
                'c' => {
                    self.counters.insert(entry.key, (expires, entry.n));
                }
                'v' => {
                    let value = entry.items.into_iter().next().unwrap_or_default();
                    self.values.insert(entry.key, (expires, value));
                }
                'l' => {
                    self.lists
                        .insert(entry.key, (expires, entry.items.into_iter().collect()));
                }
                _ => continue,
            }
            restored += 1;
        }
        Ok(restored)
    }
}

/// Removes up to `count` entries of `map` with the earliest expiry; how many it removed.
fn evict_oldest<K, V>(map: &DashMap<K, (Instant, V)>, count: usize) -> usize
where
    K: std::hash::Hash + Eq + Clone,
{
    if count == 0 || map.is_empty() {
        return 0;
    }
    let mut expiries: Vec<Instant> = map.iter().map(|e| e.value().0).collect();
    let count = count.min(expiries.len());
    let (_, cutoff, _) = expiries.select_nth_unstable(count - 1);
    let cutoff = *cutoff;
    let before = map.len();
    map.retain(|_, (expires, _)| *expires > cutoff);
    before - map.len()
}

impl Store for MemoryStore {
    fn advance<'a>(
        &'a self,
        sid: &'a CallSid,
        seq: u8,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut entry = self.marks.entry(sid.clone()).or_insert((now, 0));
            let (expires, mark) = *entry;
            let mark = if expires > now { mark } else { 0 };
            if seq < mark {
                return Ok(false);
            }
            *entry = (now + ttl, seq.saturating_add(1));
            drop(entry);
            self.bound();
            Ok(true)
        })
    }

    fn incr<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut entry = self.counters.entry(key.to_owned()).or_insert((now, 0));
            if entry.0 <= now {
                *entry = (now + window, 0);
            }
            entry.1 += 1;
            let count = entry.1;
            drop(entry);
            self.bound();
            Ok(count)
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            if let Some(mut entry) = self.counters.get_mut(key)
                && entry.0 > now
            {
                entry.1 = entry.1.saturating_sub(1);
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .counters
                .get(key)
                .filter(|e| e.0 > now)
                .map_or(0, |e| e.1))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let expires = self.clock.now() + ttl;
            self.values
                .insert(key.to_owned(), (expires, value.to_vec()));
            self.bound();
            Ok(())
        })
    }

    fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .values
                .get(key)
                .filter(|e| e.0 > now)
                .map(|e| e.1.clone()))
        })
    }

    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut entry = self
                .values
                .entry(key.to_owned())
                .or_insert((now, Vec::new()));
            if entry.0 > now {
                return Ok(false);
            }
            *entry = (now + ttl, vec![1]);
            drop(entry);
            self.bound();
            Ok(true)
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.values.remove(key);
            self.counters.remove(key);
            Ok(())
        })
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut entry = self
                .lists
                .entry(key.to_owned())
                .or_insert_with(|| (now, VecDeque::new()));
            if entry.0 <= now {
                entry.1.clear();
            }
            entry.0 = now + ttl;
            entry.1.push_back(value.to_vec());
            while entry.1.len() > keep {
                entry.1.pop_front();
            }
            Ok(())
        })
    }

    fn recent<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .lists
                .get(key)
                .filter(|e| e.0 > now)
                .map(|e| e.1.iter().cloned().collect())
                .unwrap_or_default())
        })
    }

    fn map_all<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MapFields, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .maps
                .get(key)
                .filter(|e| e.0 > now)
                .map(|e| e.1.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default())
        })
    }

    fn map_get<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .maps
                .get(key)
                .filter(|e| e.0 > now)
                .and_then(|e| e.1.get(field).cloned()))
        })
    }

    fn map_swap<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
        expected: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut entry = self
                .maps
                .entry(key.to_owned())
                .or_insert_with(|| (now, std::collections::HashMap::new()));
            if entry.0 <= now {
                entry.1.clear();
            }
            if entry.1.get(field).map(Vec::as_slice) != expected {
                return Ok(false);
            }
            match value {
                Some(v) => {
                    entry.1.insert(field.to_owned(), v.to_vec());
                }
                None => {
                    entry.1.remove(field);
                }
            }
            entry.0 = now + ttl;
            drop(entry);
            self.bound();
            Ok(true)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn a_saved_store_comes_back_with_its_marks_counters_and_values() {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryStore::new(clock.clone());
        let sid = CallSid::parse(&format!("CA{:032x}", 7)).unwrap();
        store
            .advance(&sid, 2, Duration::from_secs(600))
            .await
            .unwrap();
        store
            .incr("wrong:n", Duration::from_secs(3600))
            .await
            .unwrap();
        store
            .incr("wrong:n", Duration::from_secs(3600))
            .await
            .unwrap();
        store.incr("gone", Duration::from_secs(1)).await.unwrap();
        store
            .put("lv:pending:n", b"nonce", Duration::from_secs(600))
            .await
            .unwrap();
        store
            .append("dev:outbox", b"m1", 10, Duration::from_secs(600))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        assert_eq!(store.save(&path).unwrap(), 4);

        let again = MemoryStore::new(clock.clone());
        assert_eq!(again.restore(&path).unwrap(), 4);
        assert_eq!(again.get("wrong:n").await, Ok(2));
        assert_eq!(again.get("gone").await, Ok(0));
        assert_eq!(
            again.advance(&sid, 2, Duration::from_secs(600)).await,
            Ok(false)
        );
        assert_eq!(
            again.fetch("lv:pending:n").await,
            Ok(Some(b"nonce".to_vec()))
        );
        assert_eq!(again.recent("dev:outbox").await, Ok(vec![b"m1".to_vec()]));
        // Time left is kept: the counter still ends an hour after it began.
        clock.advance(Duration::from_secs(3600));
        assert_eq!(again.get("wrong:n").await, Ok(0));
    }

    #[tokio::test]
    async fn a_flood_of_calls_stays_under_the_cap_evicting_the_oldest_marks() {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryStore::with_cap(clock.clone(), 1000);
        let ttl = Duration::from_secs(7800);
        for i in 0..20_000u32 {
            let sid = CallSid::parse(&format!("CA{i:032x}")).unwrap();
            store.advance(&sid, 0, ttl).await.unwrap();
            clock.advance(Duration::from_millis(1));
        }
        assert!(store.len() <= 1000 + CHECK_EVERY, "{} entries", store.len());
        // The newest call is still marked; the oldest was evicted.
        let newest = CallSid::parse(&format!("CA{:032x}", 19_999)).unwrap();
        assert_eq!(store.advance(&newest, 0, ttl).await, Ok(false));
        let oldest = CallSid::parse(&format!("CA{:032x}", 0)).unwrap();
        assert_eq!(store.advance(&oldest, 0, ttl).await, Ok(true));
    }

    #[tokio::test]
    async fn expired_entries_are_dropped_and_their_memory_given_back() {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryStore::new(clock.clone());
        for i in 0..10_000u32 {
            let sid = CallSid::parse(&format!("CA{i:032x}")).unwrap();
            store
                .advance(&sid, 0, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let full = store.marks.capacity();
        clock.advance(Duration::from_secs(61));
        store.sweep();
        assert!(store.is_empty());
        assert!(
            store.marks.capacity() < full,
            "{} of {full}",
            store.marks.capacity()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn store() -> (MemoryStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (MemoryStore::new(clock.clone()), clock)
    }

    #[tokio::test]
    async fn each_step_is_accepted_once_and_never_after_a_later_one() {
        let (s, _) = store();
        let sid = CallSid::parse("CA1").unwrap();
        let ttl = Duration::from_secs(60);
        assert_eq!(s.advance(&sid, 0, ttl).await, Ok(true));
        assert_eq!(s.advance(&sid, 0, ttl).await, Ok(false), "replayed");
        assert_eq!(s.advance(&sid, 1, ttl).await, Ok(true));
        assert_eq!(
            s.advance(&sid, 3, ttl).await,
            Ok(true),
            "a skipped step is fine"
        );
        assert_eq!(s.advance(&sid, 2, ttl).await, Ok(false), "rolled back");
        let other = CallSid::parse("CA2").unwrap();
        assert_eq!(s.advance(&other, 2, ttl).await, Ok(true));
    }

    #[tokio::test]
    async fn marks_expire() {
        let (s, clock) = store();
        let sid = CallSid::parse("CA1").unwrap();
        s.advance(&sid, 5, Duration::from_secs(60)).await.unwrap();
        clock.advance(Duration::from_secs(61));
        assert_eq!(s.advance(&sid, 1, Duration::from_secs(60)).await, Ok(true));
    }

    #[tokio::test]
    async fn counters_count_within_their_window() {
        let (s, clock) = store();
        let w = Duration::from_secs(60);
        assert_eq!(s.get("k").await, Ok(0));
        assert_eq!(s.incr("k", w).await, Ok(1));
        assert_eq!(s.incr("k", w).await, Ok(2));
        assert_eq!(s.get("k").await, Ok(2));
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            s.incr("k", w).await,
            Ok(3),
            "the window runs from the first increment"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(s.get("k").await, Ok(0));
        assert_eq!(s.incr("k", w).await, Ok(1));
        s.sweep();
        assert_eq!(s.len(), 1);
        clock.advance(Duration::from_secs(61));
        s.sweep();
        assert!(s.is_empty());
    }
}
