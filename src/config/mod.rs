//! Typed settings, read once from flags and environment variables and passed down. No other
//! module reads the environment.

mod verifier;

pub use verifier::{
    DEFAULT_MESSAGEBIRD_BASE_URL, DEFAULT_TELNYX_API_BASE_URL, DEFAULT_TWILIO_API_BASE_URL,
    DEFAULT_VERIFY_BASE_URL, MessageBirdVerifySettings, SenderSettings, TelnyxVerifySettings,
    TwilioSettings, VerifierConfigError, VerifierSettings, verifier_settings,
};

use crate::secret::ServerSecret;
pub use crate::server::ConnectionLimits;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// `bridgekeeper serve`: every flag also reads an environment variable.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Carriers (each served, and its webhooks authenticated, when its credential is set; with none \
set the server runs in development mode and serves every carrier unauthenticated):
  TWILIO_AUTH_TOKEN          Twilio, POST /voice (X-Twilio-Signature)
  SIGNALWIRE_SIGNING_KEY     SignalWire, POST /signalwire/voice (the signing key, not the API token)
  TELNYX_PUBLIC_KEY          Telnyx, POST /telnyx/voice (base64 of the 32-byte Ed25519 public key)
  BRIDGEKEEPER_CARRIERX_KEY  CarrierX, POST /carrierx/voice?key=KEY

