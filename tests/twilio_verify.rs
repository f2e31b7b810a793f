//! The Twilio Verify client against a fake Twilio Verify server: the requests it puts on the
//! wire, and how every answer and failure maps onto the verifier's errors.

#[path = "common/log_capture.rs"]
mod log_capture;

mod common;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::verify::twilio::ApiError;
use bridgekeeper::verify::{
    Channel, CheckOutcome, Delivery, TwilioVerify, TwilioVerifyConfig, TwilioVerifyError, Verifier,
    VerifyError,
};
use common::fake_verify::{Failure, FakeVerify};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};
use url::Url;

const ACCOUNT: &str = "AC00000000000000000000000000000a11";
const TOKEN: &str = "tok-3b6f0c1d9e2a-never-in-logs";
const SERVICE: &str = "VA00000000000000000000000000000b22";
const ADA: &str = "+15551230001";
const GRACE: &str = "+15551230002";

fn client_for(base: &Url, token: &str, service: &str, timeout: Duration) -> TwilioVerify {
    TwilioVerify::new(TwilioVerifyConfig {
        base_url: base.clone(),
        account_sid: ACCOUNT.to_owned(),
        auth_token: SecretString::from(token),
        service_sid: service.to_owned(),
        timeout,
    })
    .expect("client builds")
}

async fn rig() -> (FakeVerify, TwilioVerify) {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let client = client_for(&fake.base, TOKEN, SERVICE, Duration::from_secs(2));
    (fake, client)
}

fn sms(to: &PhoneNumber) -> Delivery<'_> {
    Delivery {
        to,
        channel: Channel::Sms,
        conference: "Board",
    }
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn code(digits: &str) -> Code {
    Code::parse(digits).unwrap()
}

/// The code the fake last texted to a number.
fn texted(fake: &FakeVerify, to: &str) -> Code {
    code(fake.sent_codes(to).last().expect("a code was sent"))
}

fn wrong(right: &Code) -> Code {
    let n: u32 = right.expose().parse().unwrap();
    Code::from_number((n + 1) % 1_000_000)
}

fn is_unavailable(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Unavailable(_))
}

fn is_refused(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Refused(_))
}

/// The typed error of a send that must fail.
async fn send_error(client: &TwilioVerify, to: &str) -> TwilioVerifyError {
    client
        .create_verification(&number(to), Channel::Sms)
        .await
        .expect_err("the send fails")
}

/// The typed error of a check that must fail.
async fn check_error(client: &TwilioVerify, to: &str, c: &Code) -> TwilioVerifyError {
    client
        .check_verification(&number(to), c)
        .await
        .expect_err("the check fails")
}

#[tokio::test]
async fn a_sent_code_is_approved_once() {
    let (fake, client) = rig().await;
    client.send(&sms(&number(ADA)), None).await.unwrap();
    assert_eq!(fake.sent_codes(ADA).len(), 1);
    let c = texted(&fake, ADA);

    assert_eq!(
        client.check(&number(ADA), &c, None).await,
        Ok(CheckOutcome::Approved)
    );
    assert_eq!(
        client.check(&number(ADA), &c, None).await,
        Err(VerifyError::NotFound)
    );
}

#[tokio::test]
async fn the_client_sends_exactly_the_spec_fields_with_basic_auth() {
    let (fake, client) = rig().await;
    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);
    client.check(&number(ADA), &c, None).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let (send, check) = (&requests[0], &requests[1]);

    assert_eq!(send.method, "POST");
    assert_eq!(send.path, format!("/v2/Services/{SERVICE}/Verifications"));
    assert_eq!(
        send.form,
        [
            ("To".to_owned(), ADA.to_owned()),
            ("Channel".to_owned(), "sms".to_owned())
        ]
    );
    assert_eq!(check.method, "POST");
    assert_eq!(
        check.path,
        format!("/v2/Services/{SERVICE}/VerificationCheck")
    );
    assert_eq!(
        check.form,
        [
            ("To".to_owned(), ADA.to_owned()),
            ("Code".to_owned(), c.expose().to_owned())
        ]
    );
    for r in [send, check] {
        assert!(r.auth_ok, "{r:?}");
        assert_eq!(r.basic_user.as_deref(), Some(ACCOUNT));
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let agent = r.user_agent.as_deref().unwrap_or_default();
        assert!(agent.starts_with("bridgekeeper/"), "{agent}");
    }
}

