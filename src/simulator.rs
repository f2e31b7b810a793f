//! `bridgekeeper call`: plays a carrier against a running server, so that a person can read
//! a whole call in a terminal without a carrier account. It posts the webhooks with the
//! carrier's usual parameters (a form, or CarrierX's JSON), signed as that carrier signs, and
//! follows the TwiML or FlexML it gets back as the carrier does.

use crate::carrier::CarrierKind;
use crate::directory::Directory;
use crate::domain::PhoneNumber;
use crate::signature;
use crate::twiml::parse::{self as twiml_parse, Element};
use crate::verify::OutboxMessage;
use clap::Args;
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use url::Url;

/// The most webhooks one simulated call makes before giving up on a server that loops.
pub const MAX_REQUESTS: usize = 64;

/// Exit statuses of `bridgekeeper call`, one per outcome.
pub mod exit {
    /// The caller joined the conference.
    pub const JOINED: u8 = 0;
    /// The simulator failed: server unreachable, an HTTP error, a document it cannot read.
    pub const ERROR: u8 = 1;
    /// The server refused the call.
    pub const REJECTED: u8 = 3;
    /// The call ended without joining (the server hung up, or the caller did).
    pub const ENDED: u8 = 4;
}

/// `bridgekeeper call`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Exit status: 0 joined the conference; 3 rejected (not on the list, withheld caller ID, \
unknown line); 4 ended without joining (wrong codes, silence, a fault, or the caller \
hung up); 1 the simulator failed (server unreachable, HTTP error, unreadable TwiML); \
2 usage error.")]
pub struct CallArgs {
    /// The caller ID to present (any format, or `anonymous`).
    #[arg(long)]
    pub from: String,

    /// The dialed number; by default the line of the first conference in --participants that
    /// lists --from.
    #[arg(long)]
    pub to: Option<String>,

    /// The server's base URL.
    #[arg(
        long,
        env = "BRIDGEKEEPER_SERVER",
        default_value = "http://127.0.0.1:5000"
    )]
    pub server: Url,

    /// Keys for each prompt, comma-separated: an empty item is silence, `*` asks for a new
    /// code, `code` is the latest code from /dev/outbox. Without it, the terminal is asked.
    #[arg(long)]
    pub digits: Option<String>,

    /// Enter the latest code from /dev/outbox (development mode) once --digits runs out.
    #[arg(long)]
    pub auto_code: bool,

    /// The carrier to play: its entry path, parameters, body and signature.
    #[arg(long, value_enum, default_value = "twilio")]
    pub carrier: CarrierKind,

    #[command(flatten)]
    pub keys: SigningArgs,

    /// Read codes from /dev/outbox with this admin token (a server that a real carrier can
    /// reach opens its outbox only to it).
    #[arg(long, env = "BRIDGEKEEPER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The participants file used to pick the default --to.
    #[arg(
        long,
        env = "BRIDGEKEEPER_PARTICIPANTS",
        default_value = "participants.toml"
    )]
    pub participants: PathBuf,

    /// The CallSid to use; random by default.
    #[arg(long)]
    pub call_sid: Option<String>,
}

/// How the simulated carrier signs its webhooks (`call` and `load` share these flags).
#[derive(Debug, Clone, Default, Args)]
pub struct SigningArgs {
    /// Twilio: sign webhooks with this auth token (X-Twilio-Signature).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// SignalWire: sign webhooks with this signing key (X-SignalWire-Signature).
    #[arg(long, env = "SIGNALWIRE_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// Telnyx: sign webhooks with this Ed25519 private key (base64 of the 32-byte seed).
    #[arg(long, hide_env_values = true)]
    pub telnyx_private_key: Option<String>,

    /// CarrierX: put this key in the webhook URL (?key=…).
    #[arg(long, env = "BRIDGEKEEPER_CARRIERX_KEY", hide_env_values = true)]
    pub carrierx_key: Option<String>,
}

impl SigningArgs {
    /// The signing for `carrier`: its own key, or none (a development-mode server).
    pub fn signing(&self, carrier: CarrierKind) -> Result<Signing, String> {
        Ok(match carrier {
            CarrierKind::Twilio => self.auth_token.clone().map(Signing::Twilio),
            CarrierKind::SignalWire => self.signing_key.clone().map(Signing::SignalWire),
            CarrierKind::Telnyx => match &self.telnyx_private_key {
                None => None,
                Some(text) => {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or("--telnyx-private-key must be the base64 of a 32-byte seed")?;
                    Some(Signing::Telnyx(bytes))
                }
            },
            CarrierKind::CarrierX => self.carrierx_key.clone().map(Signing::CarrierX),
        }
        .unwrap_or(Signing::None))
    }
}

