//! What must be shared between webhooks and instances beyond the call's own signed state:
//! each call's high-water mark (so that an old state cannot be replayed) and counters with
//! a time window (tries and codes per number, the global code budget). In memory by default.

pub mod keys;
pub mod memory;
pub mod redis;

use crate::BoxFuture;
use crate::domain::CallSid;
use std::time::Duration;

pub use keys::{Key, NumberKey};
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or failed; the text is for the log only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// A map's fields and their values.
pub type MapFields = Vec<(String, Vec<u8>)>;

/// Shared state with expiry.
pub trait Store: Send + Sync + 'static {
    /// Accepts step `seq` of call `sid` once: true when no later or equal step was accepted
    /// before (then the mark moves past `seq`), false for a stale or replayed state. The mark
    /// is kept for `ttl`.
    fn advance<'a>(
        &'a self,
        sid: &'a CallSid,
        seq: u8,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds one to the counter `key`, which lives for `window` from its first increment, and
    /// returns the new count.
    fn incr<'a>(&'a self, key: &'a str, window: Duration)
    -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Takes one back from the counter `key` (never below zero), keeping its expiry: a try
    /// reserved before an answer that proved it was not a wrong guess.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The counter `key` now (0 when absent or expired).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The value under `key`, if any and not expired.
    fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Takes `key` for `ttl` if nobody holds it: true for the first taker only.
    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Forgets `key` (a value or a counter).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Appends `value` to the list `key`, keeping only the newest `keep` entries; the list
    /// lives for `ttl` after its last append.
    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The list `key`, oldest first (empty when absent or expired).
    fn recent<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, StoreError>>;

    /// Every field of the map `key` and its value (empty when absent or expired).
    fn map_all<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MapFields, StoreError>>;

    /// One field of the map `key`, if any (and the map not expired).
    fn map_get<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Compare and swap one field of the map `key`, atomically: when the field holds
    /// `expected` (`None`: the field is absent), it becomes `value` (`None`: removed) and the
    /// map lives for `ttl` from now; true when swapped, false (nothing changed) when the field
    /// held something else. Callers read, decide, and retry on false.
    fn map_swap<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
        expected: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Whether the store answers now.
    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// A short name for logs and `/healthz`.
    fn name(&self) -> &'static str;
}
