//! Test helpers: the app in-process on a random loopback port with a manual clock, driven
//! over HTTP the way the carrier drives it.
#![allow(dead_code)]

pub mod browser;
pub mod fake_verify;
pub mod process;

use bridgekeeper::clock::ManualClock;
use bridgekeeper::config::{Settings, TwilioSettings};
use bridgekeeper::simulator::{Fallback, Simulator};
use bridgekeeper::startup::Application;
use bridgekeeper::twiml::parse::{Element, parse};
use bridgekeeper::verify::OutboxMessage;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use url::Url;

/// Two conferences; the first with hold music and a participant whose name needs escaping.
pub const PARTICIPANTS: &str = r#"
[[conference]]
name = "Weekly sync"
numbers = ["+1 202 555 0100"]
hold_music = "https://example.com/hold.mp3?a=1&b=2"

[[conference.participant]]
name = "Ada Lovelace"
phone = "+1 (202) 555-0101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+12025550102"

[[conference.participant]]
name = "O'Brien & <Sons> \"Ltd\""
phone = "+1 202 555 0104"
role = "participant"

[[conference]]
name = "Board"
numbers = ["+12025550150"]

[[conference.participant]]
name = "Katherine Johnson"
phone = "+12025550151"
role = "moderator"
"#;

pub const WEEKLY_LINE: &str = "+12025550100";
pub const BOARD_LINE: &str = "+12025550150";
pub const ADA: &str = "+12025550101";
pub const GRACE: &str = "+12025550102";
pub const OBRIEN: &str = "+12025550104";
pub const KATHERINE: &str = "+12025550151";
pub const STRANGER: &str = "+12025550199";

/// Twilio credentials the Twilio-mode tests use.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token-0123456789";
pub const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";

/// The server secret the in-process apps share.
pub const SECRET: &str = "bridgekeeper-test-secret-0123456789";

/// The test secret.
pub fn secret() -> bridgekeeper::secret::ServerSecret {
    bridgekeeper::secret::ServerSecret::from_text(SECRET).unwrap()
}

/// A running app.
pub struct TestApp {
    pub base: Url,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    /// In Twilio mode, the token every request is signed with.
    pub auth_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    _file: tempfile::NamedTempFile,
}

/// Writes a participants file to a temporary path.
pub fn participants_file(toml: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(toml.as_bytes()).expect("write participants");
    file
}

impl TestApp {
    /// Starts the app with the standard participants.
    pub async fn spawn() -> Self {
        Self::spawn_with(PARTICIPANTS).await
    }

    /// Starts the app with these participants.
    pub async fn spawn_with(toml: &str) -> Self {
        Self::spawn_configured(toml, |_| {}).await
    }

    /// Starts the app with these participants and settings changed by `configure`.
    pub async fn spawn_configured(toml: &str, configure: impl FnOnce(&mut Settings)) -> Self {
        let file = participants_file(toml);
        let mut settings = Settings::development(file.path().to_path_buf(), secret());
        configure(&mut settings);
        Self::start(settings, file, None).await
    }

    /// Starts the app with settings changed by `configure`, signing every request as Twilio
    /// does with `auth_token`.
    pub async fn spawn_signed(
        toml: &str,
        configure: impl FnOnce(&mut Settings),
        auth_token: &str,
    ) -> Self {
        let file = participants_file(toml);
        let mut settings = Settings::development(file.path().to_path_buf(), secret());
        configure(&mut settings);
        Self::start(settings, file, Some(auth_token.to_owned())).await
    }

    /// Starts the app in Twilio mode against a fake Verify server, with a client timeout.
    pub async fn spawn_twilio(verify_base: &Url, timeout: std::time::Duration) -> Self {
        let file = participants_file(PARTICIPANTS);
        let mut settings = Settings::development(file.path().to_path_buf(), secret());
        settings.use_twilio(TwilioSettings {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.to_owned().into(),
            verify_service_sid: SERVICE_SID.into(),
            verify_base_url: verify_base.clone(),
        });
        settings.verify_timeout = timeout;
        Self::start(settings, file, Some(AUTH_TOKEN.to_owned())).await
    }

    /// Starts the app with these participants on a clock already `ahead` of the default
    /// start (a process started later).
    pub async fn spawn_later(toml: &str, ahead: std::time::Duration) -> Self {
        let file = participants_file(toml);
        let settings = Settings::development(file.path().to_path_buf(), secret());
        let clock = Arc::new(ManualClock::default());
        clock.advance(ahead);
        Self::start_on(settings, file, None, clock).await
    }

    async fn start(
        settings: Settings,
        file: tempfile::NamedTempFile,
        auth_token: Option<String>,
    ) -> Self {
        Self::start_on(settings, file, auth_token, Arc::new(ManualClock::default())).await
    }

