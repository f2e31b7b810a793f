//! The Telnyx Verify client against the fake Telnyx: the requests it puts on the wire, and
//! how every answer and failure maps onto the verifier's errors (never an approval).

#[path = "common/log_capture.rs"]
mod log_capture;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::Failure;
use bridgekeeper::fakes::telnyx::{self as telnyx_fake, FakeTelnyx, FakeTelnyxConfig};
use bridgekeeper::verify::telnyx::{TelnyxVerify, TelnyxVerifyConfig, TelnyxVerifyError};
use bridgekeeper::verify::{Channel, CheckOutcome, Delivery, Verifier, VerifyError};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use url::Url;

const KEY: &str = "KEY01H8-3b6f0c1d9e2a-never-in-logs";
const PROFILE: &str = "4b1d2c3e-5f60-4718-9a2b-3c4d5e6f7a8b";
const ADA: &str = "+15551230001";
const GRACE: &str = "+15551230002";

fn client_for(base: &Url, key: &str, profile: &str, timeout: Duration) -> TelnyxVerify {
    TelnyxVerify::new(TelnyxVerifyConfig {
        base_url: base.clone(),
        api_key: SecretString::from(key),
        profile_id: profile.to_owned(),
        timeout,
    })
    .expect("client builds")
}

async fn fake() -> FakeTelnyx {
    FakeTelnyx::start(FakeTelnyxConfig {
        api_key: KEY.to_owned(),
        profile_id: PROFILE.to_owned(),
        ..FakeTelnyxConfig::default()
    })
    .await
    .expect("the fake starts")
}

async fn rig() -> (FakeTelnyx, TelnyxVerify) {
    let fake = fake().await;
    let client = client_for(fake.base(), KEY, PROFILE, Duration::from_secs(2));
    (fake, client)
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn code(digits: &str) -> Code {
    Code::parse(digits).unwrap()
}

fn delivery(to: &PhoneNumber, channel: Channel) -> Delivery<'_> {
    Delivery {
        to,
        channel,
        conference: "Board",
    }
}

/// The code the fake last sent to a number.
fn sent(fake: &FakeTelnyx, to: &str) -> Code {
    code(fake.sent_codes(to).last().expect("a code was sent"))
}

fn wrong(right: &Code) -> Code {
    let n: u32 = right.expose().parse().unwrap();
    Code::from_number((n + 1) % 1_000_000)
}

fn is_unavailable(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Unavailable(_))
}

async fn send(client: &TelnyxVerify, to: &str) -> Result<(), VerifyError> {
    client
        .send(&delivery(&number(to), Channel::Sms), None)
        .await
        .map(|receipt| assert!(receipt.as_bytes().is_empty(), "no receipt is used"))
}

async fn check(client: &TelnyxVerify, to: &str, c: &Code) -> Result<CheckOutcome, VerifyError> {
    client.check(&number(to), c, None).await
}

fn body_json(body: &str) -> Value {
    serde_json::from_str(body).expect("the client sent JSON")
}

#[tokio::test]
async fn a_sent_sms_code_is_approved_once() {
    let (fake, client) = rig().await;
    send(&client, ADA).await.unwrap();
    assert_eq!(fake.sent_codes(ADA).len(), 1);
    let c = sent(&fake, ADA);

    assert_eq!(check(&client, ADA, &c).await, Ok(CheckOutcome::Approved));
    assert_eq!(check(&client, ADA, &c).await, Err(VerifyError::NotFound));
}

