//! The Telnyx messaging sender against the fake Telnyx: the message it puts on the wire, and
//! how every answer and failure maps onto the verifier's errors.

#[path = "common/log_capture.rs"]
mod log_capture;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::Failure;
use bridgekeeper::fakes::telnyx::{self as telnyx_fake, FakeTelnyx, FakeTelnyxConfig};
use bridgekeeper::verify::sender::telnyx::{
    TelnyxMessages, TelnyxMessagesConfig, TelnyxMessagesError,
};
use bridgekeeper::verify::{Channel, Courier, VerifyError};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use url::Url;

const KEY: &str = "KEY01H8-7c2e5a9b1d4f-never-in-logs";
const FROM: &str = "+15551239999";
const ADA: &str = "+15551230001";
const TEXT: &str = "482913 is your code for Board. It expires in 10 minutes. Never share it.";

fn sender_for(base: &Url, key: &str, from: &str, timeout: Duration) -> TelnyxMessages {
    TelnyxMessages::new(TelnyxMessagesConfig {
        base_url: base.clone(),
        api_key: SecretString::from(key),
        from: from.to_owned(),
        timeout,
    })
    .expect("sender builds")
}

async fn fake() -> FakeTelnyx {
    FakeTelnyx::start(FakeTelnyxConfig {
        api_key: KEY.to_owned(),
        ..FakeTelnyxConfig::default()
    })
    .await
    .expect("the fake starts")
}

async fn rig() -> (FakeTelnyx, TelnyxMessages) {
    let fake = fake().await;
    let sender = sender_for(fake.base(), KEY, FROM, Duration::from_secs(2));
    (fake, sender)
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn code() -> Code {
    Code::parse("482913").unwrap()
}

async fn deliver(sender: &TelnyxMessages, to: &str) -> Result<(), VerifyError> {
    sender
        .deliver(&number(to), TEXT, &code(), Channel::Sms)
        .await
}

async fn send_error(sender: &TelnyxMessages) -> TelnyxMessagesError {
    sender
        .send_message(&number(ADA), TEXT)
        .await
        .expect_err("the send fails")
}

fn is_unavailable(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Unavailable(_))
}

#[tokio::test]
async fn delivers_the_text_to_the_number_from_the_configured_sender() {
    let (fake, sender) = rig().await;
    let mut sends = fake.control().watch_sends();
    deliver(&sender, ADA).await.unwrap();

    assert_eq!(
        fake.messages(),
        [(ADA.to_owned(), FROM.to_owned(), TEXT.to_owned())]
    );
    assert_eq!(fake.sent_codes(ADA), ["482913"]);
    let delivered = sends.try_recv().expect("the code was reported");
    assert_eq!(
        (
            delivered.to.as_str(),
            delivered.code.as_str(),
            delivered.channel.as_str()
        ),
        (ADA, "482913", "sms")
    );
    let requests = fake.control().requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v2/messages")
    );
    assert!(request.auth_ok, "Bearer key");
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body, json!({"from": FROM, "to": ADA, "text": TEXT}));
    assert_eq!(sender.name(), "telnyx-messages");
    assert_eq!(sender.channels(), &[Channel::Sms]);
}