Verifier (who sends and checks the codes):
  BRIDGEKEEPER_VERIFIER      twilio, telnyx, messagebird, builtin or dev; unset: builtin when
                             BRIDGEKEEPER_SENDER is set, else the one whose credentials are
                             complete (several: refused), else dev
  twilio                     TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_VERIFY_SERVICE_SID
                             [TWILIO_VERIFY_BASE_URL, https://verify.twilio.com]
  telnyx                     TELNYX_API_KEY, TELNYX_VERIFY_PROFILE_ID (a profile sending 6-digit
                             codes) [TELNYX_API_BASE_URL, https://api.telnyx.com]
  messagebird                MESSAGEBIRD_ACCESS_KEY, optional MESSAGEBIRD_ORIGINATOR
                             [MESSAGEBIRD_BASE_URL, https://rest.messagebird.com]
  builtin                    bridgekeeper's own codes, delivered by BRIDGEKEEPER_SENDER:
    twilio                   TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER
                             [TWILIO_API_BASE_URL, https://api.twilio.com]
    telnyx                   TELNYX_API_KEY, TELNYX_FROM_NUMBER [TELNYX_API_BASE_URL]
    messagebird              MESSAGEBIRD_ACCESS_KEY, MESSAGEBIRD_ORIGINATOR [MESSAGEBIRD_BASE_URL]
  BRIDGEKEEPER_SMS_TEMPLATE  builtin's message, with {code} and optional {conference}
Moderator actions (the carrier's REST API, where its credentials are set):
  twilio                     TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN [TWILIO_API_BASE_URL]
  signalwire                 SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN, SIGNALWIRE_SPACE_URL
  telnyx                     TELNYX_API_KEY, TELNYX_ACCOUNT_SID [TELNYX_API_BASE_URL]
  BRIDGEKEEPER_ADMIN_TOKEN   opens GET /dev/outbox and GET /metrics (Authorization: Bearer) once a
                             carrier is real")]
pub struct ServeArgs {
    /// Address to bind (host:port).
    #[arg(long, env = "BRIDGEKEEPER_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: String,

    /// The allowlist of conferences and participants.
    #[arg(
        long,
        env = "BRIDGEKEEPER_PARTICIPANTS",
        default_value = "participants.toml"
    )]
    pub participants: PathBuf,

    /// Base URL the carrier uses to reach this server (an ngrok https URL, say); defaults to
    /// http://<listen>.
    #[arg(long, env = "BRIDGEKEEPER_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<Url>,

    /// The longest one request to the verification service may take (like 5s or 500ms); a
    /// webhook still answers well inside the carrier's 15 seconds.
    #[arg(
        long,
        env = "BRIDGEKEEPER_VERIFY_TIMEOUT",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub verify_timeout: Duration,

    /// Key for the state the server signs into its own URLs; instances behind one load
    /// balancer must share it. Default: derived from TWILIO_AUTH_TOKEN, else from
    /// SIGNALWIRE_SIGNING_KEY; otherwise generated once and kept in --secret-file (set it
    /// for several instances serving Telnyx or CarrierX only).
    #[arg(long, env = "BRIDGEKEEPER_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Where development mode keeps its generated secret.
    #[arg(
        long,
        env = "BRIDGEKEEPER_SECRET_FILE",
        default_value = ".bridgekeeper-secret"
    )]
    pub secret_file: PathBuf,

    /// Wrong codes allowed on one call.
    #[arg(long, env = "BRIDGEKEEPER_MAX_WRONG_PER_CALL", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=20))]
    pub max_wrong_per_call: u8,

    /// Wrong codes allowed per caller number per hour, across calls.
    #[arg(long, env = "BRIDGEKEEPER_MAX_WRONG_PER_NUMBER", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_wrong_per_number: u64,

    /// Codes sent per caller number per hour.
    #[arg(long, env = "BRIDGEKEEPER_MAX_CODES_PER_NUMBER", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_codes_per_number: u64,

    /// Codes sent per minute by the whole server (an SMS-pumping guard).
    #[arg(long, env = "BRIDGEKEEPER_MAX_CODES_PER_MINUTE", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_codes_per_minute: u64,

    /// Guest PIN tries per minute for the whole server (conferences with a `guest_pin`): a
    /// guard against many numbers guessing one PIN together.
    #[arg(long, env = "BRIDGEKEEPER_MAX_PIN_TRIES_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pin_tries_per_minute: u64,

    /// Development mode's local verifier: codes it sends per number per 10 minutes (5, like
    /// Twilio Verify); raised only for benchmarks.
    #[arg(long, env = "BRIDGEKEEPER_LOCAL_SENDS_PER_NUMBER", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub local_sends_per_number: u64,

    /// Also serve GET /metrics (Prometheus text format) on this address (host:port), without
    /// the admin token: for a scraper on a private network. Unset: /metrics only on --listen,
    /// behind BRIDGEKEEPER_ADMIN_TOKEN once a carrier is real.
    #[arg(long, env = "BRIDGEKEEPER_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Log format: `text` for people, `json` for log shippers.
    #[arg(long, env = "BRIDGEKEEPER_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,

    /// Shared store for several instances (redis://[:password@]host:port[/db]); unset: in
    /// memory, for one instance.
    #[arg(long, env = "BRIDGEKEEPER_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// The most entries the in-memory store holds (call marks, counters, codes); past it the
    /// oldest are evicted, so that a flood cannot grow the server without end (about 150
    /// bytes an entry).
    #[arg(long, env = "BRIDGEKEEPER_MEMORY_MAX_ENTRIES", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub memory_max_entries: u64,

    /// Where the in-memory store keeps its counters, replay marks and codes across restarts
    /// (written on shutdown and every minute). Default: in development mode, beside the
    /// generated secret (--secret-file with .state appended); otherwise nowhere (use Redis).
    #[arg(long, env = "BRIDGEKEEPER_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Prefix of every Redis key, so that several lines or test runs can share one Redis.
    #[arg(
        long,
        env = "BRIDGEKEEPER_REDIS_PREFIX",
        default_value = "bridgekeeper:"
    )]
    pub redis_prefix: String,

    /// Connections served at once; when all are taken, a new one closes the oldest idle
    /// connection, or is closed itself if every connection has a request in flight.
    #[arg(long, env = "BRIDGEKEEPER_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,

    /// The longest a client may take to send a request's headers (and the longest a
    /// keep-alive connection may wait for its next request).
    #[arg(
        long,
        env = "BRIDGEKEEPER_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub header_timeout: Duration,

    /// The longest a client may take to send a request's body, from its headers on.
    #[arg(
        long,
        env = "BRIDGEKEEPER_BODY_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub body_timeout: Duration,

    /// The longest a connection may go with no byte moving either way while the server waits
    /// on it (a client that stops reading its response).
    #[arg(
        long,
        env = "BRIDGEKEEPER_IDLE_TIMEOUT",
        default_value = "60s",
        value_parser = parse_duration
    )]
    pub idle_timeout: Duration,
}

