//! The MessageBird Verify client against the fake MessageBird: the requests it puts on the
//! wire, and how every answer and failure maps onto the verifier's errors.

#[path = "common/log_capture.rs"]
mod log_capture;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::Failure;
use bridgekeeper::fakes::messagebird::{
    self as fake_mb, DEFAULT_ACCESS_KEY, FakeMessageBird, FakeMessageBirdConfig,
};
use bridgekeeper::verify::messagebird::{
    MessageBirdError, MessageBirdVerify, MessageBirdVerifyConfig,
};
use bridgekeeper::verify::{Channel, CheckOutcome, Delivery, Receipt, Verifier, VerifyError};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};
use url::Url;

const KEY: &str = "live_9f3c1d7e2a-never-in-logs";
const ADA: &str = "+15551230001";
const GRACE: &str = "+15551230002";

fn client_for(base: &Url, key: &str, timeout: Duration) -> MessageBirdVerify {
    MessageBirdVerify::new(MessageBirdVerifyConfig {
        base_url: base.clone(),
        access_key: SecretString::from(key),
        originator: Some("Bridge".to_owned()),
        timeout,
    })
    .expect("client builds")
}

async fn start_fake() -> FakeMessageBird {
    FakeMessageBird::start(FakeMessageBirdConfig {
        access_key: KEY.to_owned(),
        ..FakeMessageBirdConfig::default()
    })
    .await
    .expect("the fake starts")
}

async fn rig() -> (FakeMessageBird, MessageBirdVerify) {
    let fake = start_fake().await;
    let client = client_for(fake.base(), KEY, Duration::from_secs(2));
    (fake, client)
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn code(digits: &str) -> Code {
    Code::parse(digits).unwrap()
}

fn wrong(right: &Code) -> Code {
    let n: u32 = right.expose().parse().unwrap();
    Code::from_number((n + 1) % 1_000_000)
}

fn delivery(to: &PhoneNumber, channel: Channel) -> Delivery<'_> {
    Delivery {
        to,
        channel,
        conference: "Board",
    }
}

/// Sends a code by SMS; the receipt and the code the fake sent.
async fn send(fake: &FakeMessageBird, client: &MessageBirdVerify, to: &str) -> (Receipt, Code) {
    let receipt = client
        .send(&delivery(&number(to), Channel::Sms), None)
        .await
        .expect("the send succeeds");
    let sent = fake.sent_codes(to);
    (receipt, code(sent.last().expect("a code was sent")))
}

fn is_unavailable(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Unavailable(_))
}

/// Every outcome of a check but approval.
async fn check_is_not_approved(
    client: &MessageBirdVerify,
    to: &str,
    c: &Code,
    receipt: &Receipt,
) -> Result<CheckOutcome, VerifyError> {
    let got = client.check(&number(to), c, Some(receipt)).await;
    assert_ne!(got, Ok(CheckOutcome::Approved));
    got
}

#[tokio::test]
async fn an_sms_code_is_approved_once() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    assert!(!receipt.as_bytes().is_empty());
    assert!(receipt.as_bytes().len() <= Receipt::MAX_LEN);

    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Ok(CheckOutcome::Approved)
    );
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Err(VerifyError::NotFound)
    );
}

#[tokio::test]
async fn the_client_sends_the_spec_fields_with_the_access_key() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    client
        .check(&number(ADA), &c, Some(&receipt))
        .await
        .unwrap();

    let requests = fake.control().requests();
    assert_eq!(requests.len(), 2);
    let (create, check) = (&requests[0], &requests[1]);
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/verify")
    );
    assert_eq!(create.content_type.as_deref(), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&create.body).unwrap();
    assert_eq!(
        body,
        json!({
            "recipient": "15551230001",
            "type": "sms",
            "template": "Your bridgekeeper code is %token",
            "tokenLength": 6,
            "timeout": 600,
            "originator": "Bridge",
        })
    );
    let id = std::str::from_utf8(receipt.as_bytes()).unwrap();
    assert_eq!(check.method, "GET");
    assert_eq!(check.path, format!("/verify/{id}?token={}", c.expose()));
    assert!(check.body.is_empty());
    for r in [create, check] {
        assert!(r.auth_ok, "{r:?}");
    }
}

