//! Builds the application on a listener the caller binds, and serves it until a shutdown
//! future the caller supplies completes.

use crate::clock::Clock;
use crate::config::{Mode, SecretSource, Settings, StoreSettings, redacted_url};
use crate::directory::Directory;
use crate::reload::Reloader;
use crate::roster::SharedRoster;
use crate::routes;
use crate::secret::ServerSecret;
use crate::state::AppState;
use crate::store::{MemoryStore, RedisStore, Store};
use crate::token::Sealer;
use crate::verify::{
    LocalLimits, LocalVerifier, Outbox, TwilioVerify, TwilioVerifyConfig, Verifier,
};
use anyhow::Context;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use url::Url;

/// How long connecting to Redis, and each Redis command, may take: a webhook must still
/// answer well inside the carrier's 15 seconds when Redis is gone.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often expired codes and call states are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A built application: bound, loaded, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The in-memory store, swept now and then (None with a store that expires by itself).
    memory: Option<Arc<MemoryStore>>,
    /// The participants file, reloaded while serving.
    participants: PathBuf,
    /// How many connections are served at once, and for how long.
    connections: crate::config::ConnectionLimits,
}

impl Application {
    /// Loads the participants, picks the verifier and store, and binds the listener.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let directory = Directory::load(&settings.participants)?;
        for warning in directory.warnings() {
            tracing::warn!(event = "directory.warning", "{warning}");
        }
        let secret = match &settings.secret {
            SecretSource::Given(secret) => secret.clone(),
            SecretSource::FromAuthToken => match &settings.mode {
                Mode::Twilio(twilio) => {
                    ServerSecret::derived_from_auth_token(twilio.auth_token.expose_secret())
                }
                Mode::Development => anyhow::bail!("no auth token to derive a secret from"),
            },
            SecretSource::File(path) => ServerSecret::load_or_create(path)?,
        };
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let public_url = match settings.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{addr}"))?,
        };
        let (store, memory): (Arc<dyn Store>, _) = match &settings.store {
            StoreSettings::Memory => {
                let memory = Arc::new(MemoryStore::new(clock.clone()));
                (memory.clone(), Some(memory))
            }
            StoreSettings::Redis { url, prefix } => {
                let redis = RedisStore::connect(url.expose_secret(), prefix, REDIS_TIMEOUT)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot use Redis at {} (is it running? check BRIDGEKEEPER_REDIS_URL)",
                            redacted_url(url.expose_secret())
                        )
                    })?;
                tracing::info!(
                    event = "store.connected",
                    store = "redis",
                    url = %redacted_url(url.expose_secret()),
                    prefix = %prefix,
                    "shared state in Redis"
                );
                (Arc::new(redis), None)
            }
        };
        let code_url = format!(
            "{}{}",
            public_url.as_str().trim_end_matches('/'),
            crate::dialect::CODE_PATH
        );
        let (verifier, outbox, webhook_token): (Arc<dyn Verifier>, _, _) = match settings.mode {
            Mode::Development => {
                let outbox = Outbox::new(store.clone());
                let local = Arc::new(LocalVerifier::new(
                    secret.key("local verifier v1"),
                    store.clone(),
                    outbox.clone(),
                    clock.clone(),
                    LocalLimits {
                        max_sends: settings.limits.local_sends_per_number,
                        ..LocalLimits::default()
                    },
                ));
                (local, Some(outbox), None)
            }
            Mode::Twilio(twilio) => {
                let client = TwilioVerify::new(TwilioVerifyConfig {
                    base_url: twilio.verify_base_url,
                    account_sid: twilio.account_sid,
                    auth_token: twilio.auth_token.clone(),
                    service_sid: twilio.verify_service_sid,
                    timeout: settings.verify_timeout,
                })?;
                (Arc::new(client), None, Some(twilio.auth_token))
            }
        };
        let state = AppState {
            roster: Arc::new(SharedRoster::new(directory, secret.key("roster v1"))),
            verifier,
            store: store.clone(),
            sealer: Sealer::new(secret.key("call state v1")),
            limits: settings.limits,
            outbox,
            public_url,
            code_url,
            webhook_token,
            clock,
        };
        Ok(Self {
            listener,
            state,
            memory,
            participants: settings.participants,
            connections: settings.connections,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        // Before the listening line, so that SIGHUP reloads from then on.
        let reloader = Reloader::start(self.participants.clone(), self.state.roster.clone());
        let conferences = self.state.roster.current().directory().conferences().len();
        tracing::info!(
            event = "server.listening",
            conferences,
            "listening on http://{addr}; point the carrier's voice webhook at {}voice",
            with_slash(&self.state.public_url)
        );
        if self.state.outbox.is_some() {
            tracing::warn!(
                event = "server.development_mode",
                "DEVELOPMENT MODE: webhooks are NOT authenticated and codes are NOT really sent \
                 (read them at GET /dev/outbox). Do not expose this server to a real carrier."
            );
        } else {
            tracing::info!(
                event = "server.twilio_mode",
                verifier = self.state.verifier.name(),
                "Twilio mode: every webhook must carry a valid X-Twilio-Signature for {}",
                with_slash(&self.state.public_url)
            );
            if self.state.public_url.scheme() != "https" {
                tracing::warn!(
                    event = "server.public_url_not_https",
                    "the public URL is not https: Twilio signs the URL it calls, so set \
                     BRIDGEKEEPER_PUBLIC_URL to it (the ngrok https URL) or every webhook gets 403"
                );
            }
        }
        let sweeper = self.memory.clone().map(|memory| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    memory.sweep();
                }
            })
        });
        let app = routes::router(self.state);
        let served = crate::server::serve(self.listener, app, shutdown, self.connections).await;
        crate::log_throttle::flush();
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        reloader.stop();
        tracing::info!(event = "server.stopped", "server stopped");
        served
    }
}

/// The URL as text, ending in exactly one slash.
fn with_slash(url: &Url) -> String {
    let text = url.as_str();
    if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn ctrl_c_or_sigterm() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Completes on Ctrl-C or SIGTERM, saying that the server drains.
pub async fn shutdown_signal() {
    ctrl_c_or_sigterm().await;
    tracing::info!(
        event = "server.shutdown",
        "shutting down: finishing in-flight webhooks"
    );
}