/// Where shared state lives.
#[derive(Clone)]
pub enum StoreSettings {
    /// In this process.
    Memory,
    /// In Redis.
    Redis {
        /// The URL, which may hold a password.
        url: SecretString,
        /// The key prefix.
        prefix: String,
    },
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSettings::Memory => f.write_str("Memory"),
            StoreSettings::Redis { url, prefix } => f
                .debug_struct("Redis")
                .field("url", &redacted_url(url.expose_secret()))
                .field("prefix", prefix)
                .finish(),
        }
    }
}

/// A URL with any password replaced, for logs and errors.
pub fn redacted_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("redacted"));
            }
            url.to_string()
        }
        Err(_) => "[unparseable URL]".into(),
    }
}

/// Limits that hold across calls, counted in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Per-call limits, carried in the call's state.
    pub per_call: crate::call::Limits,
    /// Wrong codes per caller number per hour.
    pub wrong_per_number: u64,
    /// Codes sent per caller number per hour.
    pub codes_per_number: u64,
    /// Codes sent per minute, all numbers together.
    pub codes_per_minute: u64,
    /// Sends per number per 10 minutes allowed by the local verifier (development mode).
    pub local_sends_per_number: u64,
    /// Guest PIN tries per minute, all numbers together (a guard against distributed
    /// guessing of a static PIN).
    pub pin_tries_per_minute: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            per_call: crate::call::Limits::default(),
            wrong_per_number: 3,
            codes_per_number: 10,
            codes_per_minute: 600,
            local_sends_per_number: 5,
            pin_tries_per_minute: 60,
        }
    }
}

/// Where the server secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Given with --secret / BRIDGEKEEPER_SECRET.
    Given(ServerSecret),
    /// Derived from the Twilio auth token.
    FromAuthToken,
    /// Derived from SignalWire's signing key, so that instances sharing it share the secret.
    FromCarrierKey(SecretString),
    /// Generated once into this file (development mode).
    File(PathBuf),
}

/// Accepts only absolute http(s) URLs with a host, without query or fragment.
fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    Ok(url)
}

/// The carriers' credentials: a carrier's webhooks are served (and authenticated) when its
/// credential is set; with none set, the server is in development mode and serves every
/// carrier unauthenticated. Independent of the verifier.
#[derive(Clone, Default)]
pub struct CarrierSettings {
    /// `TWILIO_AUTH_TOKEN`: checks `X-Twilio-Signature`.
    pub twilio: Option<SecretString>,
    /// `SIGNALWIRE_SIGNING_KEY`: checks `X-SignalWire-Signature`.
    pub signalwire: Option<SecretString>,
    /// `TELNYX_PUBLIC_KEY`: the Ed25519 key Telnyx signs with (public, not a secret).
    pub telnyx: Option<[u8; 32]>,
    /// `BRIDGEKEEPER_CARRIERX_KEY`: the key CarrierX's URL must carry.
    pub carrierx: Option<SecretString>,
}

impl std::fmt::Debug for CarrierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |present: bool| if present { "set" } else { "unset" };
        f.debug_struct("CarrierSettings")
            .field("twilio", &set(self.twilio.is_some()))
            .field("signalwire", &set(self.signalwire.is_some()))
            .field("telnyx", &set(self.telnyx.is_some()))
            .field("carrierx", &set(self.carrierx.is_some()))
            .finish()
    }
}

impl CarrierSettings {
    /// Whether any carrier credential is set (otherwise: development mode).
    pub fn any(&self) -> bool {
        self.twilio.is_some()
            || self.signalwire.is_some()
            || self.telnyx.is_some()
            || self.carrierx.is_some()
    }
}

