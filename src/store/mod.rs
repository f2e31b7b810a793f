//! Where a call's state lives between webhooks: in memory now, a shared store later.

pub mod memory;

use crate::BoxFuture;
use crate::call::CallState;
use crate::domain::CallSid;

pub use memory::MemoryStore;

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or failed; the text is for the log only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Keeps each live call's state, keyed by its `CallSid`, for a bounded time.
pub trait CallStore: Send + Sync + 'static {
    /// The state saved for `sid`, if any and not expired.
    fn load<'a>(&'a self, sid: &'a CallSid)
    -> BoxFuture<'a, Result<Option<CallState>, StoreError>>;
    /// Saves the state for `sid`, replacing what was there.
    fn save<'a>(
        &'a self,
        sid: &'a CallSid,
        state: &'a CallState,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Forgets `sid` (the call ended).
    fn remove<'a>(&'a self, sid: &'a CallSid) -> BoxFuture<'a, Result<(), StoreError>>;
}