#[tokio::test]
async fn the_client_sends_exactly_the_spec_fields_with_bearer_auth() {
    let (fake, client) = rig().await;
    send(&client, ADA).await.unwrap();
    let c = sent(&fake, ADA);
    check(&client, ADA, &c).await.unwrap();

    let requests = fake.control().requests();
    assert_eq!(requests.len(), 2);
    let (start, verify) = (&requests[0], &requests[1]);
    assert_eq!(start.method, "POST");
    assert_eq!(start.path, "/v2/verifications/sms");
    assert_eq!(
        body_json(&start.body),
        json!({"phone_number": ADA, "verify_profile_id": PROFILE, "timeout_secs": 600})
    );
    assert_eq!(verify.method, "POST");
    assert_eq!(
        verify.path,
        "/v2/verifications/by_phone_number/+15551230001/actions/verify"
    );
    assert_eq!(
        body_json(&verify.body),
        json!({"code": c.expose(), "verify_profile_id": PROFILE})
    );
    for r in [start, verify] {
        assert!(r.auth_ok, "Bearer key on {r:?}");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn the_number_in_the_check_url_is_one_path_segment_that_decodes_to_e164() {
    let (fake, client) = rig().await;
    fake.fix_code(Some("482913"));
    send(&client, ADA).await.unwrap();
    check(&client, ADA, &code("482913")).await.unwrap();

    let path = fake.control().requests()[1].path.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    assert_eq!(
        segments,
        [
            "v2",
            "verifications",
            "by_phone_number",
            "+15551230001",
            "actions",
            "verify"
        ]
    );
    // Percent-decoding the segment (a path is not a form: `+` is a plus) gives the number.
    assert_eq!(
        percent_encoding::percent_decode_str(segments[3]).decode_utf8_lossy(),
        ADA
    );
    // And the fake reads an encoded plus the same way.
    fake.fix_code(Some("482913"));
    send(&client, GRACE).await.unwrap();
    let url = fake
        .base()
        .join("/v2/verifications/by_phone_number/%2B15551230002/actions/verify")
        .unwrap();
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(KEY)
        .json(&json!({"code": "482913", "verify_profile_id": PROFILE}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["response_code"], "accepted");
    assert_eq!(body["data"]["phone_number"], GRACE);
}

#[tokio::test]
async fn a_wrong_code_is_rejected_and_the_right_one_still_works() {
    let (fake, client) = rig().await;
    send(&client, ADA).await.unwrap();
    let c = sent(&fake, ADA);

    assert_eq!(
        check(&client, ADA, &wrong(&c)).await,
        Ok(CheckOutcome::Rejected)
    );
    assert_eq!(check(&client, ADA, &c).await, Ok(CheckOutcome::Approved));
}

#[tokio::test]
async fn voice_uses_verifications_call() {
    let (fake, client) = rig().await;
    let mut sends = fake.control().watch_sends();
    client
        .send(&delivery(&number(ADA), Channel::Voice), None)
        .await
        .unwrap();

    let request = &fake.control().requests()[0];
    assert_eq!(request.path, "/v2/verifications/call");
    assert_eq!(
        body_json(&request.body),
        json!({"phone_number": ADA, "verify_profile_id": PROFILE, "timeout_secs": 600})
    );
    let delivered = sends.try_recv().expect("the fake called with a code");
    assert_eq!(
        (delivered.to.as_str(), delivered.channel.as_str()),
        (ADA, "voice")
    );
    assert_eq!(
        check(&client, ADA, &code(&delivered.code)).await,
        Ok(CheckOutcome::Approved)
    );
    assert_eq!(client.channels(), &[Channel::Sms, Channel::Voice]);
}

#[tokio::test]
async fn a_resend_keeps_the_code() {
    let (fake, client) = rig().await;
    send(&client, ADA).await.unwrap();
    send(&client, ADA).await.unwrap();

    let codes = fake.sent_codes(ADA);
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[0], codes[1]);
    assert_eq!(
        check(&client, ADA, &code(&codes[0])).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn the_sixth_send_to_a_number_is_too_many_sends() {
    let (fake, client) = rig().await;
    for _ in 0..5 {
        send(&client, ADA).await.unwrap();
    }
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::TooManySends(_)), "{e:?}");
    assert_eq!(send(&client, ADA).await, Err(VerifyError::TooManySends));
    // Another number is not limited.
    send(&client, GRACE).await.unwrap();
    assert_eq!(fake.sent_codes(ADA).len(), 5);
}

#[tokio::test]
async fn the_sixth_check_of_a_code_is_too_many_checks() {
    let (fake, client) = rig().await;
    send(&client, ADA).await.unwrap();
    let c = sent(&fake, ADA);
    for _ in 0..5 {
        assert_eq!(
            check(&client, ADA, &wrong(&c)).await,
            Ok(CheckOutcome::Rejected)
        );
    }
    let e = client.verify_code(&number(ADA), &c).await.unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::TooManyChecks(_)), "{e:?}");
    assert_eq!(
        check(&client, ADA, &c).await,
        Err(VerifyError::TooManyChecks)
    );
}