#[tokio::test]
async fn a_wrong_code_is_rejected_and_the_right_one_still_works() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;

    assert_eq!(
        client.check(&number(ADA), &wrong(&c), Some(&receipt)).await,
        Ok(CheckOutcome::Rejected)
    );
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn voice_is_a_tts_verification() {
    let (fake, client) = rig().await;
    let mut sends = fake.control().watch_sends();
    let receipt = client
        .send(&delivery(&number(GRACE), Channel::Voice), None)
        .await
        .unwrap();
    let sent = sends.recv().await.unwrap();
    assert_eq!((sent.to.as_str(), sent.channel.as_str()), (GRACE, "voice"));
    let body: serde_json::Value = serde_json::from_str(&fake.control().requests()[0].body).unwrap();
    assert_eq!(body["type"], "tts");
    assert_eq!(body["recipient"], "15551230002");
    // The fake answers a tts verification's recipient as a string, SMS ones as a number.
    assert_eq!(
        client
            .check(&number(GRACE), &code(&sent.code), Some(&receipt))
            .await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn a_resend_makes_a_new_verification_and_only_the_newest_approves() {
    let (fake, client) = rig().await;
    fake.fix_code(Some("111111"));
    let (first, first_code) = send(&fake, &client, ADA).await;
    fake.fix_code(Some("222222"));
    let second = client
        .send(&delivery(&number(ADA), Channel::Sms), Some(&first))
        .await
        .unwrap();
    assert_ne!(first, second, "every send is a new verification");
    assert_eq!(fake.sent_codes(ADA), ["111111", "222222"]);

    // The first verification's code approves nothing: not on its own (replaced) receipt,
    // not on the newest.
    assert_eq!(
        client.check(&number(ADA), &first_code, Some(&first)).await,
        Err(VerifyError::NotFound)
    );
    assert_eq!(
        client.check(&number(ADA), &first_code, Some(&second)).await,
        Ok(CheckOutcome::Rejected)
    );
    assert_eq!(
        client
            .check(&number(ADA), &code("222222"), Some(&second))
            .await,
        Ok(CheckOutcome::Approved)
    );
    // Both sends went out as new verifications.
    let posts = fake
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2);
}

#[tokio::test]
async fn a_receipt_for_another_number_never_approves() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    // Grace's call carrying Ada's receipt and Ada's code: MessageBird verifies Ada's
    // verification, and the answer names Ada: never an approval for Grace.
    let got = check_is_not_approved(&client, GRACE, &c, &receipt).await;
    assert!(matches!(&got, Err(e) if is_unavailable(e)), "{got:?}");

    // Nor an answer that says "verified" for another number or another verification.
    let (receipt, c) = send(&fake, &client, GRACE).await;
    let id = String::from_utf8(receipt.as_bytes().to_vec()).unwrap();
    for body in [
        json!({"id": id, "status": "verified", "recipient": 15551230001_u64}),
        json!({"id": "someotherid", "status": "verified", "recipient": 15551230002_u64}),
        json!({"id": id, "status": "verified"}),
    ] {
        fake.control().fail_next(Failure::Json { http: 200, body });
        let got = check_is_not_approved(&client, GRACE, &c, &receipt).await;
        assert!(matches!(&got, Err(e) if is_unavailable(e)), "{got:?}");
    }
}

#[tokio::test]
async fn without_a_receipt_there_is_nothing_to_check() {
    let (fake, client) = rig().await;
    for receipt in [None, Some(Receipt::default())] {
        assert_eq!(
            client
                .check(&number(ADA), &code("123456"), receipt.as_ref())
                .await,
            Err(VerifyError::NotFound)
        );
    }
    assert!(fake.control().requests().is_empty());
}