/// How the simulated carrier authenticates its webhooks.
#[derive(Clone, Default)]
pub enum Signing {
    /// Not at all (a development-mode server).
    #[default]
    None,
    /// `X-Twilio-Signature` with this auth token.
    Twilio(String),
    /// `X-SignalWire-Signature` with this signing key.
    SignalWire(String),
    /// Ed25519 with this 32-byte seed, `telnyx-signature-ed25519` and `telnyx-timestamp`.
    Telnyx([u8; 32]),
    /// `?key=` in the URL.
    CarrierX(String),
}

impl fmt::Debug for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signing::None => "None",
            Signing::Twilio(_) => "Twilio([redacted])",
            Signing::SignalWire(_) => "SignalWire([redacted])",
            Signing::Telnyx(_) => "Telnyx([redacted])",
            Signing::CarrierX(_) => "CarrierX([redacted])",
        })
    }
}

/// A random call id in the shape `carrier` uses.
pub fn random_call_id(carrier: CarrierKind) -> String {
    call_id_from_hex(carrier, &random_call_sid()[2..])
}

/// A call id in the shape `carrier` uses, made of 32 hex digits.
pub fn call_id_from_hex(carrier: CarrierKind, hex: &str) -> String {
    match carrier {
        CarrierKind::Twilio => format!("CA{hex}"),
        CarrierKind::SignalWire => format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ),
        CarrierKind::Telnyx => format!("v3:{hex}_{}", &hex[..12]),
        CarrierKind::CarrierX => hex.to_owned(),
    }
}

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Joined a conference room.
    Joined {
        /// The room's name.
        conference: String,
        /// `moderator` or `participant`, read from the Conference attributes.
        role: String,
    },
    /// Dialed into a bridge's number, with keys sent for the caller.
    Dialed {
        /// The bridge's number, masked.
        number: String,
        /// Whether keys (the meeting code) were sent for the caller.
        keys: bool,
    },
    /// The server rejected the call.
    Rejected,
    /// The call ended without joining.
    Ended {
        /// Why: the last thing the server said, or that the caller hung up.
        reason: String,
    },
}

impl Outcome {
    /// The exit status for this outcome.
    pub fn exit_status(&self) -> u8 {
        match self {
            Outcome::Joined { .. } | Outcome::Dialed { .. } => exit::JOINED,
            Outcome::Rejected => exit::REJECTED,
            Outcome::Ended { .. } => exit::ENDED,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Joined { conference, role } => write!(f, "joined {conference} as {role}"),
            Outcome::Dialed { number, keys } => write!(
                f,
                "dialed the bridge at {number}{}",
                if *keys {
                    " (meeting keys sent for the caller)"
                } else {
                    ""
                }
            ),
            Outcome::Rejected => f.write_str("rejected"),
            Outcome::Ended { reason } => write!(f, "ended: {reason}"),
        }
    }
}

/// Why the simulator could not finish the call.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The HTTP request failed.
    #[error("request to {url} failed: {source}")]
    Http {
        /// Where.
        url: Url,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered something other than 200.
    #[error("{url} answered HTTP {status}: {body}{}", status_hint(*status))]
    Status {
        /// Where.
        url: Url,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The document is not TwiML the simulator can read.
    #[error("{url} answered a document that is not TwiML: {reason}")]
    BadTwiml {
        /// Where.
        url: Url,
        /// Why.
        reason: String,
    },
    /// A URL in the document does not resolve.
    #[error("bad URL {0:?} in the TwiML")]
    BadUrl(String),
    /// No code for the caller in the outbox.
    #[error("no code for the caller in {0} (is the server in development mode?)")]
    NoCode(Url),
    /// The server kept the call going past the simulator's bound.
    #[error("the call did not end after {MAX_REQUESTS} webhooks")]
    Endless,
    /// The terminal could not be read.
    #[error("cannot read the keypad from the terminal: {0}")]
    Terminal(String),
}

/// What to add to a 403: the signature covers the URL, which must be the server's public URL.
fn status_hint(status: u16) -> &'static str {
    if status == 403 {
        " (the simulator signs the --server URL it posts to; a server with \
         BRIDGEKEEPER_PUBLIC_URL set checks the public URL instead, so give that as --server, \
         and check the key is the server's)"
    } else {
        ""
    }
}

