//! The Twilio Messages sender against the fake (the same server as the fake Twilio Verify):
//! the request it puts on the wire, and how every answer and failure maps onto the
//! verifier's errors.

#[path = "common/log_capture.rs"]
mod log_capture;

mod common;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::verify::sender::twilio::{
    TwilioMessages, TwilioMessagesConfig, TwilioMessagesError,
};
use bridgekeeper::verify::twilio::ApiError;
use bridgekeeper::verify::{Channel, Courier, MessageTemplate, VerifyError};
use common::fake_verify::{Failure, FakeVerify};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};
use url::Url;

const ACCOUNT: &str = "AC00000000000000000000000000000a11";
const TOKEN: &str = "tok-7c1e5a0b9d3f-never-in-logs";
const SERVICE: &str = "VA00000000000000000000000000000b22";
const FROM: &str = "+15550009999";
const MESSAGING_SERVICE: &str = "MG00000000000000000000000000000c33";
const ADA: &str = "+15551230001";

fn sender_for(base: &Url, token: &str, from: &str, timeout: Duration) -> TwilioMessages {
    TwilioMessages::new(TwilioMessagesConfig {
        base_url: base.clone(),
        account_sid: ACCOUNT.to_owned(),
        auth_token: SecretString::from(token),
        from: from.to_owned(),
        timeout,
    })
    .expect("sender builds")
}

async fn rig() -> (FakeVerify, TwilioMessages) {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let sender = sender_for(&fake.base, TOKEN, FROM, Duration::from_secs(2));
    (fake, sender)
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

fn code(digits: &str) -> Code {
    Code::parse(digits).unwrap()
}

fn text(c: &Code) -> String {
    MessageTemplate::default().render(c, "Board")
}

/// Delivers the default message with this code to `to` over SMS.
async fn deliver(sender: &TwilioMessages, to: &str, c: &Code) -> Result<(), VerifyError> {
    sender.deliver(&number(to), &text(c), c, Channel::Sms).await
}

/// The typed error of a send that must fail.
async fn send_error(sender: &TwilioMessages) -> TwilioMessagesError {
    sender
        .send_message(&number(ADA), &text(&code("482913")))
        .await
        .expect_err("the send fails")
}

fn is_unavailable(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Unavailable(_))
}