#[tokio::test]
async fn a_voice_delivery_is_refused_without_a_request() {
    let (fake, sender) = rig().await;
    let e = sender
        .deliver(&number(ADA), TEXT, &code(), Channel::Voice)
        .await
        .unwrap_err();
    assert!(matches!(e, VerifyError::Refused(_)), "{e:?}");
    assert_eq!(fake.control().request_count(), 0);
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let (fake, sender) = rig().await;
    for http in [500, 502, 503] {
        fake.control().fail_next(Failure::Status(http));
        let e = deliver(&sender, ADA).await.unwrap_err();
        assert!(is_unavailable(&e), "{http}: {e:?}");
    }
    fake.control()
        .fail_next(telnyx_fake::error(500, "10007", "Unexpected error", "oops"));
    assert!(matches!(
        send_error(&sender).await,
        TelnyxMessagesError::ServerError(_)
    ));
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_unavailable_before_the_hang_ends() {
    let fake = fake().await;
    let sender = sender_for(fake.base(), KEY, FROM, Duration::from_millis(300));
    // Far past the client timeout: a slow, shared machine cannot make the answer win.
    let hang = Duration::from_secs(30);
    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = send_error(&sender).await;
    assert!(matches!(e, TelnyxMessagesError::Timeout(_)), "{e:?}");
    assert!(
        started.elapsed() < hang,
        "returned after {:?}",
        started.elapsed()
    );
    fake.control().fail_next(Failure::Hang(hang));
    assert!(is_unavailable(&deliver(&sender, ADA).await.unwrap_err()));
}

#[tokio::test]
async fn a_wrong_key_is_unavailable_and_the_operators_to_fix() {
    let fake = fake().await;
    let stranger = sender_for(fake.base(), "KEYnot-the-key", FROM, Duration::from_secs(2));
    let e = send_error(&stranger).await;
    assert!(
        matches!(&e, TelnyxMessagesError::Credentials(api) if api.http == 401 && api.code.as_deref() == Some("10009")),
        "{e:?}"
    );
    assert!(e.needs_operator());
    assert!(is_unavailable(&deliver(&stranger, ADA).await.unwrap_err()));

    let sender = sender_for(fake.base(), KEY, FROM, Duration::from_secs(2));
    fake.control().fail_next(Failure::Status(403));
    let e = send_error(&sender).await;
    assert!(matches!(e, TelnyxMessagesError::Credentials(_)), "{e:?}");
    fake.control().fail_next(telnyx_fake::unauthorized());
    assert!(is_unavailable(&deliver(&sender, ADA).await.unwrap_err()));
}

#[tokio::test]
async fn throttling_is_unavailable() {
    let (fake, sender) = rig().await;
    for failure in [
        telnyx_fake::rate_limited(),
        telnyx_fake::too_many(),
        Failure::Status(429),
    ] {
        fake.control().fail_next(failure.clone());
        let e = deliver(&sender, ADA).await.unwrap_err();
        assert!(is_unavailable(&e), "{failure:?}: {e:?}");
    }
    fake.control().fail_next(telnyx_fake::rate_limited());
    let e = send_error(&sender).await;
    assert!(matches!(e, TelnyxMessagesError::RateLimited(_)), "{e:?}");
    assert!(!e.needs_operator());
}

#[tokio::test]
async fn a_number_that_cannot_take_it_or_opted_out_is_refused() {
    let (fake, sender) = rig().await;
    fake.control().fail_next(telnyx_fake::undeliverable());
    let e = deliver(&sender, ADA).await.unwrap_err();
    assert!(matches!(e, VerifyError::Refused(_)), "{e:?}");
    fake.control().fail_next(telnyx_fake::opted_out());
    let e = send_error(&sender).await;
    assert!(matches!(e, TelnyxMessagesError::OptedOut(_)), "{e:?}");
    fake.control().fail_next(telnyx_fake::opted_out());
    assert!(matches!(
        deliver(&sender, ADA).await,
        Err(VerifyError::Refused(_))
    ));
}

#[tokio::test]
async fn a_sending_number_telnyx_refuses_is_the_operators() {
    let fake = fake().await;
    let sender = sender_for(fake.base(), KEY, "not a sender!", Duration::from_secs(2));
    let e = send_error(&sender).await;
    assert!(matches!(&e, TelnyxMessagesError::From(_)), "{e:?}");
    assert!(e.needs_operator());
    assert!(is_unavailable(&deliver(&sender, ADA).await.unwrap_err()));
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn malformed_success_answers_are_unavailable() {
    let (fake, sender) = rig().await;
    fake.control().fail_next(Failure::NotJson);
    assert!(is_unavailable(&deliver(&sender, ADA).await.unwrap_err()));
    for body in [
        json!({}),
        json!({"data": {}}),
        json!({"data": {"id": ""}}),
        json!({"data": {"id": 7}}),
        json!({"id": "40385f64-5717-4562-b3fc-2c963f66afa6"}),
    ] {
        fake.control().fail_next(Failure::Json {
            http: 200,
            body: body.clone(),
        });
        let e = send_error(&sender).await;
        assert!(
            matches!(e, TelnyxMessagesError::MalformedResponse { .. }),
            "{body}: {e:?}"
        );
    }
    deliver(&sender, ADA).await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let sender = sender_for(&nowhere, KEY, FROM, Duration::from_secs(2));
    assert!(matches!(
        send_error(&sender).await,
        TelnyxMessagesError::Connect(_)
    ));
    assert!(is_unavailable(&deliver(&sender, ADA).await.unwrap_err()));
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let base = Url::parse("https://api.telnyx.com").unwrap();
    let config = |key: &str, from: &str, base: &Url| TelnyxMessagesConfig {
        base_url: base.clone(),
        api_key: SecretString::from(key),
        from: from.to_owned(),
        timeout: Duration::from_secs(2),
    };
    assert!(TelnyxMessages::new(config(KEY, FROM, &base)).is_ok());
    assert!(TelnyxMessages::new(config("", FROM, &base)).is_err());
    assert!(TelnyxMessages::new(config(KEY, "", &base)).is_err());
    let clear = Url::parse("http://api.telnyx.com").unwrap();
    assert!(TelnyxMessages::new(config(KEY, FROM, &clear)).is_err());
    let sender = TelnyxMessages::new(config(KEY, FROM, &base)).unwrap();
    assert!(!format!("{sender:?}").contains("7c2e5a9b1d4f"));
}

/// The fake's messaging endpoint behaves like Telnyx's.
mod fake {
    use super::*;

    async fn post(fake: &FakeTelnyx, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(fake.base().join("/v2/messages").unwrap())
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn a_message_is_telnyx_shaped() {
        let fake = super::fake().await;
        let (status, body) = post(&fake, json!({"from": FROM, "to": ADA, "text": TEXT})).await;
        assert_eq!(status, 200);
        let data = &body["data"];
        assert_eq!(data["record_type"], "message");
        assert_eq!(data["direction"], "outbound");
        assert_eq!(data["type"], "SMS");
        assert_eq!(data["from"]["phone_number"], FROM);
        assert_eq!(data["to"][0]["phone_number"], ADA);
        assert_eq!(data["to"][0]["status"], "queued");
        assert_eq!(data["text"], TEXT);
        assert_eq!(data["id"].as_str().unwrap().len(), 36);
    }

    #[tokio::test]
    async fn a_text_without_a_code_is_recorded_but_reports_none() {
        let fake = super::fake().await;
        let (status, _) = post(&fake, json!({"from": FROM, "to": ADA, "text": "hello"})).await;
        assert_eq!(status, 200);
        assert_eq!(fake.messages().len(), 1);
        assert!(fake.sent_codes(ADA).is_empty());
    }

    #[tokio::test]
    async fn the_history_bounds_the_messages_kept() {
        let fake = FakeTelnyx::start(FakeTelnyxConfig {
            api_key: KEY.to_owned(),
            history: 2,
            ..FakeTelnyxConfig::default()
        })
        .await
        .unwrap();
        let sender = sender_for(fake.base(), KEY, FROM, Duration::from_secs(2));
        for to in ["+15551230001", "+15551230002", "+15551230003"] {
            deliver(&sender, to).await.unwrap();
        }
        let kept: Vec<String> = fake.messages().into_iter().map(|(to, _, _)| to).collect();
        assert_eq!(kept, ["+15551230002", "+15551230003"]);
        assert_eq!(fake.control().requests().len(), 2);
        assert_eq!(fake.control().request_count(), 3);
        // The codes are kept whatever the history.
        assert_eq!(fake.sent_codes("+15551230001"), ["482913"]);
    }
}

/// The sender's log lines: no number, code, text or key; the operator's faults at ERROR.
mod logs {
    use super::*;

    const LOGGED: &str = "+15551230009";
    const LOGGED_MASKED: &str = "+1555•••0009";

    use crate::log_capture::captured;

    #[tokio::test]
    async fn never_hold_the_number_the_code_or_the_key() {
        let buffer = captured();
        let (fake, sender) = rig().await;
        deliver(&sender, LOGGED).await.unwrap();
        fake.control().fail_next(telnyx_fake::error(
            400,
            "40300",
            "Blocked due to STOP message",
            &format!("Messages cannot be sent from '{FROM}' to '{LOGGED}'"),
        ));
        deliver(&sender, LOGGED).await.unwrap_err();
        fake.control().fail_next(Failure::Status(503));
        deliver(&sender, LOGGED).await.unwrap_err();
        let stranger = sender_for(fake.base(), "KEYnot-the-key", FROM, Duration::from_secs(2));
        deliver(&stranger, LOGGED).await.unwrap_err();

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "5551230009",
            "5551239999",
            "5551230001",
            "482913",
            "is your code",
            KEY,
            "not-the-key",
        ] {
            assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        }
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(LOGGED_MASKED)).collect();
        let count = |event: &str| ours.iter().filter(|l| l.contains(event)).count();
        assert_eq!(count("event=\"verify.request\""), 4, "{text}");
        assert_eq!(count("event=\"verify.upstream_error\""), 3, "{text}");
        let errors: Vec<&&str> = ours
            .iter()
            .filter(|l| l.contains("verify.upstream_error"))
            .collect();
        let operator: Vec<&&&str> = errors.iter().filter(|l| l.starts_with("ERROR")).collect();
        assert_eq!(operator.len(), 1, "{text}");
        assert!(operator[0].contains("API key"), "{text}");
        assert!(operator[0].contains("operator"), "{text}");
        assert!(ours.iter().any(|l| l.contains("http_status=200")), "{text}");
    }
}