/// Where keypad input comes from once the script runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Enter the latest code from the outbox.
    AutoCode,
    /// Ask the person at the terminal.
    Terminal,
    /// Hang up.
    HangUp,
}

/// Where the code comes from when the caller types `code` (or [`Fallback::AutoCode`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub enum CodeSource {
    /// The newest message to the caller in the whole of `GET /dev/outbox` (what
    /// `bridgekeeper call` reads).
    #[default]
    Outbox,
    /// The newest message in `GET /dev/outbox?to=CALLER`: the server filters, so a busy
    /// outbox is not sent whole for every code.
    OutboxForCaller,
    /// Always this code (a fake Verify that sends one fixed code).
    Fixed(String),
}

impl fmt::Debug for CodeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeSource::Outbox => f.write_str("Outbox"),
            CodeSource::OutboxForCaller => f.write_str("OutboxForCaller"),
            CodeSource::Fixed(_) => f.write_str("Fixed([redacted])"),
        }
    }
}

/// Which webhook a request was, by the path it was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookKind {
    /// The incoming-call webhook, `POST /voice`.
    Incoming,
    /// A keypad or no-input webhook, `POST /voice/code`.
    Code,
    /// Any other path a document sent the call to.
    Other,
}

impl WebhookKind {
    /// The kind of a webhook posted to `url`.
    pub fn of(url: &Url) -> Self {
        let path = url.path();
        if path.ends_with("/voice/code") {
            WebhookKind::Code
        } else if path.ends_with("/voice") {
            WebhookKind::Incoming
        } else {
            WebhookKind::Other
        }
    }

    /// Its name in reports: `incoming`, `code` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Incoming => "incoming",
            WebhookKind::Code => "code",
            WebhookKind::Other => "other",
        }
    }
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook the server answered: its kind, HTTP status, and the time from sending the
/// request to reading the whole response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookTiming {
    /// Which webhook.
    pub kind: WebhookKind,
    /// The HTTP status of the answer.
    pub status: u16,
    /// Request sent to response read.
    pub latency: Duration,
}

/// One simulated call.
pub struct Simulator {
    client: reqwest::Client,
    server: Url,
    from: String,
    to: String,
    call_sid: Option<String>,
    carrier: CarrierKind,
    signing: Signing,
    admin_token: Option<String>,
    script: VecDeque<String>,
    fallback: Fallback,
    code_source: CodeSource,
    webhooks: Vec<WebhookTiming>,
    print: Box<dyn FnMut(&str) + Send + Sync>,
    /// The emulated carrier's conference events so far (their `SequenceNumber`).
    events_sent: u64,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("server", &self.server.as_str())
            .field("call_sid", &self.call_sid)
            .field("carrier", &self.carrier)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

/// A random Twilio-shaped CallSid: `CA` and 32 hex digits.
pub fn random_call_sid() -> String {
    let mut bytes = [0u8; 16];
    // Falls back to the clock if the OS random source fails: a CallSid is not a secret.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_be_bytes();
    }
    let hex = crate::secret::hex(&bytes);
    format!("CA{hex}")
}

/// Splits `--digits`: comma-separated, empty items kept as silence.
pub fn parse_script(digits: &str) -> VecDeque<String> {
    digits.split(',').map(|s| s.trim().to_owned()).collect()
}

impl Simulator {
    /// A call from `from` to `to` against `server`, with keypad input from `script`.
    pub fn new(server: Url, from: impl Into<String>, to: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self::with_client(client, server, from, to)
    }

    /// Like [`Simulator::new`], but sending through `client`, which many simulated calls may
    /// share (its connection pool, proxy and timeout settings are used as they are).
    pub fn with_client(
        client: reqwest::Client,
        server: Url,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self {
            client,
            server,
            from: from.into(),
            to: to.into(),
            call_sid: None,
            carrier: CarrierKind::Twilio,
            signing: Signing::None,
            admin_token: None,
            script: VecDeque::new(),
            fallback: Fallback::HangUp,
            code_source: CodeSource::default(),
            webhooks: Vec::new(),
            events_sent: 0,
            print: Box::new(|_| {}),
        }
    }

