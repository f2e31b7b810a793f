//! The MessageBird SMS sender against the fake MessageBird: the message it puts on the wire,
//! and how every answer and failure maps onto the verifier's errors.

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::Failure;
use bridgekeeper::fakes::messagebird::{self as fake_mb, FakeMessageBird, FakeMessageBirdConfig};
use bridgekeeper::verify::sender::messagebird::{MessageBirdMessages, MessageBirdMessagesConfig};
use bridgekeeper::verify::{Channel, Courier, VerifyError};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};
use url::Url;

const KEY: &str = "live_5e8a0b7c4d-never-in-logs";
const ADA: &str = "+15551230001";
const TEXT: &str = "482913 is your code for Board. It expires in 10 minutes. Never share it.";

fn sender_for(base: &Url, key: &str, timeout: Duration) -> MessageBirdMessages {
    MessageBirdMessages::new(MessageBirdMessagesConfig {
        base_url: base.clone(),
        access_key: SecretString::from(key),
        originator: "Bridge".to_owned(),
        timeout,
    })
    .expect("sender builds")
}

async fn rig() -> (FakeMessageBird, MessageBirdMessages) {
    let fake = FakeMessageBird::start(FakeMessageBirdConfig {
        access_key: KEY.to_owned(),
        ..FakeMessageBirdConfig::default()
    })
    .await
    .expect("the fake starts");
    let sender = sender_for(fake.base(), KEY, Duration::from_secs(2));
    (fake, sender)
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn the_code() -> Code {
    Code::parse("482913").unwrap()
}

async fn deliver(sender: &MessageBirdMessages) -> Result<(), VerifyError> {
    sender
        .deliver(&number(ADA), TEXT, &the_code(), Channel::Sms)
        .await
}

fn is_unavailable(r: &Result<(), VerifyError>) -> bool {
    matches!(r, Err(VerifyError::Unavailable(_)))
}

#[tokio::test]
async fn a_message_reaches_the_number_with_its_code() {
    let (fake, sender) = rig().await;
    let mut sends = fake.control().watch_sends();
    deliver(&sender).await.unwrap();

    assert_eq!(
        fake.messages(),
        [(ADA.to_owned(), "Bridge".to_owned(), TEXT.to_owned())]
    );
    assert_eq!(fake.sent_codes(ADA), ["482913"]);
    let sent = sends.recv().await.unwrap();
    assert_eq!(
        (sent.to.as_str(), sent.code.as_str(), sent.channel.as_str()),
        (ADA, "482913", "sms")
    );
}

#[tokio::test]
async fn the_sender_posts_the_spec_fields_with_the_access_key() {
    let (fake, sender) = rig().await;
    deliver(&sender).await.unwrap();
    let requests = fake.control().requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/messages"));
    assert!(r.auth_ok);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"originator": "Bridge", "recipients": ["15551230001"], "body": TEXT})
    );
}

#[tokio::test]
async fn voice_is_refused_without_a_request() {
    let (fake, sender) = rig().await;
    let got = sender
        .deliver(&number(ADA), TEXT, &the_code(), Channel::Voice)
        .await;
    assert!(matches!(got, Err(VerifyError::Refused(_))), "{got:?}");
    assert!(fake.control().requests().is_empty());
    assert_eq!(sender.channels(), &[Channel::Sms]);
    assert_eq!(sender.name(), "messagebird-messages");
}

#[tokio::test]
async fn limits_and_undeliverable_numbers_map_to_their_meaning() {
    let (fake, sender) = rig().await;
    // The SMS API's 429 throttles the account: an outage, not this number's limit.
    fake.control().fail_next(fake_mb::too_many());
    let got = deliver(&sender).await;
    assert!(matches!(&got, Err(VerifyError::Unavailable(_))), "{got:?}");
    fake.control().fail_next(fake_mb::undeliverable());
    let got = deliver(&sender).await;
    assert!(matches!(&got, Err(VerifyError::Refused(_))), "{got:?}");
    // A recipient MessageBird lists as failed.
    fake.control().fail_next(Failure::Json {
        http: 201,
        body: json!({"id": "abc", "recipients": {"items": [
            {"recipient": 15551230001_u64, "status": "delivery_failed"}]}}),
    });
    let got = deliver(&sender).await;
    assert!(matches!(&got, Err(VerifyError::Refused(_))), "{got:?}");
    assert!(!format!("{got:?}").contains("5551230001"));
}