#[tokio::test]
async fn an_expired_code_or_nothing_pending_is_not_found() {
    let (fake, client) = rig().await;
    assert_eq!(
        check(&client, ADA, &code("123456")).await,
        Err(VerifyError::NotFound)
    );
    send(&client, ADA).await.unwrap();
    let c = sent(&fake, ADA);
    fake.expire(ADA);
    assert_eq!(check(&client, ADA, &c).await, Err(VerifyError::NotFound));
}

#[tokio::test]
async fn server_errors_are_unavailable_and_never_approve() {
    let (fake, client) = rig().await;
    fake.fix_code(Some("482913"));
    send(&client, ADA).await.unwrap();
    for http in [500, 502, 503] {
        fake.control().fail_next(Failure::Status(http));
        let e = send(&client, ADA).await.unwrap_err();
        assert!(is_unavailable(&e), "{http}: {e:?}");
        fake.control().fail_next(Failure::Status(http));
        let e = check(&client, ADA, &code("482913")).await.unwrap_err();
        assert!(is_unavailable(&e), "{http}: {e:?}");
    }
    fake.control()
        .fail_next(telnyx_fake::error(500, "10007", "Unexpected error", "oops"));
    let e = client.verify_code(&number(ADA), &code("482913")).await;
    assert!(matches!(e, Err(TelnyxVerifyError::ServerError(_))), "{e:?}");
    // Still pending: nothing the faults did used the code up.
    assert_eq!(
        check(&client, ADA, &code("482913")).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn a_hang_past_the_client_timeout_is_unavailable_before_the_hang_ends() {
    let fake = fake().await;
    let client = client_for(fake.base(), KEY, PROFILE, Duration::from_millis(300));
    // Far past the client timeout: a slow, shared machine cannot make the answer win.
    let hang = Duration::from_secs(30);

    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::Timeout(_)), "{e:?}");
    assert!(
        started.elapsed() < hang,
        "returned after {:?}",
        started.elapsed()
    );

    fake.control().fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = check(&client, ADA, &code("123456")).await.unwrap_err();
    assert!(is_unavailable(&e), "{e:?}");
    assert!(started.elapsed() < hang);
}

#[tokio::test]
async fn a_wrong_key_is_a_credentials_error_for_the_operator() {
    let fake = fake().await;
    let stranger = client_for(
        fake.base(),
        "KEYnot-the-key",
        PROFILE,
        Duration::from_secs(2),
    );
    let e = stranger
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TelnyxVerifyError::Credentials(api) if api.http == 401 && api.code.as_deref() == Some("10009")),
        "{e:?}"
    );
    assert!(e.needs_operator());
    assert!(is_unavailable(&send(&stranger, ADA).await.unwrap_err()));
    assert!(is_unavailable(
        &check(&stranger, ADA, &code("123456")).await.unwrap_err()
    ));
    assert!(!fake.control().requests()[0].auth_ok);

    // The same answer injected into a good client.
    let client = client_for(fake.base(), KEY, PROFILE, Duration::from_secs(2));
    fake.control().fail_next(telnyx_fake::unauthorized());
    assert!(is_unavailable(&send(&client, ADA).await.unwrap_err()));
    fake.control().fail_next(Failure::Status(403));
    let e = client
        .verify_code(&number(ADA), &code("123456"))
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::Credentials(_)), "{e:?}");
}

#[tokio::test]
async fn account_throttling_is_unavailable() {
    let (fake, client) = rig().await;
    fake.control().fail_next(telnyx_fake::rate_limited());
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::RateLimited(_)), "{e:?}");
    assert!(!e.needs_operator());
    fake.control().fail_next(Failure::Status(429));
    assert!(is_unavailable(&send(&client, ADA).await.unwrap_err()));
    fake.control().fail_next(telnyx_fake::rate_limited());
    assert!(is_unavailable(
        &check(&client, ADA, &code("123456")).await.unwrap_err()
    ));
}

#[tokio::test]
async fn telnyx_too_many_answer_is_the_number_limit() {
    let (fake, client) = rig().await;
    fake.control().fail_next(telnyx_fake::too_many());
    assert_eq!(send(&client, ADA).await, Err(VerifyError::TooManySends));
    fake.control().fail_next(telnyx_fake::too_many());
    assert_eq!(
        check(&client, ADA, &code("123456")).await,
        Err(VerifyError::TooManyChecks)
    );
}