#[tokio::test]
async fn a_voice_delivery_asks_for_a_call_and_its_code_checks() {
    let (fake, client) = rig().await;
    let mut sends = fake.watch_sends();
    let to = number(ADA);
    let voice = Delivery {
        to: &to,
        channel: Channel::Voice,
        conference: "Board",
    };
    client.send(&voice, None).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].form,
        [
            ("To".to_owned(), ADA.to_owned()),
            ("Channel".to_owned(), "call".to_owned())
        ]
    );
    let sent = sends.try_recv().expect("the fake called out a code");
    assert_eq!((sent.to.as_str(), sent.channel.as_str()), (ADA, "voice"));
    let c = texted(&fake, ADA);
    assert_eq!(c.expose(), sent.code);

    assert_eq!(
        client.check(&to, &c, None).await,
        Ok(CheckOutcome::Approved)
    );
    // An SMS send to another number is told apart.
    client.send(&sms(&number(GRACE)), None).await.unwrap();
    let sent = sends.try_recv().expect("the fake texted a code");
    assert_eq!((sent.to.as_str(), sent.channel.as_str()), (GRACE, "sms"));
}

#[tokio::test]
async fn a_wrong_code_is_rejected_and_the_right_one_still_works() {
    let (fake, client) = rig().await;
    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);

    assert_eq!(
        client.check(&number(ADA), &wrong(&c), None).await,
        Ok(CheckOutcome::Rejected)
    );
    assert_eq!(
        client.check(&number(ADA), &c, None).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn a_resend_keeps_the_code() {
    let (fake, client) = rig().await;
    client.send(&sms(&number(ADA)), None).await.unwrap();
    client.send(&sms(&number(ADA)), None).await.unwrap();

    let codes = fake.sent_codes(ADA);
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[0], codes[1]);
    assert_eq!(
        client.check(&number(ADA), &code(&codes[0]), None).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn invalid_parameter_60200_is_refused_without_echoing_the_number() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Error {
        http: 400,
        code: 60200,
    });
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::InvalidParameter(ApiError {
                http: 400,
                code: Some(60200),
                ..
            })
        ),
        "{e:?}"
    );
    // The fake, like Twilio, puts the number in the message; it must not survive.
    let verify = VerifyError::from(e.clone());
    assert!(is_refused(&verify), "{verify:?}");
    for text in [e.to_string(), format!("{e:?}"), verify.to_string()] {
        assert!(!text.contains("5551230001"), "{text}");
    }

    fake.fail_next(Failure::Error {
        http: 400,
        code: 60200,
    });
    let verify = client.send(&sms(&number(ADA)), None).await.unwrap_err();
    assert!(is_refused(&verify), "{verify:?}");
}

#[tokio::test]
async fn the_sixth_check_hits_60202() {
    let (fake, client) = rig().await;
    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);
    for _ in 0..5 {
        assert_eq!(
            client.check(&number(ADA), &wrong(&c), None).await,
            Ok(CheckOutcome::Rejected)
        );
    }
    // Even the right code: the checks are used up.
    let e = check_error(&client, ADA, &c).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::MaxCheckAttempts(ApiError {
                http: 429,
                code: Some(60202),
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        client.check(&number(ADA), &c, None).await,
        Err(VerifyError::TooManyChecks)
    );
}