#[tokio::test]
async fn an_unknown_or_expired_verification_is_not_found() {
    let (fake, client) = rig().await;
    let unknown = Receipt::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    assert_eq!(
        client
            .check(&number(ADA), &code("123456"), Some(&unknown))
            .await,
        Err(VerifyError::NotFound)
    );

    let (receipt, c) = send(&fake, &client, ADA).await;
    fake.expire(ADA);
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Err(VerifyError::NotFound)
    );
}

#[tokio::test]
async fn the_sixth_send_and_the_sixth_check_hit_the_limits() {
    let (fake, client) = rig().await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(send(&fake, &client, ADA).await);
    }
    assert_eq!(
        client
            .send(&delivery(&number(ADA), Channel::Sms), None)
            .await,
        Err(VerifyError::TooManySends)
    );
    let (receipt, c) = last.unwrap();
    for _ in 0..5 {
        assert_eq!(
            client.check(&number(ADA), &wrong(&c), Some(&receipt)).await,
            Ok(CheckOutcome::Rejected)
        );
    }
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Err(VerifyError::TooManyChecks)
    );
}

#[tokio::test]
async fn the_too_many_answer_is_a_limit() {
    let (fake, client) = rig().await;
    fake.control().fail_next(fake_mb::too_many());
    assert_eq!(
        client
            .send(&delivery(&number(ADA), Channel::Sms), None)
            .await,
        Err(VerifyError::TooManySends)
    );
    let (receipt, c) = send(&fake, &client, ADA).await;
    fake.control().fail_next(fake_mb::too_many());
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Err(VerifyError::TooManyChecks)
    );
}

#[tokio::test]
async fn a_number_messagebird_cannot_deliver_to_is_refused() {
    let (fake, client) = rig().await;
    fake.control().fail_next(fake_mb::undeliverable());
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, MessageBirdError::InvalidRecipient(_)), "{e:?}");
    assert!(!e.needs_operator());
    fake.control().fail_next(fake_mb::undeliverable());
    let verify = client
        .send(&delivery(&number(ADA), Channel::Sms), None)
        .await
        .unwrap_err();
    assert!(matches!(verify, VerifyError::Refused(_)), "{verify:?}");
    assert!(!verify.to_string().contains("5551230001"), "{verify}");
}

#[tokio::test]
async fn a_wrong_access_key_is_unavailable_and_needs_the_operator() {
    let fake = start_fake().await;
    let client = client_for(fake.base(), "not-the-key", Duration::from_secs(2));
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MessageBirdError::Credentials(api) if api.code == Some(2)),
        "{e:?}"
    );
    assert!(e.needs_operator());
    assert!(!fake.control().requests()[0].auth_ok);
    let verify = client
        .send(&delivery(&number(ADA), Channel::Sms), None)
        .await
        .unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
    assert!(!verify.to_string().contains("not-the-key"));

    // The same answer injected on a check.
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    fake.control().fail_next(fake_mb::unauthorized());
    let got = check_is_not_approved(&client, ADA, &c, &receipt).await;
    assert!(matches!(&got, Err(e) if is_unavailable(e)), "{got:?}");
}

