//! Twilio mode: codes through (a fake of) Twilio Verify v2, signed webhooks, and a spoken
//! answer to every upstream fault.

mod common;

use common::fake_verify::{Failure, FakeVerify};
use common::*;
use std::time::{Duration, Instant};

const CODE: &str = "482913";

async fn setup() -> (FakeVerify, TestApp) {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fix_code(CODE);
    let app = TestApp::spawn_twilio(&fake.base, Duration::from_secs(2)).await;
    (fake, app)
}

fn said(doc: &bridgekeeper::twiml::parse::Element) -> String {
    spoken(doc).join(" ")
}

#[tokio::test]
async fn a_moderator_joins_with_the_code_twilio_sent() {
    let (fake, app) = setup().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    assert_eq!(fake.sent_codes(ADA), [CODE]);

    let joined = app.keys(&doc, &sid, Some(CODE)).await;

    let room = find(&joined, "Conference").expect("joined");
    assert_eq!(room.attr("startConferenceOnEnter"), Some("true"));
    assert_eq!(room.attr("endConferenceOnExit"), Some("true"));
}

#[tokio::test]
async fn a_participant_joins_after_a_wrong_code() {
    let (_fake, app) = setup().await;
    let sid = sid();
    let doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;
    let doc = app.keys(&doc, &sid, Some("000000")).await;
    assert!(said(&doc).contains("not right"), "{}", said(&doc));
    let joined = app.keys(&doc, &sid, Some(CODE)).await;
    let room = find(&joined, "Conference").expect("joined");
    assert_eq!(room.attr("startConferenceOnEnter"), Some("false"));
}