#[tokio::test]
async fn the_sixth_send_hits_60203() {
    let (fake, client) = rig().await;
    for _ in 0..5 {
        client.send(&sms(&number(ADA)), None).await.unwrap();
    }
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::MaxSendAttempts(ApiError {
                http: 429,
                code: Some(60203),
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        client.send(&sms(&number(ADA)), None).await,
        Err(VerifyError::TooManySends)
    );
    assert_eq!(fake.sent_codes(ADA).len(), 5);
    // Another number is not affected.
    assert_eq!(
        client.send(&sms(&number(GRACE)), None).await,
        Ok(bridgekeeper::verify::Receipt::default())
    );
}

#[tokio::test]
async fn a_check_with_nothing_pending_is_not_found_20404() {
    let (fake, client) = rig().await;
    let e = check_error(&client, ADA, &code("123456")).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::NotFound(ApiError {
                http: 404,
                code: Some(20404),
                ..
            })
        ),
        "{e:?}"
    );

    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);
    fake.expire(ADA);
    assert_eq!(
        client.check(&number(ADA), &c, None).await,
        Err(VerifyError::NotFound)
    );
    // A fresh send after expiry starts over.
    client.send(&sms(&number(ADA)), None).await.unwrap();
    let fresh = texted(&fake, ADA);
    assert_eq!(
        client.check(&number(ADA), &fresh, None).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn rate_limits_are_unavailable() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Error {
        http: 429,
        code: 20429,
    });
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::RateLimited(ApiError {
                code: Some(20429),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(is_unavailable(&e.into()));

    fake.fail_next(Failure::Status(429));
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::RateLimited(ApiError {
                http: 429,
                code: None,
                ..
            })
        ),
        "{e:?}"
    );
    fake.fail_next(Failure::Status(429));
    assert!(is_unavailable(
        &client.send(&sms(&number(ADA)), None).await.unwrap_err()
    ));
}

#[tokio::test]
async fn a_fraud_block_or_a_landline_is_refused_even_with_http_403() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Error {
        http: 403,
        code: 60410,
    });
    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::FraudBlocked(_)), "{e:?}");
    assert!(is_refused(&e.into()));

    fake.fail_next(Failure::Error {
        http: 403,
        code: 60205,
    });
    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::Undeliverable(_)), "{e:?}");
    assert!(is_refused(&e.into()));

    for code in [60410, 60205] {
        fake.fail_next(Failure::Error { http: 403, code });
        let verify = client.send(&sms(&number(ADA)), None).await.unwrap_err();
        assert!(is_refused(&verify), "{code}: {verify:?}");
    }
}

#[tokio::test]
async fn a_wrong_token_is_a_credentials_error() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let client = client_for(&fake.base, "not-the-token", SERVICE, Duration::from_secs(2));

    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::Credentials(ApiError {
                http: 401,
                code: Some(20003),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(e.needs_operator());
    assert!(!e.to_string().contains("not-the-token"), "{e}");
    assert!(is_unavailable(
        &client.send(&sms(&number(ADA)), None).await.unwrap_err()
    ));
    let c = code("123456");
    assert!(is_unavailable(
        &client.check(&number(ADA), &c, None).await.unwrap_err()
    ));
    assert!(fake.requests().iter().all(|r| !r.auth_ok));
}

#[tokio::test]
async fn http_403_without_a_number_code_is_a_credentials_error() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Status(403));
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::Credentials(ApiError {
                http: 403,
                code: None,
                ..
            })
        ),
        "{e:?}"
    );
    fake.fail_next(Failure::Error {
        http: 403,
        code: 20403,
    });
    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::Credentials(_)), "{e:?}");
    assert!(is_unavailable(&e.into()));
}

#[tokio::test]
async fn another_4xx_is_unavailable() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Error {
        http: 400,
        code: 21608,
    });
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::ClientError(ApiError {
                http: 400,
                code: Some(21608),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(is_unavailable(&e.into()));

    fake.fail_next(Failure::Status(418));
    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::ClientError(_)), "{e:?}");
}

