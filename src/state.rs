//! The handles every handler shares: cheap to clone.

use crate::carrier::Carriers;
use crate::clock::Clock;
use crate::service::CallService;
use crate::store::Store;
use crate::verify::Outbox;
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

/// Shared application state: one `Arc`, so that the clone every request makes is one
/// reference count (cloning the fields, some of which allocate, showed in profiles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Shares `shared` between the handlers.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler reads.
pub struct Shared {
    /// The call's use case (roster, verifier, store, sealer, limits).
    pub calls: CallService,
    /// The carriers whose webhooks are served.
    pub carriers: Carriers,
    /// Marks and counters shared between webhooks (and instances).
    pub store: Arc<dyn Store>,
    /// The development outbox; `Some` only with the `dev` verifier.
    pub outbox: Option<Outbox>,
    /// `BRIDGEKEEPER_ADMIN_TOKEN`: opens `/dev/outbox` when a real carrier can reach the
    /// server.
    pub admin_token: Option<SecretString>,
    /// The base URL the carriers reach this server at; signatures are checked against it.
    pub public_url: Url,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Signs the web console's cookies and tokens (derived from the server secret).
    pub console_key: [u8; 32],
}

impl Shared {
    /// Unix seconds now.
    pub fn unix_now(&self) -> u64 {
        self.clock.unix_now()
    }

    /// Whether the server runs in development mode: no carrier authenticates its webhooks.
    pub fn development(&self) -> bool {
        !self.carriers.any_authenticated()
    }
}