#[tokio::test]
async fn telnyx_cannot_deliver_answer_is_refused() {
    let (fake, client) = rig().await;
    fake.control().fail_next(telnyx_fake::undeliverable());
    let e = send(&client, ADA).await.unwrap_err();
    assert!(matches!(&e, VerifyError::Refused(_)), "{e:?}");
    assert!(!e.to_string().contains("5551230001"), "{e}");
    fake.control().fail_next(telnyx_fake::opted_out());
    assert!(matches!(
        send(&client, ADA).await,
        Err(VerifyError::Refused(_))
    ));
    // A refusal with HTTP 403 is still about the number, not the key.
    fake.control().fail_next(telnyx_fake::error(
        403,
        "40300",
        "Blocked due to STOP message",
        "blocked",
    ));
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::Undeliverable(_)), "{e:?}");
}

#[tokio::test]
async fn malformed_success_answers_are_unavailable_never_approved() {
    let (fake, client) = rig().await;
    fake.fix_code(Some("482913"));
    send(&client, ADA).await.unwrap();
    let right = code("482913");
    let bodies = [
        json!({"response_code": "accepted"}),
        json!({"data": {"response_code": "ACCEPTED", "phone_number": ADA}}),
        json!({"data": {"response_code": "accepted", "phone_number": GRACE}}),
        json!({"data": {"response_code": true}}),
        json!({"data": {"status": "accepted", "phone_number": ADA}}),
        json!({"data": "accepted"}),
        json!({"errors": []}),
        json!(["accepted"]),
    ];
    for body in bodies {
        fake.control().fail_next(Failure::Json {
            http: 200,
            body: body.clone(),
        });
        let got = check(&client, ADA, &right).await;
        assert!(
            matches!(&got, Err(VerifyError::Unavailable(_))),
            "{body} gave {got:?}"
        );
    }
    fake.control().fail_next(Failure::NotJson);
    assert!(is_unavailable(
        &check(&client, ADA, &right).await.unwrap_err()
    ));
    fake.control().fail_next(Failure::NotJson);
    assert!(is_unavailable(&send(&client, ADA).await.unwrap_err()));
    fake.control().fail_next(Failure::Json {
        http: 200,
        body: json!({"data": {"status": "error"}}),
    });
    assert!(is_unavailable(&send(&client, ADA).await.unwrap_err()));
    // The real answer still approves.
    assert_eq!(
        check(&client, ADA, &right).await,
        Ok(CheckOutcome::Approved)
    );
}

#[tokio::test]
async fn a_wrong_profile_is_the_operators_never_a_missing_code() {
    let fake = fake().await;
    let other = "00000000-0000-4000-8000-000000000000";
    let client = client_for(fake.base(), KEY, other, Duration::from_secs(2));

    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(&e, TelnyxVerifyError::ProfileNotFound(_)), "{e:?}");
    assert!(e.needs_operator());
    let e = client
        .verify_code(&number(ADA), &code("123456"))
        .await
        .unwrap_err();
    assert!(matches!(&e, TelnyxVerifyError::ProfileNotFound(_)), "{e:?}");
    assert!(is_unavailable(
        &check(&client, ADA, &code("123456")).await.unwrap_err()
    ));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = client_for(&nowhere, KEY, PROFILE, Duration::from_secs(2));
    let e = client
        .create_verification(&number(ADA), Channel::Sms)
        .await
        .unwrap_err();
    assert!(matches!(e, TelnyxVerifyError::Connect(_)), "{e:?}");
    assert!(is_unavailable(&send(&client, ADA).await.unwrap_err()));
    assert!(is_unavailable(
        &check(&client, ADA, &code("123456")).await.unwrap_err()
    ));
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let (_fake, client) = rig().await;
    for text in [format!("{client:?}"), format!("{client:#?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("3b6f0c1d9e2a"), "{text}");
    }
    let config = TelnyxVerifyConfig::new(SecretString::from(KEY), PROFILE);
    assert!(!format!("{config:?}").contains("3b6f0c1d9e2a"));
    assert_eq!(client.name(), "telnyx-verify");
}

/// The fake itself behaves like Telnyx, so the tests above mean something.
mod fake {
    use super::*;