    /// Where `code` (and [`Fallback::AutoCode`]) gets the code; the whole outbox by default.
    pub fn code_source(mut self, source: CodeSource) -> Self {
        self.code_source = source;
        self
    }

    /// Every webhook the server answered so far, in order (kept after [`Simulator::play`]
    /// returns, an error included).
    pub fn webhooks(&self) -> &[WebhookTiming] {
        &self.webhooks
    }

    /// Keys for the prompts, in order (`""` silence, `"code"` the outbox code).
    pub fn script(mut self, script: VecDeque<String>) -> Self {
        self.script = script;
        self
    }

    /// What happens once the script runs out.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Signs every webhook with this Twilio auth token.
    pub fn auth_token(mut self, token: Option<String>) -> Self {
        self.signing = token.map_or(Signing::None, Signing::Twilio);
        self
    }

    /// Plays this carrier (Twilio by default).
    pub fn carrier(mut self, carrier: CarrierKind) -> Self {
        self.carrier = carrier;
        self
    }

    /// Authenticates every webhook this way.
    pub fn signing(mut self, signing: Signing) -> Self {
        self.signing = signing;
        self
    }

    /// Reads the outbox with this admin token.
    pub fn admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token;
        self
    }

    /// Uses this call id (a random one in the carrier's shape by default).
    pub fn call_sid(mut self, sid: impl Into<String>) -> Self {
        self.call_sid = Some(sid.into());
        self
    }

    /// The call id this call uses.
    pub fn current_call_sid(&mut self) -> String {
        let carrier = self.carrier;
        self.call_sid
            .get_or_insert_with(|| random_call_id(carrier))
            .clone()
    }

    /// Where each line of the transcript goes.
    pub fn printer(mut self, print: impl FnMut(&str) + Send + Sync + 'static) -> Self {
        self.print = Box::new(print);
        self
    }

    fn say(&mut self, line: &str) {
        (self.print)(line);
    }

    fn params(&mut self, status: &str, digits: Option<&str>) -> Vec<(String, String)> {
        let sid = self.current_call_sid();
        let base: Vec<(&str, &str)> = match self.carrier {
            CarrierKind::Twilio | CarrierKind::SignalWire => vec![
                ("CallSid", sid.as_str()),
                ("AccountSid", "AC00000000000000000000000000000000"),
                ("From", self.from.as_str()),
                ("Caller", self.from.as_str()),
                ("To", self.to.as_str()),
                ("Called", self.to.as_str()),
                ("CallStatus", status),
                ("Direction", "inbound"),
                ("ApiVersion", "2010-04-01"),
            ],
            CarrierKind::Telnyx => vec![
                ("AccountSid", "8c1f5c3e-0000-4000-8000-000000000000"),
                ("CallSid", sid.as_str()),
                ("CallSidLegacy", sid.as_str()),
                ("From", self.from.as_str()),
                ("To", self.to.as_str()),
                ("ConnectionId", "1234567890"),
                ("ApiVersion", "2010-04-01"),
                ("CallStatus", status),
            ],
            // CarrierX sends E.164 digits without the '+' (its own example does).
            CarrierKind::CarrierX => {
                return self.carrierx_params(&sid, digits);
            }
        };
        let mut params: Vec<(String, String)> = base
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(digits) = digits {
            params.push(("Digits".into(), digits.into()));
        }
        params
    }

    /// CarrierX's JSON fields: E.164 digits without the `+`, as its own example sends them.
    fn carrierx_params(&self, sid: &str, digits: Option<&str>) -> Vec<(String, String)> {
        let bare = |number: &str| {
            PhoneNumber::parse(number).map_or_else(
                |_| number.trim().to_owned(),
                |n| n.as_e164().trim_start_matches('+').to_owned(),
            )
        };
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), String::new()),
            ("ApiVersion".into(), "2.0".into()),
            ("CallSid".into(), sid.to_owned()),
            ("From".into(), bare(&self.from)),
            ("OriginalFrom".into(), self.from.clone()),
            ("To".into(), bare(&self.to)),
            ("OriginalTo".into(), self.to.clone()),
            ("Direction".into(), "inbound".into()),
        ];
        if let Some(digits) = digits {
            params.push(("Digits".into(), digits.into()));
        }
        params
    }

    async fn post(&mut self, url: &Url, params: &[(String, String)]) -> Result<Element, SimError> {
        let request = sign_request(&self.client, self.carrier, &self.signing, url, params);
        let shown = without_secrets(url);
        let http = |source: reqwest::Error| SimError::Http {
            url: shown.clone(),
            source: source.without_url(),
        };
        let started = Instant::now();
        let response = request.send().await.map_err(http)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(http)?;
        self.webhooks.push(WebhookTiming {
            kind: WebhookKind::of(url),
            status,
            latency: started.elapsed(),
        });
        if status != 200 {
            return Err(SimError::Status {
                url: shown,
                status,
                body: body.chars().take(200).collect(),
            });
        }
        twiml_parse::parse(&body).map_err(|e| SimError::BadTwiml {
            url: shown,
            reason: e.to_string(),
        })
    }

    async fn outbox_code(&self) -> Result<String, SimError> {
        if let CodeSource::Fixed(code) = &self.code_source {
            return Ok(code.clone());
        }
        let mut url = self
            .server
            .join("/dev/outbox")
            .map_err(|_| SimError::BadUrl("/dev/outbox".into()))?;
        let me = PhoneNumber::parse(&self.from)
            .map(|n| n.as_e164().to_owned())
            .unwrap_or_else(|_| self.from.clone());
        if self.code_source == CodeSource::OutboxForCaller {
            url.query_pairs_mut().append_pair("to", &me);
        }
        let http = |source| SimError::Http {
            url: url.clone(),
            source,
        };
        let mut request = self.client.get(url.clone());
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(http)?;
        if !response.status().is_success() {
            return Err(SimError::NoCode(url));
        }
        let messages: Vec<OutboxMessage> = response.json().await.map_err(http)?;
        messages
            .into_iter()
            .rev()
            .find(|m| m.to == me)
            .map(|m| m.code)
            .ok_or(SimError::NoCode(url))
    }

    /// The next keys the caller presses, or `None` when the caller hangs up.
    async fn keys(&mut self) -> Result<Option<String>, SimError> {
        match self.script.pop_front() {
            Some(item) if item == "code" => return self.outbox_code().await.map(Some),
            Some(item) => return Ok(Some(item)),
            None => {}
        }
        match self.fallback {
            Fallback::AutoCode => self.outbox_code().await.map(Some),
            Fallback::HangUp => Ok(None),
            Fallback::Terminal => {
                let line = tokio::task::spawn_blocking(|| {
                    use std::io::Write;
                    print!("  keypad (digits, * for a new code, empty for silence)> ");
                    let _ = std::io::stdout().flush();
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map(|n| (n, line))
                })
                .await
                .map_err(|e| SimError::Terminal(e.to_string()))?
                .map_err(|e| SimError::Terminal(e.to_string()))?;
                match line {
                    (0, _) => Ok(None),
                    (_, text) => Ok(Some(text.trim().to_owned())),
                }
            }
        }
    }

    /// Posts the conference event the carrier would (`participant-join`, `participant-leave`)
    /// to the room's `statusCallback`, signed as the carrier signs; a refusal is printed, not
    /// fatal (the call itself goes on).
    async fn conference_event(&mut self, room: &Element, kind: &str) {
        let Some(callback) = room.attr("statusCallback") else {
            return;
        };
        let Ok(url) = Url::parse(callback) else {
            self.say(&format!("  (cannot post {kind}: bad statusCallback)"));
            return;
        };
        self.events_sent += 1;
        let sid = self.current_call_sid();
        let params: Vec<(String, String)> = [
            // One conference id per room name, as the carrier gives every call in it.
            (
                "ConferenceSid",
                format!("CF{:016x}", fnv1a(room.text.as_bytes())),
            ),
            ("FriendlyName", room.text.clone()),
            ("StatusCallbackEvent", kind.to_owned()),
            ("CallSid", sid),
            ("SequenceNumber", self.events_sent.to_string()),
            ("Muted", (room.attr("muted") == Some("true")).to_string()),
            ("Hold", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let request = sign_request(&self.client, self.carrier, &self.signing, &url, &params);
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                self.say(&format!("  (carrier posts {kind})"));
            }
            Ok(response) => self.say(&format!(
                "  (carrier posts {kind}: refused with {})",
                response.status().as_u16()
            )),
            Err(e) => self.say(&format!("  (carrier posts {kind}: {})", e.without_url())),
        }
    }

    /// Plays the call to its end.
    pub async fn play(&mut self) -> Result<Outcome, SimError> {
        let entry = self.carrier.entry_path();
        let mut url = self
            .server
            .join(entry)
            .map_err(|_| SimError::BadUrl(entry.into()))?;
        if let Signing::CarrierX(key) = &self.signing {
            url.query_pairs_mut().append_pair("key", key);
        }
        let mut params = self.params("ringing", None);
        let mut last_said = String::new();
        let shown = url.path().to_owned();
        let sid = self.current_call_sid();
        let line = format!(
            "calling {} from {} at {}{} as {} (CallSid {})",
            self.to,
            self.from,
            self.server.as_str().trim_end_matches('/'),
            shown,
            self.carrier,
            sid
        );
        self.say(&line);
        for _ in 0..MAX_REQUESTS {
            let document = self.post(&url, &params).await?;
            let mut next: Option<(Url, Vec<(String, String)>)> = None;
            for verb in &document.children {
                match verb.name.as_str() {
                    "Say" => {
                        self.say(&format!("  says: {}", verb.text));
                        last_said.clone_from(&verb.text);
                    }
                    "Play" => self.say(&format!("  plays: {}", verb.text)),
                    "Pause" => {
                        self.say(&format!("  pauses {}s", verb.attr("length").unwrap_or("1")))
                    }
                    "Gather" => {
                        for inner in &verb.children {
                            match inner.name.as_str() {
                                "Say" => {
                                    self.say(&format!("  says: {}", inner.text));
                                    last_said.clone_from(&inner.text);
                                }
                                "Play" => self.say(&format!("  plays: {}", inner.text)),
                                _ => {}
                            }
                        }
                        let Some(keys) = self.keys().await? else {
                            self.say("  caller hangs up");
                            return Ok(Outcome::Ended {
                                reason: "caller hung up".into(),
                            });
                        };
                        let digits = gathered(verb, &keys);
                        self.say(&match digits.as_str() {
                            "" => "  keys: (nothing)".to_owned(),
                            d => format!("  keys: {d}"),
                        });
                        let on_empty = verb.attr("actionOnEmptyResult") == Some("true");
                        if digits.is_empty() && !on_empty {
                            continue; // no input: fall through to the next verb
                        }
                        let target = self.resolve(&url, verb.attr("action"))?;
                        next = Some((target, self.params("in-progress", Some(&digits))));
                        break;
                    }
                    "Redirect" => {
                        let target = self.resolve(&url, Some(verb.text.as_str()))?;
                        next = Some((target, self.params("in-progress", None)));
                        break;
                    }
                    "Hangup" | "HangUp" => {
                        return Ok(Outcome::Ended {
                            reason: ended_reason(&last_said),
                        });
                    }
                    "Reject" => return Ok(Outcome::Rejected),
                    "Dial" => {
                        let outcome = dial(verb, &last_said);
                        let room = verb.children.iter().find(|c| c.name == "Conference");
                        if let Some(room) = room {
                            self.conference_event(room, "participant-join").await;
                        }
                        // `*` in the room, when the script says so: out to the Dial's action.
                        let star = verb.attr("hangupOnStar") == Some("true")
                            && self.script.front().is_some_and(|k| k == "*");
                        if !star {
                            return Ok(outcome);
                        }
                        self.script.pop_front();
                        self.say(&format!("  {outcome}; keys: * (out of the room)"));
                        if let Some(room) = room {
                            self.conference_event(room, "participant-leave").await;
                        }
                        let target = self.resolve(&url, verb.attr("action"))?;
                        next = Some((target, self.params("in-progress", None)));
                        break;
                    }
                    other => self.say(&format!("  (ignores unknown verb <{other}>)")),
                }
            }
            match next {
                Some((target, with)) => {
                    url = target;
                    params = with;
                }
                // The end of a document hangs up.
                None => {
                    return Ok(Outcome::Ended {
                        reason: ended_reason(&last_said),
                    });
                }
            }
        }
        Err(SimError::Endless)
    }

    /// Resolves a URL from the document against the current one, as the carrier does; a
    /// missing action means the current URL.
    fn resolve(&self, current: &Url, target: Option<&str>) -> Result<Url, SimError> {
        match target.map(str::trim) {
            None | Some("") => Ok(current.clone()),
            Some(t) => current.join(t).map_err(|_| SimError::BadUrl(t.to_owned())),
        }
    }
}