#[tokio::test]
async fn the_dev_outbox_is_off_in_twilio_mode() {
    let (_fake, app) = setup().await;
    let response = app.client.get(app.url("/dev/outbox")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn too_many_sends_60203_is_told_to_the_caller() {
    let (fake, app) = setup().await;
    fake.fail_next(Failure::Error {
        http: 429,
        code: 60203,
    });
    let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Say", "Hangup"]);
    assert!(said(&doc).contains("Too many codes"), "{}", said(&doc));
}

#[tokio::test]
async fn the_real_send_limit_of_the_fake_is_honoured_too() {
    let (_fake, app) = setup().await;
    for _ in 0..5 {
        let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    }
    let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert!(said(&doc).contains("Too many codes"), "{}", said(&doc));
}

#[tokio::test]
async fn too_many_checks_60202_is_told_to_the_caller() {
    let (fake, app) = setup().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    fake.fail_next(Failure::Error {
        http: 429,
        code: 60202,
    });
    let end = app.keys(&doc, &sid, Some(CODE)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(
        said(&end).contains("Too many wrong codes"),
        "{}",
        said(&end)
    );
}

#[tokio::test]
async fn an_expired_code_20404_gets_one_fresh_code_then_goodbye() {
    let (fake, app) = setup().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    fake.expire(ADA);

    doc = app.keys(&doc, &sid, Some(CODE)).await;
    assert!(said(&doc).contains("expired"), "{}", said(&doc));
    assert_eq!(fake.sent_codes(ADA).len(), 2, "a fresh code was sent");
    let joined = app.keys(&doc, &sid, Some(CODE)).await;
    assert!(find(&joined, "Conference").is_some(), "{}", said(&joined));

    // Expired twice on one call: goodbye, and no third code.
    let sid = common::sid();
    let mut doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;
    fake.expire(GRACE);
    doc = app.keys(&doc, &sid, Some(CODE)).await;
    fake.expire(GRACE);
    let end = app.keys(&doc, &sid, Some(CODE)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(said(&end).contains("expired"));
    assert_eq!(fake.sent_codes(GRACE).len(), 2);
}

#[tokio::test]
async fn a_fraud_block_60410_or_a_landline_60205_is_explained() {
    for code in [60410, 60205] {
        let (fake, app) = setup().await;
        fake.fail_next(Failure::Error { http: 403, code });
        let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Say", "Hangup"], "{code}");
        assert!(
            said(&doc).contains("cannot send a code to the number"),
            "{code}: {}",
            said(&doc)
        );
    }
}

#[tokio::test]
async fn upstream_faults_on_send_become_an_apology() {
    let failures = [
        Failure::Status(500),
        Failure::Status(503),
        Failure::Error {
            http: 500,
            code: 20500,
        },
        Failure::Error {
            http: 429,
            code: 20429,
        },
        Failure::Status(429),
        Failure::Error {
            http: 401,
            code: 20003,
        },
        Failure::Error {
            http: 400,
            code: 21608,
        },
        Failure::NotJson,
    ];
    for failure in failures {
        let (fake, app) = setup().await;
        let label = format!("{failure:?}");
        fake.fail_next(failure);
        let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Say", "Hangup"], "{label}");
        assert!(
            said(&doc).contains("cannot send your code right now"),
            "{label}: {}",
            said(&doc)
        );
    }
}

#[tokio::test]
async fn an_upstream_fault_on_check_never_joins() {
    let (fake, app) = setup().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    fake.fail_next(Failure::Status(500));
    let end = app.keys(&doc, &sid, Some(CODE)).await;
    assert!(find(&end, "Dial").is_none());
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(
        said(&end).contains("cannot check your code right now"),
        "{}",
        said(&end)
    );
}

#[tokio::test]
async fn a_hanging_verify_still_gets_an_answer_in_time() {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    let app = TestApp::spawn_twilio(&fake.base, Duration::from_millis(500)).await;
    fake.fail_always(Some(Failure::Hang(Duration::from_secs(30))));

    let started = Instant::now();
    let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    let took = started.elapsed();

    assert!(took < Duration::from_secs(14), "answered after {took:?}");
    assert_eq!(verbs(&doc), ["Say", "Hangup"]);
    assert!(said(&doc).contains("cannot send your code right now"));
}

#[tokio::test]
async fn a_refused_connection_becomes_an_apology() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let app = TestApp::spawn_twilio(&nowhere, Duration::from_secs(2)).await;
    let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Say", "Hangup"]);
    assert!(said(&doc).contains("cannot send your code right now"));
}

mod signatures {
    use super::*;
    use bridgekeeper::signature::{HEADER, sign};

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA00000000000000000000000000000001"),
            ("From", ADA),
            ("To", WEEKLY_LINE),
            ("CallStatus", "ringing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    async fn post(app: &TestApp, params: &[(String, String)], signature: Option<String>) -> u16 {
        let mut request = app.client.post(app.url("/voice")).form(params);
        if let Some(signature) = signature {
            request = request.header(HEADER, signature);
        }
        request.send().await.unwrap().status().as_u16()
    }

    fn url(app: &TestApp) -> String {
        app.url("/voice").to_string()
    }

    #[tokio::test]
    async fn a_correctly_signed_webhook_is_served() {
        let (fake, app) = setup().await;
        let sig = sign(AUTH_TOKEN, &url(&app), &params());
        assert_eq!(post(&app, &params(), Some(sig)).await, 200);
        assert_eq!(fake.requests().len(), 1);
    }

    #[tokio::test]
    async fn the_default_port_may_be_written_or_not() {
        // The public URL has no default port (it is 127.0.0.1:PORT), so only exact matches;
        // the port handling itself is unit-tested with Twilio's vectors in signature.rs.
        let (_fake, app) = setup().await;
        let sig = sign(AUTH_TOKEN, &url(&app), &params());
        assert_eq!(post(&app, &params(), Some(sig)).await, 200);
    }

    #[tokio::test]
    async fn forged_missing_and_differently_signed_webhooks_get_403_and_touch_nothing() {
        let (fake, app) = setup().await;
        let good_url = url(&app);
        let other_host = good_url.replace("127.0.0.1", "localhost");
        let other_scheme = good_url.replace("http://", "https://");
        let mut extra = params();
        extra.push(("Digits".into(), "1".into()));
        type Case = (&'static str, Vec<(String, String)>, Option<String>);
        let cases: Vec<Case> = vec![
            ("missing", params(), None),
            ("empty", params(), Some(String::new())),
            ("garbage", params(), Some("not-a-signature".into())),
            (
                "wrong token",
                params(),
                Some(sign("other-token", &good_url, &params())),
            ),
            (
                "other host",
                params(),
                Some(sign(AUTH_TOKEN, &other_host, &params())),
            ),
            (
                "other scheme",
                params(),
                Some(sign(AUTH_TOKEN, &other_scheme, &params())),
            ),
            (
                "extra parameter",
                extra.clone(),
                Some(sign(AUTH_TOKEN, &good_url, &params())),
            ),
            (
                "other path",
                params(),
                Some(sign(
                    AUTH_TOKEN,
                    &good_url.replace("/voice", "/voice/code"),
                    &params(),
                )),
            ),
        ];
        for (label, body, signature) in cases {
            assert_eq!(post(&app, &body, signature).await, 403, "{label}");
        }
        assert!(
            fake.requests().is_empty(),
            "no Verify request for a forged webhook"
        );
        // No state was touched: the real call still gets its first code.
        let sig = sign(AUTH_TOKEN, &good_url, &params());
        assert_eq!(post(&app, &params(), Some(sig)).await, 200);
        assert_eq!(fake.requests().len(), 1);
    }

    #[tokio::test]
    async fn the_code_webhook_is_signed_too() {
        let (fake, app) = setup().await;
        let sid = common::sid();
        app.incoming(&sid, ADA, WEEKLY_LINE).await;
        let before = fake.requests().len();
        let response = app
            .client
            .post(app.url("/voice/code"))
            .form(&[("CallSid", sid.as_str()), ("Digits", CODE)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
        assert_eq!(fake.requests().len(), before, "no check was made");
    }
}

#[tokio::test]
async fn digits_that_cannot_be_a_code_are_never_forwarded_to_verify() {
    let (fake, app) = setup().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    for junk in ["12345a", "1234567"] {
        doc = app.keys(&doc, &sid, Some(junk)).await;
        assert!(said(&doc).contains("not right"), "{junk}: {}", said(&doc));
    }
    let checks = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/VerificationCheck"))
        .count();
    assert_eq!(checks, 0, "junk reached Verify");
    let joined = app.keys(&doc, &sid, Some(CODE)).await;
    assert!(find(&joined, "Conference").is_some());
}