/// The server's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub listen: String,
    /// The participants file.
    pub participants: PathBuf,
    /// A second address serving only `GET /metrics`, without the admin token.
    pub metrics_listen: Option<String>,
    /// The carrier-facing base URL; `None` means `http://<bound address>`.
    pub public_url: Option<Url>,
    /// The carriers' credentials.
    pub carriers: CarrierSettings,
    /// Who sends and checks the codes.
    pub verifier: VerifierSettings,
    /// The carriers' REST APIs for moderator actions, where their credentials are set.
    pub conference_control: Vec<ControlSettings>,
    /// `BRIDGEKEEPER_ADMIN_TOKEN`: opens `/dev/outbox` (and the admin API) to scripts.
    pub admin_token: Option<SecretString>,
    /// The longest one request to the verification service may take.
    pub verify_timeout: Duration,
    /// Where the server secret comes from.
    pub secret: SecretSource,
    /// Limits across calls.
    pub limits: ServerLimits,
    /// Where shared state lives.
    pub store: StoreSettings,
    /// How many connections are served at once, and for how long a client may hold one.
    pub connections: ConnectionLimits,
    /// The cap on the in-memory store's entries.
    pub memory_max_entries: usize,
    /// Where the in-memory store is kept across restarts (development mode: beside the
    /// generated secret), if anywhere.
    pub state_file: Option<PathBuf>,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The verifier or sender settings are unusable.
    #[error(transparent)]
    Verifier(#[from] VerifierConfigError),
    /// A carrier credential is set but unusable; the variable is named.
    #[error("{name}: {reason}")]
    BadCredential {
        /// The variable.
        name: &'static str,
        /// What is wrong (never the value).
        reason: &'static str,
    },
    /// `BRIDGEKEEPER_REDIS_URL` is not a Redis URL.
    #[error("BRIDGEKEEPER_REDIS_URL {0}")]
    BadRedisUrl(String),
    /// `BRIDGEKEEPER_SECRET` is unusable.
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    /// The verify timeout cannot let a webhook answer inside Twilio's 15 seconds.
    #[error("--verify-timeout must be between 100ms and 6s, got {0:?}")]
    BadVerifyTimeout(Duration),
    /// A connection timeout of zero would close every connection at once.
    #[error("--{0} must be more than 0")]
    ZeroConnectionTimeout(&'static str),
}

/// The longest a verify timeout may be: a webhook makes at most two requests to the
/// verifier, and both must fit inside Twilio's 15-second webhook timeout with room to spare.
pub const MAX_VERIFY_TIMEOUT: Duration = Duration::from_secs(6);

impl Settings {
    /// Checks the parsed flags against the process environment.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        Self::from_args_and_env(args, |name| std::env::var(name).ok())
    }

    /// Checks the parsed flags, reading Twilio variables through `env` (tests pass a map).
    pub fn from_args_and_env(
        args: ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let verifier = verifier_settings(&env)?;
        let carriers = carrier_settings(&env)?;
        let admin_token = match env("BRIDGEKEEPER_ADMIN_TOKEN") {
            None => None,
            Some(token) if token.trim().len() >= 16 => {
                Some(SecretString::from(token.trim().to_owned()))
            }
            Some(_) => {
                return Err(ConfigError::BadCredential {
                    name: "BRIDGEKEEPER_ADMIN_TOKEN",
                    reason: "must be at least 16 characters",
                });
            }
        };
        let verify_timeout = args.verify_timeout;
        if verify_timeout < Duration::from_millis(100) || verify_timeout > MAX_VERIFY_TIMEOUT {
            return Err(ConfigError::BadVerifyTimeout(verify_timeout));
        }
        let secret = match &args.secret {
            Some(text) => SecretSource::Given(ServerSecret::from_text(text)?),
            None if carriers.twilio.is_some() => SecretSource::FromAuthToken,
            // Never from CarrierX's key: it rides in every URL the server writes, so carrier
            // and proxy logs see it. Telnyx's key is public.
            None => match &carriers.signalwire {
                Some(key) => SecretSource::FromCarrierKey(key.clone()),
                None => SecretSource::File(args.secret_file.clone()),
            },
        };
        let limits = ServerLimits {
            per_call: crate::call::Limits {
                wrong: args.max_wrong_per_call,
                ..crate::call::Limits::default()
            },
            wrong_per_number: args.max_wrong_per_number,
            codes_per_number: args.max_codes_per_number,
            codes_per_minute: args.max_codes_per_minute,
            local_sends_per_number: args.local_sends_per_number,
            pin_tries_per_minute: args.max_pin_tries_per_minute,
        };
        let store = match args.redis_url.filter(|u| !u.trim().is_empty()) {
            None => StoreSettings::Memory,
            Some(url) => {
                let parsed = Url::parse(url.trim()).map_err(|e| {
                    ConfigError::BadRedisUrl(format!("{}: {e}", redacted_url(&url)))
                })?;
                if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                    return Err(ConfigError::BadRedisUrl(format!(
                        "{}: the scheme must be redis:// or rediss://",
                        redacted_url(&url)
                    )));
                }
                StoreSettings::Redis {
                    url: SecretString::from(url.trim().to_owned()),
                    prefix: args.redis_prefix,
                }
            }
        };
        for (name, value) in [
            ("header-timeout", args.header_timeout),
            ("body-timeout", args.body_timeout),
            ("idle-timeout", args.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroConnectionTimeout(name));
            }
        }
        let connections = ConnectionLimits {
            max_connections: args.max_connections as usize,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
        };
        Ok(Self {
            listen: args.listen,
            participants: args.participants,
            metrics_listen: args.metrics_listen.filter(|a| !a.trim().is_empty()),
            conference_control: control_settings(&env)?,
            public_url: args.public_url,
            memory_max_entries: usize::try_from(args.memory_max_entries).unwrap_or(usize::MAX),
            state_file: args.state_file.clone().or_else(|| match &secret {
                SecretSource::File(path) => {
                    let mut name = path.clone().into_os_string();
                    name.push(".state");
                    Some(PathBuf::from(name))
                }
                _ => None,
            }),
            carriers,
            verifier,
            admin_token,
            verify_timeout,
            secret,
            limits,
            store,
            connections,
        })
    }

    /// Development settings for a participants file, on a random loopback port, with a
    /// given secret (tests pass their own).
    pub fn development(participants: PathBuf, secret: ServerSecret) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            participants,
            metrics_listen: None,
            conference_control: Vec::new(),
            public_url: None,
            carriers: CarrierSettings::default(),
            verifier: VerifierSettings::Dev,
            admin_token: None,
            memory_max_entries: crate::store::memory::DEFAULT_CAP,
            state_file: None,
            verify_timeout: DEFAULT_VERIFY_TIMEOUT,
            secret: SecretSource::Given(secret),
            limits: ServerLimits::default(),
            store: StoreSettings::Memory,
            connections: ConnectionLimits::default(),
        }
    }
}