/// What the carrier would post as `Digits` for these keys: up to the finish key, at most
/// `numDigits` keys.
fn gathered(gather: &Element, keys: &str) -> String {
    let finish = gather.attr("finishOnKey").unwrap_or("#");
    let upto = match finish.chars().next() {
        Some(f) => keys.split(f).next().unwrap_or_default(),
        None => keys,
    };
    let limit = gather
        .attr("numDigits")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    upto.chars().take(limit).collect()
}

fn ended_reason(last_said: &str) -> String {
    if last_said.is_empty() {
        "the server hung up".into()
    } else {
        last_said.to_owned()
    }
}

/// FNV-1a: a stable, non-cryptographic hash for the emulated conference ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads `<Dial>`: the room and the role its attributes give, or the bridge dialed.
fn dial(verb: &Element, last_said: &str) -> Outcome {
    if let Some(number) = verb.children.iter().find(|c| c.name == "Number") {
        let masked = PhoneNumber::parse(&number.text)
            .map_or_else(|_| "an unreadable number".to_owned(), |n| n.masked());
        return Outcome::Dialed {
            number: masked,
            keys: number.attr("sendDigits").is_some_and(|d| !d.is_empty()),
        };
    }
    let Some(room) = verb.children.iter().find(|c| c.name == "Conference") else {
        return Outcome::Ended {
            reason: format!("dialed something other than a conference after: {last_said}"),
        };
    };
    // Twilio's default for startConferenceOnEnter is true.
    let starts = room.attr("startConferenceOnEnter") != Some("false");
    let ends = room.attr("endConferenceOnExit") == Some("true");
    let role = if starts && ends {
        "moderator"
    } else {
        "participant"
    };
    Outcome::Joined {
        conference: room.text.clone(),
        role: role.into(),
    }
}