fn is_refused(e: &VerifyError) -> bool {
    matches!(e, VerifyError::Refused(_))
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_body_goes_to_the_number_from_the_sender_with_basic_auth() {
    let (fake, sender) = rig().await;
    let mut sends = fake.watch_sends();
    let c = code("482913");
    deliver(&sender, ADA, &c).await.unwrap();

    assert_eq!(
        fake.messages(),
        [(ADA.to_owned(), FROM.to_owned(), text(&c))]
    );
    assert_eq!(fake.sent_codes(ADA), ["482913"]);
    let sent = sends.try_recv().expect("the code reached the watcher");
    assert_eq!(
        (sent.to.as_str(), sent.code.as_str(), sent.channel.as_str()),
        (ADA, "482913", "sms")
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(
        r.form,
        form(&[("To", ADA), ("From", FROM), ("Body", &text(&c))])
    );
    assert!(r.auth_ok, "{r:?}");
    assert_eq!(r.basic_user.as_deref(), Some(ACCOUNT));
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let agent = r.user_agent.as_deref().unwrap_or_default();
    assert!(agent.starts_with("bridgekeeper/"), "{agent}");
}

#[tokio::test]
async fn a_messaging_service_sid_is_sent_as_messaging_service_sid() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let sender = sender_for(&fake.base, TOKEN, MESSAGING_SERVICE, Duration::from_secs(2));
    let c = code("104729");
    deliver(&sender, ADA, &c).await.unwrap();

    let requests = fake.requests();
    assert_eq!(
        requests[0].form,
        form(&[
            ("To", ADA),
            ("MessagingServiceSid", MESSAGING_SERVICE),
            ("Body", &text(&c))
        ])
    );
    assert_eq!(
        fake.messages(),
        [(ADA.to_owned(), MESSAGING_SERVICE.to_owned(), text(&c))]
    );
    assert_eq!(fake.sent_codes(ADA), ["104729"]);
}

#[tokio::test]
async fn every_send_is_a_message_of_its_own() {
    let (fake, sender) = rig().await;
    deliver(&sender, ADA, &code("111111")).await.unwrap();
    deliver(&sender, ADA, &code("222222")).await.unwrap();
    assert_eq!(fake.sent_codes(ADA), ["111111", "222222"]);
    assert_eq!(fake.messages().len(), 2);
}

#[tokio::test]
async fn server_errors_and_html_pages_are_unavailable() {
    let (fake, sender) = rig().await;
    fake.fail_next(Failure::Error {
        http: 500,
        code: 20500,
    });
    let e = send_error(&sender).await;
    assert!(
        matches!(
            &e,
            TwilioMessagesError::ServerError(ApiError {
                http: 500,
                code: Some(20500),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(!e.needs_operator());
    assert!(is_unavailable(&e.into()));

    fake.fail_next(Failure::Status(503));
    let e = send_error(&sender).await;
    assert_eq!(
        e,
        TwilioMessagesError::ServerError(ApiError {
            http: 503,
            code: None,
            message: None
        })
    );
    fake.fail_next(Failure::Status(502));
    let verify = deliver(&sender, ADA, &code("482913")).await.unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_returns_before_the_hang_ends() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let sender = sender_for(&fake.base, TOKEN, FROM, Duration::from_millis(300));
    // Far past the client timeout: a slow, shared machine cannot make the answer win.
    let hang = Duration::from_secs(30);

    fake.fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let e = send_error(&sender).await;
    assert!(matches!(e, TwilioMessagesError::Timeout(_)), "{e:?}");
    assert!(
        started.elapsed() < hang,
        "returned after {:?}",
        started.elapsed()
    );

    fake.fail_next(Failure::Hang(hang));
    let started = Instant::now();
    let verify = deliver(&sender, ADA, &code("482913")).await.unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
    assert!(started.elapsed() < hang);
}

#[tokio::test]
async fn a_wrong_token_is_a_credentials_error_for_the_operator() {
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let sender = sender_for(&fake.base, "not-the-token", FROM, Duration::from_secs(2));

    let e = send_error(&sender).await;
    assert!(
        matches!(
            &e,
            TwilioMessagesError::Credentials(ApiError {
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
        &deliver(&sender, ADA, &code("482913")).await.unwrap_err()
    ));
    assert!(fake.requests().iter().all(|r| !r.auth_ok));
    assert!(fake.messages().is_empty());

    // A 401 or 403 without Twilio's body reads the same.
    let (fake, sender) = rig().await;
    for http in [401, 403] {
        fake.fail_next(Failure::Status(http));
        let e = send_error(&sender).await;
        assert!(matches!(&e, TwilioMessagesError::Credentials(_)), "{e:?}");
    }
}

#[tokio::test]
async fn throttling_is_unavailable() {
    let (fake, sender) = rig().await;
    fake.fail_next(Failure::Error {
        http: 429,
        code: 20429,
    });
    let e = send_error(&sender).await;
    assert!(
        matches!(
            &e,
            TwilioMessagesError::RateLimited(ApiError {
                http: 429,
                code: Some(20429),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(!e.needs_operator());
    assert!(is_unavailable(&e.into()));

    fake.fail_next(Failure::Status(429));
    let e = send_error(&sender).await;
    assert!(
        matches!(
            &e,
            TwilioMessagesError::RateLimited(ApiError { code: None, .. })
        ),
        "{e:?}"
    );
    fake.fail_next(Failure::Status(429));
    assert!(is_unavailable(
        &deliver(&sender, ADA, &code("482913")).await.unwrap_err()
    ));
}

#[tokio::test]
async fn an_opted_out_or_invalid_number_is_refused_without_echoing_it() {
    let (fake, sender) = rig().await;
    type Expected = fn(&TwilioMessagesError) -> bool;
    let cases: [(u32, Expected); 5] = [
        (21610, |e| matches!(e, TwilioMessagesError::OptedOut(_))),
        (21211, |e| matches!(e, TwilioMessagesError::InvalidTo(_))),
        (21614, |e| matches!(e, TwilioMessagesError::NotMobile(_))),
        (21408, |e| matches!(e, TwilioMessagesError::NotPermitted(_))),
        (30006, |e| {
            matches!(e, TwilioMessagesError::Undeliverable(_))
        }),
    ];
    for (code_, expected) in cases {
        fake.fail_next(Failure::Error {
            http: 400,
            code: code_,
        });
        let e = send_error(&sender).await;
        assert!(expected(&e), "{code_}: {e:?}");
        assert!(!e.needs_operator(), "{code_}");
        // The fake, like Twilio, puts the number in some messages; it must not survive.
        let verify = VerifyError::from(e.clone());
        assert!(is_refused(&verify), "{code_}: {verify:?}");
        for text in [e.to_string(), format!("{e:?}"), verify.to_string()] {
            assert!(!text.contains("5551230001"), "{text}");
        }

        fake.fail_next(Failure::Error {
            http: 400,
            code: code_,
        });
        let verify = deliver(&sender, ADA, &code("482913")).await.unwrap_err();
        assert!(is_refused(&verify), "{code_}: {verify:?}");
    }
    assert!(fake.messages().is_empty());
    assert!(fake.sent_codes(ADA).is_empty());
}

#[tokio::test]
async fn a_failed_message_is_refused() {
    let (fake, sender) = rig().await;
    for status in ["failed", "undelivered"] {
        fake.fail_next(Failure::Json {
            http: 201,
            body: json!({
                "sid": "SM00000000000000000000000000000d44",
                "status": status,
                "error_code": 30007,
                "error_message": format!("Message filtered for {ADA}"),
                "to": ADA,
            }),
        });
        let e = send_error(&sender).await;
        assert!(
            matches!(
                &e,
                TwilioMessagesError::MessageFailed {
                    error_code: Some(30007),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("5551230001"), "{e}");
        assert!(is_refused(&e.into()), "{status}");
    }
}

#[tokio::test]
async fn a_success_status_without_a_message_is_unavailable() {
    let (fake, sender) = rig().await;
    fake.fail_next(Failure::NotJson);
    let e = send_error(&sender).await;
    assert!(
        matches!(&e, TwilioMessagesError::MalformedResponse { http: 201, .. }),
        "{e:?}"
    );
    assert!(is_unavailable(&e.into()));

    for (http, body) in [
        (201, json!({"sid": "SM00000000000000000000000000000d44"})),
        (201, json!({"status": null})),
        (201, json!(["queued"])),
        (201, json!({"status": "canceled"})),
        (202, json!({"status": "receiving"})),
    ] {
        let label = format!("{http} {body}");
        fake.fail_next(Failure::Json { http, body });
        let verify = deliver(&sender, ADA, &code("482913")).await.unwrap_err();
        assert!(is_unavailable(&verify), "{label}: {verify:?}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let sender = sender_for(&nowhere, TOKEN, FROM, Duration::from_secs(2));
    let e = send_error(&sender).await;
    assert!(matches!(e, TwilioMessagesError::Connect(_)), "{e:?}");
    assert!(is_unavailable(
        &deliver(&sender, ADA, &code("482913")).await.unwrap_err()
    ));
}

#[tokio::test]
async fn a_voice_delivery_is_refused_without_a_request() {
    let (fake, sender) = rig().await;
    assert_eq!(sender.channels(), &[Channel::Sms]);
    let c = code("482913");
    let verify = sender
        .deliver(&number(ADA), &text(&c), &c, Channel::Voice)
        .await
        .unwrap_err();
    assert!(is_unavailable(&verify), "{verify:?}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn debug_never_shows_the_token() {
    let (_fake, sender) = rig().await;
    for text in [format!("{sender:?}"), format!("{sender:#?}")] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("7c1e5a0b9d3f"), "{text}");
    }
    let config = TwilioMessagesConfig::new(ACCOUNT, SecretString::from(TOKEN), FROM);
    assert!(!format!("{config:?}").contains(TOKEN));
    assert_eq!(sender.name(), "twilio-messages");
}

/// The fake's Messages API is strict, so the tests above mean something.
mod fake {
    use super::*;

    async fn post_as(
        fake: &FakeVerify,
        account: &str,
        token: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = fake
            .base
            .join(&format!("/2010-04-01/Accounts/{account}/Messages.json"))
            .unwrap();
        let response = reqwest::Client::new()
            .post(url)
            .basic_auth(ACCOUNT, Some(token))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn post(fake: &FakeVerify, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        post_as(fake, ACCOUNT, TOKEN, form).await
    }

    #[tokio::test]
    async fn a_message_is_answered_like_twilio() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let (status, body) = post(
            &fake,
            &[("To", ADA), ("From", FROM), ("Body", "Code 482913")],
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let sid = body["sid"].as_str().unwrap();
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        assert_eq!(body["status"], "queued");
        assert_eq!(body["to"], ADA);
        assert_eq!(body["from"], FROM);
        assert_eq!(body["body"], "Code 482913");
        assert_eq!(body["account_sid"], ACCOUNT);
        assert_eq!(body["direction"], "outbound-api");
        assert_eq!(body["api_version"], "2010-04-01");
        assert_eq!(body["messaging_service_sid"], serde_json::Value::Null);
        assert_eq!(body["num_segments"], "1");
        let created = body["date_created"].as_str().unwrap();
        assert!(
            created.ends_with(" +0000") && created.contains(", "),
            "{created}"
        );
        assert_eq!(
            body["uri"],
            format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json")
        );

        let (status, body) = post(
            &fake,
            &[
                ("To", ADA),
                ("MessagingServiceSid", MESSAGING_SERVICE),
                ("Body", "no code here"),
                ("MediaUrl", "https://example.com/a.png"),
                ("MediaUrl", "https://example.com/b.png"),
            ],
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "accepted");
        assert_eq!(body["from"], serde_json::Value::Null);
        assert_eq!(body["messaging_service_sid"], MESSAGING_SERVICE);
        // Both were kept; only the first held a code.
        assert_eq!(fake.messages().len(), 2);
        assert_eq!(fake.sent_codes(ADA), ["482913"]);
    }

    #[tokio::test]
    async fn bad_messages_get_twilios_error_codes() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let long = "x".repeat(1601);
        let cases: &[(&[(&str, &str)], u32)] = &[
            (&[("From", FROM), ("Body", "hi")], 21604),
            (&[("To", ""), ("From", FROM), ("Body", "hi")], 21604),
            (
                &[("To", "5551230001"), ("From", FROM), ("Body", "hi")],
                21211,
            ),
            (
                &[
                    ("To", "whatsapp:+15551230001"),
                    ("From", FROM),
                    ("Body", "hi"),
                ],
                21211,
            ),
            (&[("To", ADA), ("Body", "hi")], 21603),
            (
                &[
                    ("To", ADA),
                    ("From", FROM),
                    ("MessagingServiceSid", MESSAGING_SERVICE),
                    ("Body", "hi"),
                ],
                21603,
            ),
            (
                &[("To", ADA), ("From", "not a number!"), ("Body", "hi")],
                21606,
            ),
            (&[("To", ADA), ("From", FROM)], 21602),
            (&[("To", ADA), ("From", FROM), ("Body", "")], 21602),
            (&[("To", ADA), ("From", FROM), ("Body", &long)], 21617),
            (
                &[("To", ADA), ("From", FROM), ("Body", "hi"), ("Foo", "1")],
                20001,
            ),
            (&[("to", ADA), ("From", FROM), ("Body", "hi")], 20001),
            (
                &[("To", ADA), ("To", ADA), ("From", FROM), ("Body", "hi")],
                20001,
            ),
        ];
        for (form, code_) in cases {
            let (status, body) = post(&fake, form).await;
            assert_eq!(
                (status, body["code"].as_u64()),
                (400, Some(u64::from(*code_))),
                "{form:?}"
            );
            assert_eq!(body["status"], 400);
            assert_eq!(
                body["more_info"],
                format!("https://www.twilio.com/docs/errors/{code_}")
            );
        }
        assert!(fake.messages().is_empty());
        assert!(fake.sent_codes(ADA).is_empty());
        // Exactly the longest body is accepted.
        let longest = "x".repeat(1600);
        let (status, body) = post(&fake, &[("To", ADA), ("From", FROM), ("Body", &longest)]).await;
        assert_eq!((status, &body["num_segments"]), (201, &json!("11")));
    }

    #[tokio::test]
    async fn auth_and_the_account_in_the_path_are_checked() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let good = [("To", ADA), ("From", FROM), ("Body", "Code 482913")];
        let (status, body) = post_as(&fake, ACCOUNT, "wrong", &good).await;
        assert_eq!((status, body["code"].as_u64()), (401, Some(20003)));
        let other = "AC00000000000000000000000000000e55";
        let (status, body) = post_as(&fake, other, TOKEN, &good).await;
        assert_eq!((status, body["code"].as_u64()), (404, Some(20404)));
        assert!(fake.messages().is_empty());

        let url = fake
            .base
            .join(&format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json"))
            .unwrap();
        let response = reqwest::Client::new()
            .get(url)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
    }

    #[tokio::test]
    async fn injected_failures_apply_to_messages() {
        let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
        let good = [("To", ADA), ("From", FROM), ("Body", "Code 482913")];
        fake.fail_next(Failure::Error {
            http: 400,
            code: 21610,
        });
        let (status, body) = post(&fake, &good).await;
        assert_eq!((status, body["code"].as_u64()), (400, Some(21610)));
        assert!(body["message"].as_str().unwrap().contains("unsubscribed"));
        fake.fail_next(Failure::Error {
            http: 400,
            code: 21211,
        });
        let (_, body) = post(&fake, &good).await;
        assert!(body["message"].as_str().unwrap().contains(ADA), "{body}");
        assert!(fake.messages().is_empty());
        let (status, _) = post(&fake, &good).await;
        assert_eq!(status, 201);
    }
}

/// The sender's log lines. The capture is process-wide, so it also sees the other tests'
/// lines: the secrets check covers them all, the counts only this test's number.
mod logs {
    use super::*;

    /// A number only this test uses, and how it must appear in the logs.
    const LOGGED: &str = "+15551230009";
    const LOGGED_MASKED: &str = "+1555•••0009";

    use crate::log_capture::captured;

    #[tokio::test]
    async fn never_hold_the_number_the_code_the_body_or_the_token() {
        let buffer = captured();
        let (fake, sender) = rig().await;
        let c = code("482913");
        deliver(&sender, LOGGED, &c).await.unwrap();
        fake.fail_next(Failure::Error {
            http: 400,
            code: 21211,
        });
        deliver(&sender, LOGGED, &c).await.unwrap_err();
        fake.fail_next(Failure::Json {
            http: 201,
            body: json!({"status": format!("weird {LOGGED} 482913")}),
        });
        deliver(&sender, LOGGED, &c).await.unwrap_err();
        let stranger = sender_for(&fake.base, "not-the-token", FROM, Duration::from_secs(2));
        deliver(&stranger, LOGGED, &c).await.unwrap_err();

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "5551230009",
            "5551230001",
            "482913",
            "is your code",
            TOKEN,
            "not-the-token",
        ] {
            assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        }
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(LOGGED_MASKED)).collect();
        let count = |event: &str| ours.iter().filter(|l| l.contains(event)).count();
        assert_eq!(count("event=\"verify.request\""), 4, "{text}");
        assert_eq!(count("event=\"verify.upstream_error\""), 3, "{text}");
        let credentials = ours
            .iter()
            .find(|l| l.contains("verify.upstream_error") && l.contains("credentials"))
            .expect("a credentials line");
        assert!(credentials.starts_with("ERROR"), "{credentials}");
        let refused = ours
            .iter()
            .find(|l| l.contains("verify.upstream_error") && l.contains("21211"))
            .expect("a refusal line");
        assert!(
            refused.starts_with(" WARN") || refused.starts_with("WARN"),
            "{refused}"
        );
        assert!(
            ours.iter()
                .any(|l| l.contains("http_status=201") && l.contains("sender=\"twilio-messages\"")),
            "{text}"
        );
    }
}