#[tokio::test]
async fn server_errors_and_non_json_error_bodies_are_unavailable() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::Error {
        http: 500,
        code: 20500,
    });
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(
            &e,
            TwilioVerifyError::ServerError(ApiError {
                http: 500,
                code: Some(20500),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(is_unavailable(&e.into()));

    // An HTML error page: only the HTTP status is left.
    fake.fail_next(Failure::Status(503));
    let e = send_error(&client, ADA).await;
    assert_eq!(
        e,
        TwilioVerifyError::ServerError(ApiError {
            http: 503,
            code: None,
            message: None
        })
    );

    // On a check, an outage never approves.
    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);
    fake.fail_next(Failure::Status(502));
    let verify = client.check(&number(ADA), &c, None).await.unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
}

#[tokio::test]
async fn a_success_status_without_json_is_malformed() {
    let (fake, client) = rig().await;
    fake.fail_next(Failure::NotJson);
    let e = send_error(&client, ADA).await;
    assert!(
        matches!(&e, TwilioVerifyError::MalformedResponse { http: 201, .. }),
        "{e:?}"
    );
    assert!(is_unavailable(&e.into()));

    client.send(&sms(&number(ADA)), None).await.unwrap();
    let c = texted(&fake, ADA);
    fake.fail_next(Failure::NotJson);
    let e = check_error(&client, ADA, &c).await;
    assert!(
        matches!(&e, TwilioVerifyError::MalformedResponse { http: 200, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn only_status_approved_ever_approves() {
    let (fake, client) = rig().await;
    let c = code("123456");
    let not_approved = [
        (200, json!({"status": "APPROVED", "valid": true})),
        (200, json!({"status": "approved ", "valid": true})),
        (200, json!({"valid": true})),
        (200, json!({"status": null, "valid": true})),
        (200, json!({"status": ["approved"]})),
        (200, json!({"verification": {"status": "approved"}})),
        (202, json!({"status": "approved", "valid": true})),
        (200, json!({"status": "failed"})),
        (200, json!("approved")),
    ];
    for (http, body) in not_approved {
        let label = format!("{http} {body}");
        fake.fail_next(Failure::Json { http, body });
        let verify = client.check(&number(ADA), &c, None).await.unwrap_err();
        assert!(is_unavailable(&verify), "{label}: {verify:?}");
    }
    let mapped = [
        ("approved", Ok(CheckOutcome::Approved)),
        ("pending", Ok(CheckOutcome::Rejected)),
        ("max_attempts_reached", Err(VerifyError::TooManyChecks)),
        ("expired", Err(VerifyError::NotFound)),
        ("canceled", Err(VerifyError::NotFound)),
        ("deleted", Err(VerifyError::NotFound)),
    ];
    for (status, expected) in mapped {
        fake.fail_next(Failure::Json {
            http: 200,
            body: json!({"status": status, "valid": status == "approved"}),
        });
        assert_eq!(
            client.check(&number(ADA), &c, None).await,
            expected,
            "{status}"
        );
    }
    // A send is accepted only as pending.
    fake.fail_next(Failure::Json {
        http: 201,
        body: json!({"status": "approved"}),
    });
    let verify = client.send(&sms(&number(ADA)), None).await.unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_returns_before_the_hang_ends() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let client = client_for(&fake.base, TOKEN, SERVICE, Duration::from_millis(300));
    let hang = Duration::from_secs(30);

    fake.fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = send_error(&client, ADA).await;
    let took = started.elapsed();
    assert!(matches!(e, TwilioVerifyError::Timeout(_)), "{e:?}");
    assert!(took < hang, "returned after {took:?}");

    fake.fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let verify = client
        .check(&number(ADA), &code("123456"), None)
        .await
        .unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
    assert!(started.elapsed() < hang);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = client_for(&nowhere, TOKEN, SERVICE, Duration::from_secs(2));

    let e = send_error(&client, ADA).await;
    assert!(matches!(e, TwilioVerifyError::Connect(_)), "{e:?}");
    assert!(is_unavailable(
        &client.send(&sms(&number(ADA)), None).await.unwrap_err()
    ));
    assert!(is_unavailable(
        &client
            .check(&number(ADA), &code("123456"), None)
            .await
            .unwrap_err()
    ));
}

#[tokio::test]
async fn a_wrong_service_sid_on_send_is_not_a_missing_code() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let other = "VA00000000000000000000000000000c33";
    let client = client_for(&fake.base, TOKEN, other, Duration::from_secs(2));

    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::ServiceNotFound(_)), "{e:?}");
    assert!(e.needs_operator());
    assert!(is_unavailable(
        &client.send(&sms(&number(ADA)), None).await.unwrap_err()
    ));
}

#[tokio::test]
async fn an_odd_service_sid_stays_one_path_segment_on_the_wire() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let odd = "../../Verifications?To=x#y";
    let client = client_for(&fake.base, TOKEN, odd, Duration::from_secs(2));

    let e = send_error(&client, ADA).await;
    assert!(matches!(&e, TwilioVerifyError::ServiceNotFound(_)), "{e:?}");
    let requests = fake.requests();
    let path = &requests[0].path;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    assert_eq!(segments.len(), 4, "{path}");
    assert_eq!(segments[..2], ["v2", "Services"]);
    assert_eq!(segments[3], "Verifications");
    assert_eq!(
        percent_encoding::percent_decode_str(segments[2]).decode_utf8_lossy(),
        odd
    );
}

#[tokio::test]
async fn fail_always_applies_to_both_endpoints_until_cleared() {
    let (fake, client) = rig().await;
    fake.fail_always(Some(Failure::Status(500)));
    for _ in 0..2 {
        assert!(is_unavailable(
            &client.send(&sms(&number(ADA)), None).await.unwrap_err()
        ));
        assert!(is_unavailable(
            &client
                .check(&number(ADA), &code("123456"), None)
                .await
                .unwrap_err()
        ));
    }
    fake.fail_always(None);
    client.send(&sms(&number(ADA)), None).await.unwrap();
    assert_eq!(fake.requests().len(), 5);
}

#[tokio::test]
async fn debug_never_shows_the_token() {
    let (_fake, client) = rig().await;
    for text in [format!("{client:?}"), format!("{client:#?}")] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("3b6f0c1d9e2a"), "{text}");
    }
    assert_eq!(client.name(), "twilio-verify");
}

