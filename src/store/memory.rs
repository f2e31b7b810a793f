//! The default store: a concurrent map in this process, entries expiring after a call's
//! longest plausible life.

use crate::BoxFuture;
use crate::call::CallState;
use crate::clock::Clock;
use crate::domain::CallSid;
use crate::store::{CallStore, StoreError};
use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Call states in memory, each kept for `ttl` after its last save.
#[derive(Debug)]
pub struct MemoryStore {
    calls: DashMap<CallSid, (Instant, CallState)>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl MemoryStore {
    /// How long a call's state is kept after its last webhook by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);

    /// An empty store.
    pub fn new(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            calls: DashMap::new(),
            clock,
            ttl,
        }
    }

    /// Drops expired entries; called now and then so memory stays bounded.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.calls.retain(|_, (expires, _)| *expires > now);
    }

    /// Number of calls held.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is held.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

impl CallStore for MemoryStore {
    fn load<'a>(
        &'a self,
        sid: &'a CallSid,
    ) -> BoxFuture<'a, Result<Option<CallState>, StoreError>> {
        Box::pin(async move {
            let now = self.clock.now();
            Ok(self
                .calls
                .get(sid)
                .filter(|entry| entry.0 > now)
                .map(|entry| entry.1.clone()))
        })
    }

    fn save<'a>(
        &'a self,
        sid: &'a CallSid,
        state: &'a CallState,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let expires = self.clock.now() + self.ttl;
            self.calls.insert(sid.clone(), (expires, state.clone()));
            Ok(())
        })
    }

    fn remove<'a>(&'a self, sid: &'a CallSid) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.calls.remove(sid);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::PhoneNumber;

    fn state() -> CallState {
        CallState::new("Weekly sync", PhoneNumber::parse("+15551230001").unwrap())
    }

    #[tokio::test]
    async fn saved_state_loads_until_it_expires() {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryStore::new(clock.clone(), Duration::from_secs(60));
        let sid = CallSid::parse("CA1").unwrap();
        assert_eq!(store.load(&sid).await, Ok(None));
        store.save(&sid, &state()).await.unwrap();
        assert_eq!(store.load(&sid).await, Ok(Some(state())));
        clock.advance(Duration::from_secs(60));
        assert_eq!(store.load(&sid).await, Ok(None));
        store.sweep();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn removed_state_is_gone() {
        let store = MemoryStore::new(Arc::new(ManualClock::default()), Duration::from_secs(60));
        let sid = CallSid::parse("CA1").unwrap();
        store.save(&sid, &state()).await.unwrap();
        store.remove(&sid).await.unwrap();
        assert_eq!(store.load(&sid).await, Ok(None));
    }
}
