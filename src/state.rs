//! The handles every handler shares: cheap to clone.

use crate::clock::Clock;
use crate::directory::Directory;
use crate::store::CallStore;
use crate::verify::{Outbox, Verifier};
use secrecy::SecretString;
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
    /// The base URL the carrier reaches this server at; signatures are checked against it.
    pub public_url: Url,
    /// The absolute URL the keypad input goes to, derived once from `public_url`.
    pub code_url: String,
    /// With it, every webhook must carry a valid `X-Twilio-Signature`.
    pub webhook_token: Option<SecretString>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}