impl Settings {
    /// Twilio mode, as the Twilio-only server had it: Twilio's webhooks signed with the auth
    /// token and codes through Twilio Verify.
    pub fn use_twilio(&mut self, twilio: TwilioSettings) {
        self.carriers.twilio = Some(twilio.auth_token.clone());
        self.verifier = VerifierSettings::Twilio(twilio);
    }
}

/// One carrier's REST API for moderator actions (`../shared/CARRIERS.md`, "Conference
/// control").
#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// The carrier.
    pub carrier: crate::carrier::CarrierKind,
    /// Its credentials.
    pub flavor: crate::conference::control::ControlFlavor,
    /// Its base URL (no path).
    pub base_url: Url,
}

/// Reads the carriers' REST credentials: Twilio with `TWILIO_ACCOUNT_SID` and
/// `TWILIO_AUTH_TOKEN`, SignalWire with `SIGNALWIRE_PROJECT_ID`, `SIGNALWIRE_API_TOKEN` and
/// `SIGNALWIRE_SPACE_URL`, Telnyx with `TELNYX_API_KEY` and `TELNYX_ACCOUNT_SID`. Half a
/// SignalWire or Telnyx set is refused by name.
fn control_settings(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<ControlSettings>, ConfigError> {
    use crate::carrier::CarrierKind;
    use crate::conference::control::ControlFlavor;
    let get = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let base = |name: &'static str, default: &str| -> Result<Url, ConfigError> {
        let raw = get(name).unwrap_or_else(|| default.to_owned());
        parse_base_url(&raw).map_err(|reason| {
            ConfigError::Verifier(VerifierConfigError::BadBaseUrl { name, reason })
        })
    };
    let missing = |what: &str, names: &[&str]| {
        ConfigError::Verifier(VerifierConfigError::Missing {
            what: what.to_owned(),
            missing: names.join(" and "),
        })
    };
    let mut out = Vec::new();
    if let (Some(account_sid), Some(auth_token)) =
        (get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN"))
    {
        out.push(ControlSettings {
            carrier: CarrierKind::Twilio,
            flavor: ControlFlavor::Twilio {
                account_sid,
                auth_token: SecretString::from(auth_token),
            },
            base_url: base("TWILIO_API_BASE_URL", DEFAULT_TWILIO_API_BASE_URL)?,
        });
    }
    let signalwire = [
        "SIGNALWIRE_PROJECT_ID",
        "SIGNALWIRE_API_TOKEN",
        "SIGNALWIRE_SPACE_URL",
    ];
    match signalwire.map(get) {
        [None, None, None] => {}
        [Some(project_id), Some(api_token), Some(space)] => out.push(ControlSettings {
            carrier: CarrierKind::SignalWire,
            flavor: ControlFlavor::SignalWire {
                project_id,
                api_token: SecretString::from(api_token),
            },
            base_url: parse_base_url(&space).map_err(|reason| {
                ConfigError::Verifier(VerifierConfigError::BadBaseUrl {
                    name: "SIGNALWIRE_SPACE_URL",
                    reason,
                })
            })?,
        }),
        values => {
            let absent: Vec<&str> = signalwire
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            return Err(missing(
                "SignalWire's REST API (moderator actions)",
                &absent,
            ));
        }
    }
    match (get("TELNYX_API_KEY"), get("TELNYX_ACCOUNT_SID")) {
        (Some(api_key), Some(account_sid)) => out.push(ControlSettings {
            carrier: CarrierKind::Telnyx,
            flavor: ControlFlavor::Telnyx {
                api_key: SecretString::from(api_key),
                account_sid,
            },
            base_url: base("TELNYX_API_BASE_URL", DEFAULT_TELNYX_API_BASE_URL)?,
        }),
        (None, Some(_)) => {
            return Err(missing(
                "Telnyx's REST API (moderator actions)",
                &["TELNYX_API_KEY"],
            ));
        }
        _ => {}
    }
    Ok(out)
}

/// Reads the carriers' credentials; a set but empty or malformed one is refused by name.
fn carrier_settings(env: &impl Fn(&str) -> Option<String>) -> Result<CarrierSettings, ConfigError> {
    let key = |name: &'static str| -> Result<Option<SecretString>, ConfigError> {
        match env(name) {
            None => Ok(None),
            Some(value) if value.trim().is_empty() => Err(ConfigError::BadCredential {
                name,
                reason: "is set but empty (unset it, or give the key)",
            }),
            Some(value) => Ok(Some(SecretString::from(value.trim().to_owned()))),
        }
    };
    let telnyx = match key("TELNYX_PUBLIC_KEY")? {
        None => None,
        Some(text) => Some(
            crate::carrier::telnyx::parse_public_key(text.expose_secret()).map_err(|reason| {
                ConfigError::BadCredential {
                    name: "TELNYX_PUBLIC_KEY",
                    reason,
                }
            })?,
        ),
    };
    Ok(CarrierSettings {
        // Twilio's empty auth token has always meant "unset".
        twilio: env("TWILIO_AUTH_TOKEN")
            .filter(|v| !v.trim().is_empty())
            .map(|v| SecretString::from(v.trim().to_owned())),
        signalwire: key("SIGNALWIRE_SIGNING_KEY")?,
        telnyx,
        carrierx: key("BRIDGEKEEPER_CARRIERX_KEY")?,
    })
}

