//! The log lines of moderator actions: one `conference.control` line per call, a
//! `conference.control_failed` warning per failure, and never a secret. Alone in its test
//! binary, since tracing caches per call site whether anyone listens, across threads.

use bridgekeeper::conference::control::{ConferenceControl, ControlConfig, ControlFlavor};
use bridgekeeper::fakes::conference::{
    FakeConferenceApi, FakeConferenceApiConfig, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
};
use secrecy::SecretString;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROOM: &str = "CF0123456789abcdef0123456789abcdef";
const ADA: &str = "CA0123456789abcdef0123456789abc001";

fn client(fake: &FakeConferenceApi, auth_token: &str) -> ConferenceControl {
    ConferenceControl::new(ControlConfig {
        flavor: ControlFlavor::Twilio {
            account_sid: TWILIO_ACCOUNT_SID.to_owned(),
            auth_token: SecretString::from(auth_token),
        },
        base_url: fake.base().clone(),
        timeout: Duration::from_secs(2),
    })
    .expect("the client builds")
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_call_is_logged_without_a_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeConferenceApi::start(FakeConferenceApiConfig::default())
        .await
        .expect("the fake starts");
    fake.add_participant(ROOM, ADA);
    let control = client(&fake, TWILIO_AUTH_TOKEN);
    let wrong = client(&fake, "wrong-secret-value");

    control.mute(ROOM, ADA, true).await.unwrap();
    wrong.end(ROOM).await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["event"].as_str())
        .collect();
    assert_eq!(
        events,
        [
            "conference.control",
            "conference.control",
            "conference.control_failed"
        ]
    );
    let ok = &lines[0]["fields"];
    assert_eq!(ok["action"], "mute");
    assert_eq!(ok["carrier"], "twilio");
    assert_eq!(ok["http_status"], 200);
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["call_id"], ADA);
    assert!(ok["elapsed_ms"].is_u64());
    let failed = &lines[2];
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["fields"]["error_kind"], "credentials");
    assert_eq!(failed["fields"]["http_status"], 401);
    for secret in [TWILIO_AUTH_TOKEN, "wrong-secret-value"] {
        assert!(!text.contains(secret), "{text}");
    }
}