/// The URL without what must not reach a terminal or a log: CarrierX's key and the state.
fn without_secrets(url: &Url) -> Url {
    let mut shown = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "key")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.len() == url.query_pairs().count() {
        return shown;
    }
    shown.set_query(None);
    if !kept.is_empty() {
        shown.query_pairs_mut().extend_pairs(kept);
    }
    shown
}

/// A webhook request as `carrier` sends it: a form (or CarrierX's JSON) posted to `url`,
/// authenticated by `signing`.
pub fn sign_request(
    client: &reqwest::Client,
    carrier: CarrierKind,
    signing: &Signing,
    url: &Url,
    params: &[(String, String)],
) -> reqwest::RequestBuilder {
    let (body, content_type) = match carrier {
        CarrierKind::CarrierX => {
            let object: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            (
                serde_json::Value::Object(object).to_string().into_bytes(),
                "application/json",
            )
        }
        _ => (
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish()
                .into_bytes(),
            "application/x-www-form-urlencoded",
        ),
    };
    let mut request = client
        .post(url.clone())
        .header("content-type", content_type);
    match signing {
        Signing::None | Signing::CarrierX(_) => {}
        Signing::Twilio(token) => {
            request = request.header(
                signature::HEADER,
                signature::sign(token, url.as_str(), params),
            );
        }
        Signing::SignalWire(key) => {
            request = request.header(
                crate::carrier::signalwire::HEADER,
                signature::sign(key, url.as_str(), params),
            );
        }
        Signing::Telnyx(seed) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            request = request
                .header(
                    crate::carrier::telnyx::SIGNATURE_HEADER,
                    crate::carrier::telnyx::sign(seed, now, &body),
                )
                .header(crate::carrier::telnyx::TIMESTAMP_HEADER, now.to_string());
        }
    }
    request.body(body)
}