#[tokio::test]
async fn server_errors_and_throttling_are_unavailable() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    for failure in [
        Failure::Status(500),
        Failure::Status(502),
        Failure::Status(503),
        Failure::Status(429),
        Failure::Status(404),
        fake_mb::error(500, 99, "internal error"),
        fake_mb::error(402, 25, "not enough balance"),
    ] {
        fake.control().fail_next(failure.clone());
        let e = client
            .send(&delivery(&number(ADA), Channel::Sms), None)
            .await
            .unwrap_err();
        assert!(is_unavailable(&e), "send {failure:?}: {e:?}");
        fake.control().fail_next(failure.clone());
        let got = check_is_not_approved(&client, ADA, &c, &receipt).await;
        assert!(
            matches!(&got, Err(e) if is_unavailable(e)),
            "check {failure:?}: {got:?}"
        );
    }
    // Nothing was used up: the code still approves.
    assert_eq!(
        client.check(&number(ADA), &c, Some(&receipt)).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn a_malformed_success_is_unavailable_and_never_approved() {
    let (fake, client) = rig().await;
    let (receipt, c) = send(&fake, &client, ADA).await;
    let id = String::from_utf8(receipt.as_bytes().to_vec()).unwrap();
    let malformed = [
        Failure::NotJson,
        Failure::Json {
            http: 200,
            body: json!({"status": "verified", "recipient": 15551230001_u64}),
        },
        Failure::Json {
            http: 200,
            body: json!({"id": id, "status": "VERIFIED", "recipient": 15551230001_u64}),
        },
        Failure::Json {
            http: 200,
            body: json!({"id": id, "status": ["verified"], "recipient": 15551230001_u64}),
        },
        Failure::Json {
            http: 200,
            body: json!([{"id": id, "status": "verified", "recipient": 15551230001_u64}]),
        },
    ];
    for failure in malformed {
        fake.control().fail_next(failure.clone());
        let got = check_is_not_approved(&client, ADA, &c, &receipt).await;
        assert!(
            matches!(&got, Err(e) if is_unavailable(e)),
            "{failure:?}: {got:?}"
        );
    }
    for failure in [
        Failure::NotJson,
        Failure::Json {
            http: 201,
            body: json!({"status": "sent", "recipient": 15551230001_u64}),
        },
        Failure::Json {
            http: 201,
            body: json!({"id": "x".repeat(65), "status": "sent", "recipient": 15551230001_u64}),
        },
        Failure::Json {
            http: 201,
            body: json!({"id": "", "status": "sent", "recipient": 15551230001_u64}),
        },
    ] {
        fake.control().fail_next(failure.clone());
        let e = client
            .send(&delivery(&number(ADA), Channel::Sms), None)
            .await
            .unwrap_err();
        assert!(is_unavailable(&e), "{failure:?}: {e:?}");
    }
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_returns_before_the_hang_ends() {
    let fake = start_fake().await;
    let client = client_for(fake.base(), KEY, Duration::from_millis(300));
    let (receipt, c) = send(&fake, &client, ADA).await;
    // Far past the client timeout: a slow, shared machine cannot make the answer win.
    let hang = Duration::from_secs(30);

    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, MessageBirdError::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < hang);

    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let got = check_is_not_approved(&client, ADA, &c, &receipt).await;
    assert!(matches!(&got, Err(e) if is_unavailable(e)), "{got:?}");
    assert!(started.elapsed() < hang);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_names_no_code() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = client_for(&nowhere, KEY, Duration::from_secs(2));
    let e = client
        .send(&delivery(&number(ADA), Channel::Sms), None)
        .await
        .unwrap_err();
    assert!(is_unavailable(&e), "{e:?}");
    let receipt = Receipt::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let e = client
        .check(&number(ADA), &code("482913"), Some(&receipt))
        .await
        .unwrap_err();
    assert!(is_unavailable(&e), "{e:?}");
    assert!(!e.to_string().contains("482913"), "{e}");
}

#[tokio::test]
async fn debug_never_shows_the_access_key() {
    let (_fake, client) = rig().await;
    let config = MessageBirdVerifyConfig {
        base_url: Url::parse("https://rest.messagebird.com").unwrap(),
        access_key: SecretString::from(KEY),
        originator: None,
        timeout: Duration::from_secs(1),
    };
    for text in [
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{config:?}"),
    ] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("9f3c1d7e2a"), "{text}");
    }
    assert_eq!(client.name(), "messagebird-verify");
    assert_eq!(client.channels(), &[Channel::Sms, Channel::Voice]);
}

/// The fake itself is strict, so the tests above mean something.
mod fake {
    use super::*;