    async fn post(fake: &FakeTelnyx, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(fake.base().join(path).unwrap())
            .json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn a_missing_or_wrong_key_is_401_10009() {
        let fake = super::fake().await;
        let body = json!({"phone_number": ADA, "verify_profile_id": PROFILE});
        for key in [None, Some("KEYwrong")] {
            let (status, answer) = post(&fake, "/v2/verifications/sms", key, body.clone()).await;
            assert_eq!(status, 401);
            assert_eq!(answer["errors"][0]["code"], "10009");
            assert_eq!(answer["errors"][0]["title"], "Authentication failed");
        }
        assert!(fake.sent_codes(ADA).is_empty());
    }

    #[tokio::test]
    async fn a_verification_is_telnyx_shaped_and_an_accepted_code_is_used_up() {
        let fake = super::fake().await;
        fake.fix_code(Some("482913"));
        let (status, body) = post(
            &fake,
            "/v2/verifications/sms",
            Some(KEY),
            json!({"phone_number": ADA, "verify_profile_id": PROFILE}),
        )
        .await;
        assert_eq!(status, 200);
        let data = &body["data"];
        assert_eq!(data["record_type"], "verification");
        assert_eq!(data["status"], "pending");
        assert_eq!(data["type"], "sms");
        assert_eq!(data["phone_number"], ADA);
        assert_eq!(data["verify_profile_id"], PROFILE);
        assert_eq!(data["id"].as_str().unwrap().len(), 36);

        let path = "/v2/verifications/by_phone_number/+15551230001/actions/verify";
        let check = json!({"code": "482913", "verify_profile_id": PROFILE});
        let (status, body) = post(&fake, path, Some(KEY), check.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"data": {"phone_number": ADA, "response_code": "accepted"}})
        );
        let (status, body) = post(&fake, path, Some(KEY), check).await;
        assert_eq!((status, &body["errors"][0]["code"]), (404, &json!("10005")));
    }

    #[tokio::test]
    async fn limits_can_be_switched_off_for_load_runs() {
        let fake = FakeTelnyx::start(FakeTelnyxConfig {
            api_key: KEY.to_owned(),
            profile_id: PROFILE.to_owned(),
            limits: false,
            fixed_code: Some("482913".to_owned()),
            ..FakeTelnyxConfig::default()
        })
        .await
        .unwrap();
        let client = client_for(fake.base(), KEY, PROFILE, Duration::from_secs(2));
        for _ in 0..8 {
            send(&client, ADA).await.unwrap();
        }
        for _ in 0..8 {
            assert_eq!(
                check(&client, ADA, &code("000000")).await,
                Ok(CheckOutcome::Rejected)
            );
        }
        assert_eq!(
            check(&client, ADA, &code("482913")).await,
            Ok(CheckOutcome::Approved)
        );
        let origin = fake.origin();
        assert!(origin.starts_with("http://127.0.0.1:") && !origin.ends_with('/'));
        let addr = origin.trim_start_matches("http://").to_owned();
        fake.stop().await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
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
        let (fake, client) = rig().await;
        fake.fix_code(Some("482913"));
        let to = number(LOGGED);
        client
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap();
        let right = code("482913");
        client.check(&to, &wrong(&right), None).await.unwrap();
        client.check(&to, &right, None).await.unwrap();
        fake.control().fail_next(telnyx_fake::error(
            400,
            "10002",
            "Invalid phone number",
            &format!("The phone number {LOGGED} is invalid"),
        ));
        client
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap_err();
        fake.control().fail_next(Failure::Json {
            http: 200,
            body: json!({"data": {"response_code": format!("weird {LOGGED} 482913")}}),
        });
        client.check(&to, &right, None).await.unwrap_err();
        let stranger = client_for(
            fake.base(),
            "KEYnot-the-key",
            PROFILE,
            Duration::from_secs(2),
        );
        stranger
            .send(&delivery(&to, Channel::Sms), None)
            .await
            .unwrap_err();

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "5551230009",
            "5551230001",
            "5551230002",
            "482913",
            "482914",
            KEY,
            "not-the-key",
        ] {
            assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        }
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(LOGGED_MASKED)).collect();
        let count = |event: &str| ours.iter().filter(|l| l.contains(event)).count();
        assert_eq!(count("event=\"verify.request\""), 6, "{text}");
        assert_eq!(count("event=\"verify.upstream_error\""), 3, "{text}");
        let credentials = ours
            .iter()
            .find(|l| l.contains("verify.upstream_error") && l.contains("API key"))
            .expect("a credentials line");
        assert!(credentials.starts_with("ERROR"), "{credentials}");
        assert!(
            ours.iter()
                .any(|l| l.contains("http_status=200") && l.contains("elapsed_ms=")),
            "{text}"
        );
    }
}