#[tokio::test]
async fn faults_are_unavailable() {
    let (fake, sender) = rig().await;
    for failure in [
        Failure::Status(500),
        Failure::Status(503),
        Failure::Status(429),
        Failure::NotJson,
        fake_mb::unauthorized(),
        fake_mb::error(402, 25, "not enough balance"),
        Failure::Json {
            http: 201,
            body: json!({"recipients": {"items": [
                {"recipient": 15551230001_u64, "status": "sent"}]}}),
        },
        Failure::Json {
            http: 201,
            body: json!({"id": "abc", "recipients": {"items": [
                {"recipient": 15551230002_u64, "status": "sent"}]}}),
        },
        Failure::Json {
            http: 201,
            body: json!({"id": "abc"}),
        },
    ] {
        fake.control().fail_next(failure.clone());
        let got = deliver(&sender).await;
        assert!(is_unavailable(&got), "{failure:?}: {got:?}");
    }
    assert!(fake.messages().is_empty());
    deliver(&sender).await.unwrap();
}

#[tokio::test]
async fn a_wrong_access_key_is_unavailable() {
    let (fake, _) = rig().await;
    let stranger = sender_for(fake.base(), "not-the-key", Duration::from_secs(2));
    let got = deliver(&stranger).await;
    assert!(is_unavailable(&got), "{got:?}");
    assert!(!format!("{got:?}").contains("not-the-key"));
    assert!(!fake.control().requests()[0].auth_ok);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_returns_before_the_hang_ends() {
    let (fake, _) = rig().await;
    let sender = sender_for(fake.base(), KEY, Duration::from_millis(300));
    // Far past the client timeout: a slow, shared machine cannot make the answer win.
    let hang = Duration::from_secs(30);
    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let got = deliver(&sender).await;
    assert!(is_unavailable(&got), "{got:?}");
    assert!(started.elapsed() < hang);
}

#[tokio::test]
async fn debug_never_shows_the_access_key() {
    let (_fake, sender) = rig().await;
    for text in [format!("{sender:?}"), format!("{sender:#?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("5e8a0b7c4d"), "{text}");
    }
}

/// The fake's messages endpoint is strict, so the tests above mean something.
#[tokio::test]
async fn the_fake_refuses_messages_off_the_spec() {
    let (fake, _) = rig().await;
    let bad: &[(serde_json::Value, u32, Option<&str>)] = &[
        (
            json!({"originator": "Bridge", "body": "x"}),
            9,
            Some("recipients"),
        ),
        (
            json!({"recipients": ["15551230001"], "body": "x"}),
            9,
            Some("originator"),
        ),
        (
            json!({"originator": "Bridge", "recipients": ["15551230001"]}),
            9,
            Some("body"),
        ),
        (
            json!({"originator": "Bridge", "recipients": "15551230001", "body": "x"}),
            10,
            Some("recipients"),
        ),
        (
            json!({"originator": "Bridge", "recipients": ["+15551230001"], "body": "x"}),
            10,
            Some("recipients"),
        ),
        (
            json!({"originator": "Bridge", "recipients": ["15551230001"], "body": "x", "to": "y"}),
            10,
            Some("to"),
        ),
    ];
    for (body, code, parameter) in bad {
        let response = reqwest::Client::new()
            .post(fake.base().join("/messages").unwrap())
            .header("Authorization", format!("AccessKey {KEY}"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["errors"][0]["code"], *code, "{body}: {answer}");
        assert_eq!(answer["errors"][0]["parameter"], json!(parameter), "{body}");
    }
    assert!(fake.messages().is_empty());
}
