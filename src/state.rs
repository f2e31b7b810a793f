//! The handles every handler shares: cheap to clone.

use crate::clock::Clock;
use crate::directory::Directory;
use crate::store::CallStore;
use crate::verify::{Outbox, Verifier};
use std::sync::Arc;
use url::Url;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// Conferences and participants.
    pub directory: Arc<Directory>,
    /// Sends and checks codes.
    pub verifier: Arc<dyn Verifier>,
    /// Call state between webhooks.
    pub calls: Arc<dyn CallStore>,
    /// The development outbox; `Some` only in development mode.
    pub outbox: Option<Outbox>,
    /// The base URL the carrier reaches this server at.
    pub public_url: Url,
    /// Time.
    pub clock: Arc<dyn Clock>,
}
