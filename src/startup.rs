//! Builds the application on a listener the caller binds, and serves it until a shutdown
//! future the caller supplies completes.

use crate::carrier::{CarrierKind, Carriers};
use crate::clock::Clock;
use crate::config::{SecretSource, Settings, StoreSettings, redacted_url};
use crate::directory::Directory;
use crate::reload::{Accepts, Reloader};
use crate::roster::SharedRoster;
use crate::routes;
use crate::secret::ServerSecret;
use crate::service::CallService;
use crate::state::AppState;
use crate::store::{MemoryStore, RedisStore, Store};
use crate::token::Sealer;
use crate::verify::LocalLimits;
use crate::verify::build::Engine;
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
    /// `--metrics-listen`: serves only `GET /metrics`, without the admin token.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The in-memory store, swept now and then (None with a store that expires by itself).
    memory: Option<Arc<MemoryStore>>,
    /// Where the in-memory store is kept across restarts, if anywhere.
    state_file: Option<PathBuf>,
    /// The participants file, reloaded while serving.
    participants: PathBuf,
    /// What a reloaded participants file must fit (the verifier's channels).
    accepts: Accepts,
    /// How many connections are served at once, and for how long.
    connections: crate::config::ConnectionLimits,
}

impl Application {
    /// Loads the participants, picks the verifier and store, and binds the listener.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let directory = Directory::load(&settings.participants)?;
        // A participant's channel that the verifier cannot deliver is refused now (and on
        // every reload), never at call time.
        let accepts = Accepts {
            verifier: settings.verifier.name(),
            channels: settings.verifier.channels(),
        };
        directory.check_channels(accepts.verifier, accepts.channels)?;
        for warning in directory.warnings() {
            tracing::warn!(event = "directory.warning", "{warning}");
        }
        let secret = match &settings.secret {
            SecretSource::Given(secret) => secret.clone(),
            SecretSource::FromAuthToken => match &settings.carriers.twilio {
                Some(token) => ServerSecret::derived_from_auth_token(token.expose_secret()),
                None => anyhow::bail!("no auth token to derive a secret from"),
            },
            SecretSource::FromCarrierKey(key) => {
                ServerSecret::derived_from_auth_token(key.expose_secret())
            }
            SecretSource::File(path) => ServerSecret::load_or_create(path)?,
        };
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let metrics_listener = match &settings.metrics_listen {
            Some(metrics) => Some(
                TcpListener::bind(metrics)
                    .await
                    .with_context(|| format!("cannot listen on {metrics} (--metrics-listen)"))?,
            ),
            None => None,
        };
        let public_url = match settings.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{addr}"))?,
        };
        let (store, memory): (Arc<dyn Store>, _) = match &settings.store {
            StoreSettings::Memory => {
                let memory = Arc::new(MemoryStore::with_cap(
                    clock.clone(),
                    settings.memory_max_entries,
                ));
                if let Some(path) = &settings.state_file {
                    match memory.restore(path) {
                        Ok(entries) => tracing::info!(
                            event = "store.restored",
                            entries,
                            path = %path.display(),
                            "kept counters, replay marks and codes from the last run"
                        ),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => tracing::warn!(
                            event = "store.restore_failed",
                            path = %path.display(),
                            error = %e,
                            "could not read the last run's store; starting empty"
                        ),
                    }
                }
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
        let built = crate::verify::build::build(
            settings.verifier,
            Engine {
                key: secret.key("local verifier v1"),
                store: store.clone(),
                clock: clock.clone(),
                limits: LocalLimits {
                    max_sends: settings.limits.local_sends_per_number,
                    ..LocalLimits::default()
                },
            },
            settings.verify_timeout,
        )
        .map_err(|e| {
            anyhow::anyhow!("cannot use BRIDGEKEEPER_VERIFIER={}: {e}", accepts.verifier)
        })?;
        tracing::info!(
            event = "server.verifier",
            verifier = accepts.verifier,
            "codes go through {}",
            built.description
        );
        let (verifier, outbox) = (built.verifier, built.outbox);
        debug_assert_eq!(verifier.channels(), accepts.channels);
        let carriers = Carriers::from_settings(&settings.carriers, &public_url)
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut controls: std::collections::HashMap<
            crate::carrier::CarrierKind,
            Arc<dyn crate::conference::control::ConferenceActions>,
        > = std::collections::HashMap::new();
        for control in settings.conference_control {
            let client = crate::conference::control::ConferenceControl::new(
                crate::conference::control::ControlConfig {
                    flavor: control.flavor,
                    base_url: control.base_url.clone(),
                    timeout: settings.verify_timeout,
                },
            )
            .map_err(|e| anyhow::anyhow!("cannot use {}'s REST API: {e}", control.carrier))?;
            tracing::info!(
                event = "server.conference_control",
                carrier = control.carrier.as_str(),
                "moderator actions reach {} at {}",
                control.carrier,
                control.base_url
            );
            controls.insert(control.carrier, Arc::new(client));
        }
        let moderation = crate::conference::moderation::Moderation::new(
            crate::conference::live::LiveRoster::new(store.clone(), clock.clone()),
            controls,
        );
        let calls = CallService {
            moderation,
            roster: Arc::new(SharedRoster::new(directory, secret.key("roster v1"))),
            verifier,
            store: store.clone(),
            sealer: Sealer::new(secret.key("call state v1")),
            limits: settings.limits,
            // The in-memory store forgets the calls' marks on a restart: refuse states issued
            // before this process started, beyond what a prompt in flight can explain.
            restart_floor: memory.as_ref().map(|_| {
                clock
                    .unix_now()
                    .saturating_sub(crate::service::RESTART_GRACE_SECS)
            }),
            clock: clock.clone(),
        };
        let state = AppState::new(crate::state::Shared {
            calls,
            carriers,
            store,
            outbox,
            admin_token: settings.admin_token,
            public_url,
            clock,
            console_key: secret.key("console v1"),
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
            memory,
            state_file: settings.state_file,
            participants: settings.participants,
            accepts,
            connections: settings.connections,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address `--metrics-listen` bound, if set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
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
        let reloader = Reloader::start(
            self.participants.clone(),
            self.state.calls.roster.clone(),
            self.accepts,
        );
        let conferences = self
            .state
            .calls
            .roster
            .current()
            .directory()
            .conferences()
            .len();
        let base = with_slash(&self.state.public_url);
        let entries: Vec<String> = self
            .state
            .carriers
            .served()
            .iter()
            .map(|c| {
                format!(
                    "{} {base}{}",
                    c.kind(),
                    c.kind().entry_path().trim_start_matches('/')
                )
            })
            .collect();
        tracing::info!(
            event = "server.listening",
            conferences,
            "listening on http://{addr}; carrier entries: {}",
            entries.join(", ")
        );
        banner(&self.state);
        let metrics = self.metrics_listener.map(|listener| {
            if let Ok(at) = listener.local_addr() {
                tracing::info!(
                    event = "server.metrics",
                    "metrics at http://{at}/metrics, without the admin token: keep this \
                     address private"
                );
            }
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let served = tokio::spawn(crate::server::serve(
                listener,
                routes::metrics_router(self.state.clone()),
                async {
                    let _ = stopped.await;
                },
                METRICS_CONNECTIONS,
            ));
            (stop, served)
        });
        let upkeep = tokio::spawn(crate::metrics::upkeep());
        let state_file = self.state_file.clone();
        let sweeper = self.memory.clone().map(|memory| {
            let state_file = state_file.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    memory.sweep();
                    // Kept every minute too, so that a crash loses at most a minute; skipped
                    // while a flood fills the store (it is written on shutdown all the same).
                    if let Some(path) = &state_file
                        && memory.len() <= STATE_SAVED_EVERY_MINUTE_UP_TO
                    {
                        save_state(&memory, path);
                    }
                }
            })
        });
        // Lines dropped by a full log queue are counted, and said, every ten seconds.
        let dropped_reporter = tokio::spawn(async {
            let mut reported = crate::telemetry::dropped_lines();
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let dropped = crate::telemetry::dropped_lines();
                if dropped > reported {
                    tracing::warn!(
                        event = "log.dropped",
                        dropped = dropped - reported,
                        "log lines dropped: the log writer could not keep up"
                    );
                    reported = dropped;
                }
            }
        });
        let app = routes::router(self.state);
        let served = crate::server::serve(self.listener, app, shutdown, self.connections).await;
        crate::log_throttle::flush();
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        dropped_reporter.abort();
        upkeep.abort();
        if let Some((stop, served)) = metrics {
            let _ = stop.send(());
            let _ = served.await;
        }
        if let (Some(memory), Some(path)) = (&self.memory, &state_file) {
            memory.sweep();
            save_state(memory, path);
        }
        reloader.stop();
        tracing::info!(event = "server.stopped", "server stopped");
        served
    }
}

