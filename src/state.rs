//! The handles every handler shares: cheap to clone.

use crate::clock::Clock;
use crate::config::ServerLimits;
use crate::roster::SharedRoster;
use crate::store::Store;
use crate::token::Sealer;
use crate::verify::{Outbox, Verifier};
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// Conferences and participants, swapped whole on reload.
    pub roster: Arc<SharedRoster>,
    /// Sends and checks codes.
    pub verifier: Arc<dyn Verifier>,
    /// Call marks and counters shared between webhooks (and instances).
    pub store: Arc<dyn Store>,
    /// Signs the call state carried in the server's own URLs.
    pub sealer: Sealer,
    /// Limits across calls.
    pub limits: ServerLimits,
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

impl AppState {
    /// Unix seconds now.
    pub fn unix_now(&self) -> u64 {
        self.clock.unix_now()
    }
}