/// The default dialed number: the line of the first conference in `participants` that lists
/// `from`, else of the first conference; `Ok(None)` when the file has no line at all, and
/// `Directory::load`'s error (`FILE:LINE: …`) when the file cannot be read.
pub fn default_to(
    participants: &std::path::Path,
    from: &str,
) -> Result<Option<String>, crate::directory::DirectoryError> {
    let directory = Directory::load(participants)?;
    let caller = PhoneNumber::parse(from).ok();
    let listed = directory
        .conferences()
        .iter()
        .find(|c| caller.as_ref().is_some_and(|n| c.participant(n).is_some()));
    let Some(conference) = listed.or_else(|| directory.conferences().first()) else {
        return Ok(None);
    };
    Ok(conference.numbers().first().map(|n| n.as_e164().to_owned()))
}

/// Writes a line to standard output; a closed pipe (`call | head`) is not worth a panic.
pub fn say_out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Runs `bridgekeeper call` and returns its exit status.
pub async fn run(args: CallArgs) -> ExitCode {
    let to = match args.to.clone() {
        Some(to) => to,
        None => match default_to(&args.participants, &args.from) {
            Ok(Some(to)) => to,
            Ok(None) => {
                eprintln!(
                    "bridgekeeper call: give --to (no line found in {})",
                    args.participants.display()
                );
                return ExitCode::from(exit::ERROR);
            }
            Err(e) => {
                eprintln!(
                    "bridgekeeper call: {e}\nbridgekeeper call: the number to dial comes from \
                     that file; fix it, point --participants at another, or give --to"
                );
                return ExitCode::from(exit::ERROR);
            }
        },
    };
    let fallback = if args.auto_code {
        Fallback::AutoCode
    } else if args.digits.is_some() {
        Fallback::HangUp
    } else {
        Fallback::Terminal
    };
    let signing = match args.keys.signing(args.carrier) {
        Ok(signing) => signing,
        Err(e) => {
            eprintln!("bridgekeeper call: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let mut simulator = Simulator::new(args.server, args.from, to)
        .script(args.digits.as_deref().map(parse_script).unwrap_or_default())
        .fallback(fallback)
        .carrier(args.carrier)
        .signing(signing)
        .admin_token(args.admin_token)
        .printer(say_out);
    if let Some(sid) = args.call_sid {
        simulator = simulator.call_sid(sid);
    }
    match simulator.play().await {
        Ok(outcome) => {
            say_out(&outcome.to_string());
            ExitCode::from(outcome.exit_status())
        }
        Err(e) => {
            eprintln!("bridgekeeper call: {e}");
            ExitCode::from(exit::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(attrs: &[(&str, &str)]) -> Element {
        Element {
            name: "Gather".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            text: String::new(),
            children: vec![],
        }
    }

    #[test]
    fn digits_stop_at_the_finish_key_and_the_digit_count() {
        let g = gather(&[("numDigits", "6"), ("finishOnKey", "#")]);
        assert_eq!(gathered(&g, "123#456"), "123");
        assert_eq!(gathered(&g, "12345678"), "123456");
        assert_eq!(gathered(&g, "*"), "*");
        assert_eq!(gathered(&g, ""), "");
    }

    #[test]
    fn scripts_keep_empty_items_as_silence() {
        assert_eq!(parse_script("111111,,code"), ["111111", "", "code"]);
        assert_eq!(parse_script(""), [""]);
    }

    #[test]
    fn outcome_lines_name_the_result() {
        let joined = Outcome::Joined {
            conference: "Weekly sync".into(),
            role: "moderator".into(),
        };
        assert_eq!(joined.to_string(), "joined Weekly sync as moderator");
        assert_eq!(Outcome::Rejected.to_string(), "rejected");
        assert_eq!(Outcome::Rejected.exit_status(), 3);
        assert_eq!(joined.exit_status(), 0);
    }

    #[test]
    fn webhooks_are_told_apart_by_their_path() {
        let kind = |u: &str| WebhookKind::of(&Url::parse(u).unwrap());
        assert_eq!(kind("http://127.0.0.1:5000/voice"), WebhookKind::Incoming);
        assert_eq!(
            kind("http://127.0.0.1:5000/voice/code?s=abc"),
            WebhookKind::Code
        );
        assert_eq!(kind("http://127.0.0.1:5000/elsewhere"), WebhookKind::Other);
        assert_eq!(WebhookKind::Code.to_string(), "code");
        assert_eq!(
            format!("{:?}", CodeSource::Fixed("123456".into())),
            "Fixed([redacted])"
        );
    }

    #[test]
    fn call_sids_look_like_twilio_ones() {
        let sid = random_call_sid();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CA"));
        assert_ne!(sid, random_call_sid());
    }
}