    async fn start_on(
        settings: Settings,
        file: tempfile::NamedTempFile,
        auth_token: Option<String>,
        clock: Arc<ManualClock>,
    ) -> Self {
        init_test_log();
        let app = Application::build(settings, clock.clone())
            .await
            .expect("app builds");
        let addr = app.local_addr().expect("bound");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base: Url::parse(&format!("http://{addr}")).unwrap(),
            clock,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            auth_token,
            shutdown: Some(tx),
            _file: file,
        }
    }

    /// The participants file this app serves (a temporary file it keeps).
    pub fn participants_path(&self) -> &std::path::Path {
        self._file.path()
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// A POST of a form, signed as Twilio would in Twilio mode.
    fn request(&self, path: &str, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let url = self.url(path);
        let mut request = self.client.post(url.clone()).form(params);
        if let Some(token) = &self.auth_token {
            let owned: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            request = request.header(
                bridgekeeper::signature::HEADER,
                bridgekeeper::signature::sign(token, url.as_str(), &owned),
            );
        }
        request
    }

    /// Posts a form to a path; returns the status and body.
    pub async fn post(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let response = self.request(path, params).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Posts a webhook, expects 200 TwiML, and parses it.
    pub async fn twiml(&self, path: &str, params: &[(&str, &str)]) -> Element {
        let response = self.request(path, params).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let content_type = response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "text/xml");
        parse(&response.text().await.unwrap()).expect("valid TwiML")
    }

    /// The incoming-call webhook.
    pub async fn incoming(&self, sid: &str, from: &str, to: &str) -> Element {
        self.twiml(
            "/voice",
            &[
                ("CallSid", sid),
                ("AccountSid", "AC0"),
                ("From", from),
                ("To", to),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
            ],
        )
        .await
    }

    /// Follows a Gather: posts the digits to its action (or, for `None`, follows the
    /// Redirect after it, as the carrier does when nothing was typed).
    pub async fn keys(&self, doc: &Element, sid: &str, digits: Option<&str>) -> Element {
        let gather = find(doc, "Gather").expect("a Gather to answer");
        let path = match digits {
            Some(_) => gather.attr("action").expect("Gather action").to_owned(),
            None => find(doc, "Redirect")
                .expect("a Redirect after the Gather")
                .text
                .clone(),
        };
        let mut params = vec![("CallSid", sid), ("CallStatus", "in-progress")];
        if let Some(d) = digits {
            params.push(("Digits", d));
        }
        self.twiml(&path, &params).await
    }

    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        self.client
            .get(self.url("/dev/outbox"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn outbox_to(&self, number: &str) -> Vec<OutboxMessage> {
        self.outbox()
            .await
            .into_iter()
            .filter(|m| m.to == number)
            .collect()
    }

    /// The latest code sent to a number.
    pub async fn code_for(&self, number: &str) -> String {
        self.outbox_to(number)
            .await
            .last()
            .expect("a code was sent")
            .code
            .clone()
    }

    /// A simulator against this app, collecting its transcript.
    pub fn simulator(&self, from: &str, to: &str, script: &[&str]) -> (Simulator, Transcript) {
        let transcript = Transcript::default();
        let lines = transcript.clone();
        let sim = Simulator::new(self.base.clone(), from, to)
            .script(
                script
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<VecDeque<_>>(),
            )
            .fallback(Fallback::HangUp)
            .printer(move |line| lines.0.lock().unwrap().push(line.to_owned()));
        (sim, transcript)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The lines a simulator printed.
#[derive(Clone, Default)]
pub struct Transcript(pub Arc<Mutex<Vec<String>>>);

impl Transcript {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }
}

/// The first element with this name, depth first.
pub fn find<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    if element.name == name {
        return Some(element);
    }
    element.children.iter().find_map(|c| find(c, name))
}

/// Every spoken line, depth first.
pub fn spoken(element: &Element) -> Vec<String> {
    let mut out = Vec::new();
    if element.name == "Say" {
        out.push(element.text.clone());
    }
    for c in &element.children {
        out.extend(spoken(c));
    }
    out
}

/// The names of the top-level verbs.
pub fn verbs(doc: &Element) -> Vec<&str> {
    doc.children.iter().map(|c| c.name.as_str()).collect()
}

/// The newest code the server at `base` (a running server's base URL) sent to `to`.
pub async fn latest_code(base: &str, to: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let messages: Vec<OutboxMessage> = client
        .get(format!("{base}/dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages
        .into_iter()
        .rev()
        .find(|m| m.to == to)
        .map(|m| m.code)
        .expect("a code in the outbox")
}

/// A unique CallSid for a test.
pub fn sid() -> String {
    bridgekeeper::simulator::random_call_sid()
}

/// Logs go to the test output only when TEST_LOG is set.
pub fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        // The writer thread lives as long as the test binary.
        std::mem::forget(bridgekeeper::telemetry::init(Default::default()));
    }
}