/// The connections of the `--metrics-listen` address: a scraper or two.
const METRICS_CONNECTIONS: crate::config::ConnectionLimits = crate::config::ConnectionLimits {
    max_connections: 16,
    header_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
};

/// The largest store that is also written every minute (not only on shutdown).
const STATE_SAVED_EVERY_MINUTE_UP_TO: usize = 100_000;

/// Writes the in-memory store to `path`, saying so in the log.
fn save_state(memory: &MemoryStore, path: &std::path::Path) {
    match memory.save(path) {
        Ok(entries) => tracing::debug!(event = "store.saved", entries, path = %path.display()),
        Err(e) => tracing::warn!(
            event = "store.save_failed",
            path = %path.display(),
            error = %e,
            "could not keep the in-memory store for the next start"
        ),
    }
}

/// The start-up banner: which carriers are served and how, which verifier sends codes.
fn banner(state: &AppState) {
    let base = with_slash(&state.public_url);
    let verifier = state.calls.verifier.name();
    if state.development() {
        if state.outbox.is_some() {
            tracing::warn!(
                event = "server.development_mode",
                verifier,
                "DEVELOPMENT MODE: no carrier credential is set, so every carrier's webhooks are \
                 served WITHOUT authentication, and codes are NOT really sent (read them at \
                 GET {base}dev/outbox). Try it with `bridgekeeper call`; set a carrier's \
                 credential before a real carrier can reach this server."
            );
        } else {
            tracing::warn!(
                event = "server.development_mode",
                verifier,
                "DEVELOPMENT MODE: no carrier credential is set, so every carrier's webhooks are \
                 served WITHOUT authentication while codes really go through {verifier}: anyone \
                 who reaches this server can make it send codes. Set a carrier's credential \
                 before a real carrier can reach this server."
            );
        }
        return;
    }
    for carrier in state.carriers.served() {
        let kind = carrier.kind();
        tracing::info!(
            event = "server.carrier",
            carrier = kind.as_str(),
            verifier,
            "{kind}: webhooks at {}{} are authenticated ({})",
            base,
            kind.entry_path().trim_start_matches('/'),
            match kind {
                CarrierKind::Twilio => "X-Twilio-Signature, keyed by TWILIO_AUTH_TOKEN",
                CarrierKind::SignalWire =>
                    "X-SignalWire-Signature, keyed by SIGNALWIRE_SIGNING_KEY",
                CarrierKind::Telnyx => "Ed25519, TELNYX_PUBLIC_KEY, timestamps within 300 s",
                CarrierKind::CarrierX => "the key in the URL, BRIDGEKEEPER_CARRIERX_KEY",
            }
        );
    }
    if state.outbox.is_some() {
        tracing::warn!(
            event = "server.dev_verifier",
            "the dev verifier sends NO text messages: codes are only at GET {base}dev/outbox, \
             which answers only with Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>{}",
            if state.admin_token.is_some() {
                ""
            } else {
                " (no token is set, so it answers 404)"
            }
        );
    }
    if state.public_url.scheme() != "https" {
        tracing::warn!(
            event = "server.public_url_not_https",
            "the public URL is not https: carriers sign the URL they call, so set \
             BRIDGEKEEPER_PUBLIC_URL to it (the ngrok https URL) or every webhook gets 403"
        );
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