/// The default for `--verify-timeout`.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts only absolute http(s) URLs with a host.
fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

/// Reads durations like `100ms`, `2s`, `1.5s`, `250us`, `1m`, or `0`; a bare number is seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 100ms, 2s or 0"))?;
    let seconds = match unit.trim() {
        "us" | "µs" => value / 1_000_000.0,
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?}: use us, ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{raw:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn args() -> ServeArgs {
        Cli::parse_from(["bridgekeeper"]).serve
    }

    fn settings(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_args_and_env(args(), |name| env.get(name).cloned())
    }

    const FULL: [(&str, &str); 3] = [
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_AUTH_TOKEN", "s3cr3t-token"),
        ("TWILIO_VERIFY_SERVICE_SID", "VA123"),
    ];

    #[test]
    fn public_urls_must_be_absolute_http() {
        assert!(parse_public_url("https://abc.ngrok.app").is_ok());
        assert!(parse_public_url("http://127.0.0.1:5000/").is_ok());
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("abc.ngrok.app").is_err());
        assert!(parse_public_url("https://x/?a=1").is_err());
    }

    #[test]
    fn no_twilio_variables_means_development_mode() {
        let dev = settings(&[]).unwrap();
        assert!(matches!(dev.verifier, VerifierSettings::Dev));
        assert!(!dev.carriers.any());
        // Empty values count as unset.
        let empty = settings(&[("TWILIO_AUTH_TOKEN", "")]).unwrap();
        assert!(matches!(empty.verifier, VerifierSettings::Dev));
        assert!(!empty.carriers.any());
    }

    #[test]
    fn all_three_twilio_variables_mean_twilio_mode() {
        let s = settings(&FULL).unwrap();
        let VerifierSettings::Twilio(t) = &s.verifier else {
            panic!("not Twilio mode")
        };
        assert_eq!(t.account_sid, "AC123");
        assert_eq!(t.auth_token.expose_secret(), "s3cr3t-token");
        assert_eq!(t.verify_base_url.as_str(), "https://verify.twilio.com/");
        let mut with_base = FULL.to_vec();
        with_base.push(("TWILIO_VERIFY_BASE_URL", "http://127.0.0.1:9/"));
        let VerifierSettings::Twilio(t) = settings(&with_base).unwrap().verifier else {
            panic!()
        };
        assert_eq!(t.verify_base_url.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn a_partial_twilio_set_is_refused_naming_what_is_missing() {
        let err = settings(&[("TWILIO_VERIFY_SERVICE_SID", "VA1")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("TWILIO_VERIFY_SERVICE_SID set"), "{text}");
        assert!(
            text.contains("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN missing"),
            "{text}"
        );
        let err = settings(&FULL[..2]).unwrap_err().to_string();
        assert!(err.contains("TWILIO_VERIFY_SERVICE_SID missing"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings(&FULL).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cr3t-token"), "{debug}");
        // The auth token alone is a carrier credential: Twilio's webhooks are signed, codes
        // go through the dev verifier.
        let carrier_only = settings(&[("TWILIO_AUTH_TOKEN", "s3cr3t-token")]).unwrap();
        assert!(carrier_only.carriers.twilio.is_some());
        assert!(matches!(carrier_only.verifier, VerifierSettings::Dev));
        assert!(!format!("{carrier_only:?}").contains("s3cr3t-token"));
        let err = settings(&[
            ("TWILIO_AUTH_TOKEN", "s3cr3t-token"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
        ])
        .unwrap_err();
        assert!(!format!("{err:?} {err}").contains("s3cr3t-token"));
    }

    #[test]
    fn carrier_credentials_are_independent_of_the_verifier_and_checked_by_name() {
        let s = settings(&[
            ("SIGNALWIRE_SIGNING_KEY", "PSK_signing"),
            ("BRIDGEKEEPER_CARRIERX_KEY", "cx-key-0123456789"),
            (
                "TELNYX_PUBLIC_KEY",
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            ),
        ])
        .unwrap();
        assert!(s.carriers.signalwire.is_some() && s.carriers.carrierx.is_some());
        assert!(s.carriers.telnyx.is_some());
        assert!(matches!(s.verifier, VerifierSettings::Dev));
        assert!(matches!(s.secret, SecretSource::FromCarrierKey(_)));
        // CarrierX's key is in every URL the server writes: it never derives the secret.
        let cx = settings(&[("BRIDGEKEEPER_CARRIERX_KEY", "cx-key-0123456789")]).unwrap();
        assert!(matches!(cx.secret, SecretSource::File(_)));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("PSK_signing") && !debug.contains("cx-key"),
            "{debug}"
        );
        for (name, value) in [
            ("SIGNALWIRE_SIGNING_KEY", " "),
            ("BRIDGEKEEPER_CARRIERX_KEY", ""),
            ("TELNYX_PUBLIC_KEY", "not base64!"),
            ("TELNYX_PUBLIC_KEY", "AAAA"),
            ("BRIDGEKEEPER_ADMIN_TOKEN", "short"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}: {err}");
        }
        let err = settings(&[("BRIDGEKEEPER_VERIFIER", "carrier-pigeon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("carrier-pigeon"), "{err}");
        let mut env = FULL.to_vec();
        env.push(("BRIDGEKEEPER_VERIFIER", "dev"));
        let dev = settings(&env).unwrap();
        assert!(matches!(dev.verifier, VerifierSettings::Dev));
        assert!(dev.carriers.twilio.is_some());
    }

    #[test]
    fn bad_base_urls_and_timeouts_are_refused() {
        let mut bad = FULL.to_vec();
        bad.push(("TWILIO_VERIFY_BASE_URL", "verify.twilio.com"));
        assert!(matches!(
            settings(&bad),
            Err(ConfigError::Verifier(VerifierConfigError::BadBaseUrl {
                name: "TWILIO_VERIFY_BASE_URL",
                ..
            }))
        ));
        let long = Cli::parse_from(["bk", "--verify-timeout", "20s"]).serve;
        assert!(matches!(
            Settings::from_args_and_env(long, |_| None),
            Err(ConfigError::BadVerifyTimeout(_))
        ));
    }

    #[test]
    fn the_secret_comes_from_the_flag_the_token_or_a_file() {
        assert!(matches!(
            settings(&[]).unwrap().secret,
            SecretSource::File(_)
        ));
        assert!(matches!(
            settings(&FULL).unwrap().secret,
            SecretSource::FromAuthToken
        ));
        let given = Cli::parse_from(["bk", "--secret", "a-shared-secret-of-some-length"]).serve;
        let s = Settings::from_args_and_env(given, |_| None).unwrap();
        assert!(matches!(s.secret, SecretSource::Given(_)));
        assert!(!format!("{s:?}").contains("a-shared-secret"));
        let short = Cli::parse_from(["bk", "--secret", "short"]).serve;
        assert!(matches!(
            Settings::from_args_and_env(short, |_| None),
            Err(ConfigError::Secret(_))
        ));
    }

    #[test]
    fn a_redis_url_selects_the_shared_store_and_its_password_never_shows() {
        assert!(matches!(
            settings(&[]).unwrap().store,
            StoreSettings::Memory
        ));
        let args = Cli::parse_from([
            "bk",
            "--redis-url",
            "redis://:hunter2-password@127.0.0.1:6379/2",
            "--redis-prefix",
            "line-a:",
        ])
        .serve;
        let s = Settings::from_args_and_env(args, |_| None).unwrap();
        let StoreSettings::Redis { prefix, .. } = &s.store else {
            panic!("not Redis")
        };
        assert_eq!(prefix, "line-a:");
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("127.0.0.1:6379"), "{debug}");
        let bad = Cli::parse_from(["bk", "--redis-url", "http://x:hunter2@h"]).serve;
        let err = Settings::from_args_and_env(bad, |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn limits_are_configurable_with_safe_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.limits, ServerLimits::default());
        assert!(
            s.limits.codes_per_minute >= 250 * 2,
            "a 250-person dial-in fits"
        );
        let custom = Cli::parse_from([
            "bk",
            "--max-wrong-per-call",
            "5",
            "--max-wrong-per-number",
            "7",
            "--max-codes-per-number",
            "2",
            "--max-codes-per-minute",
            "40",
        ])
        .serve;
        let s = Settings::from_args_and_env(custom, |_| None).unwrap();
        assert_eq!(s.limits.per_call.wrong, 5);
        assert_eq!(s.limits.wrong_per_number, 7);
        assert_eq!(s.limits.codes_per_number, 2);
        assert_eq!(s.limits.codes_per_minute, 40);
        assert!(Cli::try_parse_from(["bk", "--max-codes-per-minute", "0"]).is_err());
    }

    #[test]
    fn connection_limits_are_configurable_with_safe_defaults() {
        assert_eq!(
            settings(&[]).unwrap().connections,
            ConnectionLimits::default()
        );
        let custom = Cli::parse_from([
            "bk",
            "--max-connections",
            "64",
            "--header-timeout",
            "2s",
            "--body-timeout",
            "3s",
            "--idle-timeout",
            "500ms",
        ])
        .serve;
        let s = Settings::from_args_and_env(custom, |_| None).unwrap();
        assert_eq!(
            s.connections,
            ConnectionLimits {
                max_connections: 64,
                header_timeout: Duration::from_secs(2),
                body_timeout: Duration::from_secs(3),
                idle_timeout: Duration::from_millis(500),
            }
        );
        assert!(Cli::try_parse_from(["bk", "--max-connections", "0"]).is_err());
        let zero = Cli::parse_from(["bk", "--idle-timeout", "0"]).serve;
        assert!(matches!(
            Settings::from_args_and_env(zero, |_| None),
            Err(ConfigError::ZeroConnectionTimeout("idle-timeout"))
        ));
    }

    #[test]
    fn durations_parse_in_seconds_and_milliseconds() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