/// The fake itself is strict, so the tests above mean something.
mod fake {
    use super::*;

    async fn post(
        fake: &FakeVerify,
        leaf: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = fake
            .base
            .join(&format!("/v2/Services/{SERVICE}/{leaf}"))
            .unwrap();
        let response = reqwest::Client::new()
            .post(url)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn fields_outside_the_spec_or_missing_ones_are_60200() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let bad_sends: &[&[(&str, &str)]] = &[
            &[("To", ADA)],
            &[("Channel", "sms")],
            &[("To", ADA), ("Channel", "sms"), ("Foo", "1")],
            &[("To", ADA), ("Channel", "sms"), ("Channel", "sms")],
            &[("To", ADA), ("Channel", "whatsapp")],
            &[("To", ADA), ("Channel", "voice")],
            &[("to", ADA), ("channel", "sms")],
            &[("To", "5551230001"), ("Channel", "sms")],
        ];
        for form in bad_sends {
            let (status, body) = post(&fake, "Verifications", form).await;
            assert_eq!(
                (status, body["code"].as_u64()),
                (400, Some(60200)),
                "{form:?}"
            );
        }
        let bad_checks: &[&[(&str, &str)]] = &[
            &[("To", ADA)],
            &[("Code", "123456")],
            &[("To", ADA), ("Code", "123456"), ("Channel", "sms")],
        ];
        for form in bad_checks {
            let (status, body) = post(&fake, "VerificationCheck", form).await;
            assert_eq!(
                (status, body["code"].as_u64()),
                (400, Some(60200)),
                "{form:?}"
            );
        }
        assert!(fake.sent_codes(ADA).is_empty());
        // A field the spec defines is accepted.
        let (status, body) = post(
            &fake,
            "Verifications",
            &[("To", ADA), ("Channel", "sms"), ("Locale", "en")],
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(body["status"], "pending");
        assert_eq!(body["valid"], false);
        assert!(body["sid"].as_str().unwrap().starts_with("VE"));
        assert_eq!(body["service_sid"], SERVICE);
        assert_eq!(body["account_sid"], ACCOUNT);
    }

    #[tokio::test]
    async fn the_verification_names_its_channel_and_a_resend_may_change_it() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        fake.fix_code("482913");
        let (status, body) =
            post(&fake, "Verifications", &[("To", ADA), ("Channel", "call")]).await;
        assert_eq!((status, &body["channel"]), (201, &json!("call")), "{body}");
        let (status, body) = post(&fake, "Verifications", &[("To", ADA), ("Channel", "sms")]).await;
        assert_eq!((status, &body["channel"]), (201, &json!("sms")), "{body}");
        assert_eq!(fake.sent_codes(ADA), ["482913", "482913"]);
        let (status, body) = post(
            &fake,
            "VerificationCheck",
            &[("To", ADA), ("Code", "482913")],
        )
        .await;
        assert_eq!(
            (status, &body["status"], &body["channel"]),
            (200, &json!("approved"), &json!("sms"))
        );
    }