    async fn post(
        fake: &FakeMessageBird,
        key: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(fake.base().join("/verify").unwrap())
            .header("Authorization", format!("AccessKey {key}"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(fake: &FakeMessageBird, path_and_query: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(fake.base().join(path_and_query).unwrap())
            .header("Authorization", format!("AccessKey {KEY}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn a_wrong_or_missing_access_key_is_error_2() {
        let fake = start_fake().await;
        let (status, body) = post(
            &fake,
            DEFAULT_ACCESS_KEY,
            &json!({"recipient": "15551230001"}),
        )
        .await;
        assert_eq!((status, &body["errors"][0]["code"]), (401, &json!(2)));
        let response = reqwest::Client::new()
            .post(fake.base().join("/verify").unwrap())
            .json(&json!({"recipient": "15551230001"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(fake.sent_codes(ADA).is_empty());
    }

    #[tokio::test]
    async fn bodies_off_the_spec_are_refused_with_messagebirds_codes() {
        let fake = start_fake().await;
        let bad: &[(serde_json::Value, u32, Option<&str>)] = &[
            (json!({}), 9, Some("recipient")),
            (
                json!({"recipient": "15551230001", "maxAttempts": 3}),
                10,
                Some("maxAttempts"),
            ),
            (json!({"recipient": "+15551230001"}), 10, Some("recipient")),
            (json!({"recipient": 15551230001_u64}), 10, Some("recipient")),
            (
                json!({"recipient": "15551230001", "type": "call"}),
                10,
                Some("type"),
            ),
            (
                json!({"recipient": "15551230001", "template": "no token"}),
                10,
                Some("template"),
            ),
            (
                json!({"recipient": "15551230001", "tokenLength": 8}),
                10,
                Some("tokenLength"),
            ),
            (
                json!({"recipient": "15551230001", "tokenLength": "6"}),
                10,
                Some("tokenLength"),
            ),
            (
                json!({"recipient": "15551230001", "timeout": 0}),
                10,
                Some("timeout"),
            ),
            (
                json!({"recipient": "15551230001", "originator": "WayTooLongName"}),
                10,
                Some("originator"),
            ),
            (
                json!({"recipient": "15551230001", "voice": "robot"}),
                10,
                Some("voice"),
            ),
            (json!(["15551230001"]), 10, None),
        ];
        for (body, code, parameter) in bad {
            let (status, answer) = post(&fake, KEY, body).await;
            assert_eq!(status, 422, "{body}");
            assert_eq!(answer["errors"][0]["code"], *code, "{body}: {answer}");
            assert_eq!(answer["errors"][0]["parameter"], json!(parameter), "{body}");
        }
        // A repeated field, which a JSON map would hide.
        let response = reqwest::Client::new()
            .post(fake.base().join("/verify").unwrap())
            .header("Authorization", format!("AccessKey {KEY}"))
            .header("Content-Type", "application/json")
            .body(r#"{"recipient":"15551230001","recipient":"15551230002"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422);
        assert!(fake.sent_codes(ADA).is_empty());
    }

    #[tokio::test]
    async fn verifications_read_sent_verified_failed_and_expired() {
        let fake = start_fake().await;
        fake.fix_code(Some("482913"));
        let (status, first) = post(
            &fake,
            KEY,
            &json!({"recipient": "15551230001", "reference": "r1"}),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(first["status"], "sent");
        assert_eq!(first["recipient"], 15551230001_u64);
        assert_eq!(first["reference"], "r1");
        let first_id = first["id"].as_str().unwrap().to_owned();
        assert_eq!(first_id.len(), 32);

        let (_, second) = post(
            &fake,
            KEY,
            &json!({"recipient": "15551230001", "type": "tts"}),
        )
        .await;
        assert_eq!(second["recipient"], "15551230001");
        let second_id = second["id"].as_str().unwrap().to_owned();
        assert_ne!(first_id, second_id);

        let (status, read) = get(&fake, &format!("/verify/{first_id}")).await;
        assert_eq!((status, &read["status"]), (200, &json!("failed")));
        let (status, read) = get(&fake, &format!("/verify/{second_id}?token=")).await;
        assert_eq!((status, &read["status"]), (200, &json!("sent")));

        let (status, wrong) = get(&fake, &format!("/verify/{second_id}?token=000000")).await;
        assert_eq!(status, 422);
        assert_eq!(wrong["errors"][0]["code"], 10);
        assert_eq!(wrong["errors"][0]["parameter"], "token");

        let (status, ok) = get(&fake, &format!("/verify/{second_id}?token=482913")).await;
        assert_eq!((status, &ok["status"]), (200, &json!("verified")));
        let (status, again) = get(&fake, &format!("/verify/{second_id}?token=482913")).await;
        assert_eq!((status, &again["errors"][0]["code"]), (404, &json!(20)));
        let (_, read) = get(&fake, &format!("/verify/{second_id}")).await;
        assert_eq!(read["status"], "verified");

        let (_, third) = post(&fake, KEY, &json!({"recipient": "15551230001"})).await;
        let third_id = third["id"].as_str().unwrap().to_owned();
        fake.expire(ADA);
        let (status, expired) = get(&fake, &format!("/verify/{third_id}?token=482913")).await;
        assert_eq!((status, &expired["status"]), (200, &json!("expired")));

        let (status, extra) = get(&fake, &format!("/verify/{third_id}?token=1&foo=2")).await;
        assert_eq!(
            (status, &extra["errors"][0]["parameter"]),
            (422, &json!("foo"))
        );
        let (status, unknown) = get(&fake, "/verify/nosuchid?token=482913").await;
        assert_eq!((status, &unknown["errors"][0]["code"]), (404, &json!(20)));
    }
}

/// The client's log lines, at every level. The capture is process-wide (a thread-local
/// subscriber misses callsites that parallel tests registered first), so it also sees the
/// other tests' lines: the secrets check covers them all, the counts only this test's number.
mod logs {
    use super::*;

    const LOGGED: &str = "+15551230009";
    const LOGGED_MASKED: &str = "+1555•••0009";

    use crate::log_capture::captured;

    #[tokio::test]
    async fn never_hold_the_number_the_code_or_the_key() {
        let buffer = captured();
        let fake = start_fake().await;
        fake.fix_code(Some("482913"));
        let client = client_for(fake.base(), KEY, Duration::from_secs(2));
        let to = number(LOGGED);
        let receipt = client
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap();
        let right = code("482913");
        client
            .check(&to, &wrong(&right), Some(&receipt))
            .await
            .unwrap();
        client.check(&to, &right, Some(&receipt)).await.unwrap();
        fake.control().fail_next(fake_mb::undeliverable());
        client
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap_err();
        fake.control().fail_next(Failure::Json {
            http: 422,
            body: fake_mb::error_body(10, &format!("bad {LOGGED} 482913"), Some("recipient")),
        });
        client
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap_err();
        let stranger = client_for(fake.base(), "not-the-key", Duration::from_secs(2));
        stranger
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap_err();

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        for secret in ["5551230009", "482913", "482914", KEY, "not-the-key"] {
            assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        }
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(LOGGED_MASKED)).collect();
        let count = |event: &str| ours.iter().filter(|l| l.contains(event)).count();
        assert_eq!(count("event=\"verify.request\""), 6, "{text}");
        assert_eq!(count("event=\"verify.upstream_error\""), 3, "{text}");
        let credentials = ours
            .iter()
            .find(|l| l.contains("verify.upstream_error") && l.contains("access key"))
            .expect("a credentials line");
        assert!(credentials.starts_with("ERROR"), "{credentials}");
        assert!(
            ours.iter()
                .any(|l| l.contains("http_status=201") && l.contains("elapsed_ms=")),
            "{text}"
        );
    }
}