    #[tokio::test]
    async fn missing_auth_is_401_20003() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let url = fake
            .base
            .join(&format!("/v2/Services/{SERVICE}/Verifications"))
            .unwrap();
        let response = reqwest::Client::new()
            .post(url)
            .form(&[("To", ADA), ("Channel", "sms")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], 20003);
        assert!(!fake.requests()[0].auth_ok);
    }

    #[tokio::test]
    async fn an_approved_verification_is_gone() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        fake.fix_code("482913");
        post(&fake, "Verifications", &[("To", ADA), ("Channel", "sms")]).await;
        assert!(fake.is_pending(ADA));
        let (status, body) = post(
            &fake,
            "VerificationCheck",
            &[("To", ADA), ("Code", "482913")],
        )
        .await;
        assert_eq!(
            (status, &body["status"], &body["valid"]),
            (200, &json!("approved"), &json!(true))
        );
        let (status, body) = post(
            &fake,
            "VerificationCheck",
            &[("To", ADA), ("Code", "482913")],
        )
        .await;
        assert_eq!((status, body["code"].as_u64()), (404, Some(20404)));
    }
}

/// The client's log lines, at every level. The capture is process-wide (a thread-local
/// subscriber misses callsites that parallel tests registered first), so it also sees the
/// other tests' lines: the secrets check covers them all, the counts only this test's number.
mod logs {
    use super::*;

    /// A number only this test uses, and how it must appear in the logs.
    const LOGGED: &str = "+15551230009";
    const LOGGED_MASKED: &str = "+1555•••0009";

    use crate::log_capture::captured;

    #[tokio::test]
    async fn never_hold_the_number_the_code_or_the_token() {
        let buffer = captured();
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        fake.fix_code("482913");
        let client = client_for(&fake.base, TOKEN, SERVICE, Duration::from_secs(2));
        let to = number(LOGGED);
        client.send(&sms(&to), None).await.unwrap();
        let right = code("482913");
        client.check(&to, &wrong(&right), None).await.unwrap();
        client.check(&to, &right, None).await.unwrap();
        fake.fail_next(Failure::Error {
            http: 400,
            code: 60200,
        });
        client.send(&sms(&to), None).await.unwrap_err();
        fake.fail_next(Failure::Json {
            http: 200,
            body: json!({"status": format!("weird {LOGGED} 482913")}),
        });
        client.check(&to, &right, None).await.unwrap_err();
        let stranger = client_for(&fake.base, "not-the-token", SERVICE, Duration::from_secs(2));
        stranger.send(&sms(&to), None).await.unwrap_err();

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "5551230009",
            "5551230001",
            "5551230002",
            "482913",
            "482914",
            "123456",
            TOKEN,
            "not-the-token",
        ] {
            assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        }
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(LOGGED_MASKED)).collect();
        let count = |event: &str| ours.iter().filter(|l| l.contains(event)).count();
        assert_eq!(count("event=\"verify.request\""), 6, "{text}");
        assert_eq!(count("event=\"verify.upstream_error\""), 3, "{text}");
        let credentials = ours
            .iter()
            .find(|l| l.contains("verify.upstream_error") && l.contains("credentials"))
            .expect("a credentials line");
        assert!(credentials.starts_with("ERROR"), "{credentials}");
        assert!(
            ours.iter()
                .any(|l| l.contains("http_status=201") && l.contains("elapsed_ms=")),
            "{text}"
        );
    }
}
