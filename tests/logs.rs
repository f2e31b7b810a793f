//! The logs of whole calls, at every level, never hold a full phone number or a code.

mod common;

use common::process::{
    ServerProcess, call, contains_digit_run, example_participants, without_timestamp,
};

/// Every number in the example file, and the lines.
const NUMBERS: &[&str] = &[
    "2025550100",
    "2025550101",
    "2025550102",
    "2025550103",
    "2025550150",
    "2025550151",
    "2025550152",
    "2025550153",
    "2025550199",
];

#[tokio::test]
async fn a_whole_day_of_calls_leaves_no_number_and_no_code_in_the_logs() {
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[("RUST_LOG", "trace")],
    );
    let base = server.base.clone();
    let plays: &[&[&str]] = &[
        &[
            "--from",
            "+1 (202) 555-0101",
            "--auto-code",
            "--call-sid",
            "CA00000000000000000000000000000001",
        ],
        &[
            "--from",
            "+12025550102",
            "--digits",
            "000000,111111,222222",
            "--call-sid",
            "CA00000000000000000000000000000002",
        ],
        &[
            "--from",
            "+12025550103",
            "--digits",
            "*,,12,code",
            "--call-sid",
            "CA00000000000000000000000000000003",
        ],
        &[
            "--from",
            "+12025550199",
            "--to",
            "+12025550100",
            "--call-sid",
            "CA00000000000000000000000000000004",
        ],
        &[
            "--from",
            "anonymous",
            "--to",
            "+12025550150",
            "--call-sid",
            "CA00000000000000000000000000000005",
        ],
        &[
            "--from",
            "+12025550151",
            "--to",
            "+12025550177",
            "--call-sid",
            "CA00000000000000000000000000000006",
        ],
        &[
            "--from",
            "+12025550153",
            "--to",
            "+12025550150",
            "--digits",
            "code",
            "--call-sid",
            "CA00000000000000000000000000000007",
        ],
    ];
    let outcomes: Vec<i32> =
        tokio::task::spawn_blocking(move || plays.iter().map(|args| call(&base, args).0).collect())
            .await
            .unwrap();
    assert_eq!(outcomes, [0, 4, 0, 3, 3, 3, 0]);
    let codes: Vec<String> = reqwest::get(format!("{}/dev/outbox", server.base))
        .await
        .unwrap()
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(codes.len() >= 4, "{codes:?}");

    let (status, log) = server.stop();

    assert_eq!(status, Some(0), "graceful exit on SIGTERM");
    // The log did record the calls, with masked numbers.
    assert!(log.contains("call.joined"), "{log}");
    assert!(log.contains("+1202•••0101"), "{log}");
    for line in log.lines().map(without_timestamp) {
        for number in NUMBERS {
            assert!(!line.contains(number), "full number {number} in: {line}");
        }
        for code in &codes {
            assert!(!contains_digit_run(line, code), "code {code} in: {line}");
        }
    }
}

#[test]
fn the_digit_run_check_finds_codes_and_ignores_longer_numbers() {
    assert!(contains_digit_run("code=123456 x", "123456"));
    assert!(contains_digit_run("123456", "123456"));
    assert!(!contains_digit_run("91234567", "123456"));
    assert_eq!(
        without_timestamp("2026-11-23T14:56:10.854077Z  INFO hi"),
        " INFO hi"
    );
}

/// The people of the provider runs: Ada, Grace, and Desk whose code goes to her mobile.
const PROVIDER_PEOPLE: &str = r#"
[[conference]]
name = "Weekly sync"
numbers = ["+12025550100"]

[[conference.participant]]
name = "Ada Lovelace"
phone = "+12025550101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+12025550102"

[[conference.participant]]
name = "Desk"
phone = "+12025550105"
code_to = "+12025550195"
"#;

/// Plays one call's webhooks against a server process, signing them when Twilio's carrier
/// credential is set.
struct Play {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    sid: String,
    from: &'static str,
}

impl Play {
    fn new(base: &str, token: Option<&str>, from: &'static str) -> Self {
        Self {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: base.to_owned(),
            token: token.map(str::to_owned),
            sid: bridgekeeper::simulator::random_call_sid(),
            from,
        }
    }

    async fn post(&self, url: &str, extra: &[(&str, &str)]) -> bridgekeeper::twiml::parse::Element {
        let mut form: Vec<(String, String)> = vec![
            ("CallSid".into(), self.sid.clone()),
            ("From".into(), self.from.into()),
            ("To".into(), "+12025550100".into()),
        ];
        form.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut request = self.client.post(url).form(&form);
        if let Some(token) = &self.token {
            request = request.header(
                bridgekeeper::signature::HEADER,
                bridgekeeper::signature::sign(token, url, &form),
            );
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        bridgekeeper::twiml::parse::parse(&response.text().await.unwrap()).unwrap()
    }

    async fn ring(&self) -> bridgekeeper::twiml::parse::Element {
        self.post(&format!("{}/voice", self.base), &[]).await
    }

    async fn keys(
        &self,
        doc: &bridgekeeper::twiml::parse::Element,
        digits: &str,
    ) -> bridgekeeper::twiml::parse::Element {
        let gather = common::find(doc, "Gather").expect("a prompt");
        let action = url::Url::parse(gather.attr("action").unwrap()).unwrap();
        let url = format!("{}{}?{}", self.base, action.path(), action.query().unwrap());
        self.post(&url, &[("Digits", digits)]).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_provider_or_sender_puts_a_number_or_a_code_in_any_log_line() {
    use bridgekeeper::fake_verify::{FakeVerify, FakeVerifyConfig};
    use bridgekeeper::fakes::messagebird::{self as bird, FakeMessageBird};
    use bridgekeeper::fakes::telnyx::{self as telnyx, FakeTelnyx};

    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("participants.toml");
    std::fs::write(&people, PROVIDER_PEOPLE).unwrap();
    let twilio = FakeVerify::start(FakeVerifyConfig::default())
        .await
        .unwrap();
    let telnyx_fake = FakeTelnyx::start(Default::default()).await.unwrap();
    let bird_fake = FakeMessageBird::start(Default::default()).await.unwrap();
    let twilio_base = twilio.base.as_str().trim_end_matches('/').to_owned();
    let twilio_auth = [
        (
            "TWILIO_ACCOUNT_SID",
            bridgekeeper::fake_verify::DEFAULT_ACCOUNT_SID,
        ),
        (
            "TWILIO_AUTH_TOKEN",
            bridgekeeper::fake_verify::DEFAULT_AUTH_TOKEN,
        ),
    ];
    let runs: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("twilio verify", {
            let mut env: Vec<(&str, String)> = twilio_auth
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .collect();
            env.push((
                "TWILIO_VERIFY_SERVICE_SID",
                bridgekeeper::fake_verify::DEFAULT_SERVICE_SID.into(),
            ));
            env.push(("TWILIO_VERIFY_BASE_URL", twilio_base.clone()));
            env
        }),
        ("twilio messages", {
            let mut env: Vec<(&str, String)> = twilio_auth
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .collect();
            env.push(("BRIDGEKEEPER_SENDER", "twilio".into()));
            env.push(("TWILIO_FROM_NUMBER", "+15550100000".into()));
            env.push(("TWILIO_API_BASE_URL", twilio_base.clone()));
            env
        }),
        (
            "telnyx verify",
            vec![
                ("TELNYX_API_KEY", telnyx::DEFAULT_API_KEY.into()),
                (
                    "TELNYX_VERIFY_PROFILE_ID",
                    telnyx::DEFAULT_PROFILE_ID.into(),
                ),
                ("TELNYX_API_BASE_URL", telnyx_fake.origin()),
            ],
        ),
        (
            "telnyx messages",
            vec![
                ("BRIDGEKEEPER_SENDER", "telnyx".into()),
                ("TELNYX_API_KEY", telnyx::DEFAULT_API_KEY.into()),
                ("TELNYX_FROM_NUMBER", "+15550100000".into()),
                ("TELNYX_API_BASE_URL", telnyx_fake.origin()),
            ],
        ),
        (
            "messagebird verify",
            vec![
                ("MESSAGEBIRD_ACCESS_KEY", bird::DEFAULT_ACCESS_KEY.into()),
                ("MESSAGEBIRD_BASE_URL", bird_fake.origin()),
            ],
        ),
        (
            "messagebird messages",
            vec![
                ("BRIDGEKEEPER_SENDER", "messagebird".into()),
                ("MESSAGEBIRD_ACCESS_KEY", bird::DEFAULT_ACCESS_KEY.into()),
                ("MESSAGEBIRD_ORIGINATOR", "Bridge".into()),
                ("MESSAGEBIRD_BASE_URL", bird_fake.origin()),
            ],
        ),
    ];
    for (name, vars) in runs {
        let mut env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("RUST_LOG", "trace"));
        let token = vars
            .iter()
            .find(|(k, _)| *k == "TWILIO_AUTH_TOKEN")
            .map(|(_, v)| v.as_str());
        let server = tokio::task::block_in_place(|| {
            ServerProcess::start(&["--participants", people.to_str().unwrap()], &env)
        });
        let codes = |to: &str| -> Vec<String> {
            match name.split(' ').next() {
                Some("twilio") => twilio.sent_codes(to),
                Some("telnyx") => telnyx_fake.sent_codes(to),
                _ => bird_fake.sent_codes(to),
            }
        };
        // Ada: the right code.
        let ada = Play::new(&server.base, token, "+12025550101");
        let doc = ada.ring().await;
        let code = codes("+12025550101").pop().expect("a code for Ada");
        let doc = ada.keys(&doc, &code).await;
        assert!(common::find(&doc, "Conference").is_some(), "{name}");
        // Grace: a wrong code, `*`, then the newest code.
        let grace = Play::new(&server.base, token, "+12025550102");
        let doc = grace.ring().await;
        let code = codes("+12025550102").pop().expect("a code for Grace");
        let wrong = if code.starts_with('1') {
            "200000"
        } else {
            "100000"
        };
        let doc = grace.keys(&doc, wrong).await;
        let doc = grace.keys(&doc, "*").await;
        let code = codes("+12025550102").pop().unwrap();
        let doc = grace.keys(&doc, &code).await;
        assert!(common::find(&doc, "Conference").is_some(), "{name}");
        // Desk: the code goes to her mobile.
        let desk = Play::new(&server.base, token, "+12025550105");
        let doc = desk.ring().await;
        let code = codes("+12025550195")
            .pop()
            .expect("a code for Desk's mobile");
        let doc = desk.keys(&doc, &code).await;
        assert!(common::find(&doc, "Conference").is_some(), "{name}");
        // A provider outage on the next send.
        let failure = bridgekeeper::fakes::Failure::Status(503);
        match name.split(' ').next() {
            Some("twilio") => twilio.fail_next(bridgekeeper::fake_verify::Failure::Status(503)),
            Some("telnyx") => telnyx_fake.control().fail_next(failure),
            _ => bird_fake.control().fail_next(failure),
        }
        let doc = Play::new(&server.base, token, "+12025550101").ring().await;
        assert_eq!(common::verbs(&doc), ["Say", "Hangup"], "{name}");

        let (status, log) = tokio::task::block_in_place(|| server.stop());
        assert_eq!(status, Some(0), "{name}");
        assert!(log.contains("call.joined"), "{name}: {log}");
        assert!(log.contains("verify.upstream_error"), "{name}: {log}");
        let mut all_codes = Vec::new();
        for to in ["+12025550101", "+12025550102", "+12025550195"] {
            all_codes.extend(codes(to));
        }
        for line in log.lines().map(without_timestamp) {
            for number in [
                "2025550100",
                "2025550101",
                "2025550102",
                "2025550105",
                "2025550195",
            ] {
                assert!(
                    !line.contains(number),
                    "{name}: full number {number} in: {line}"
                );
            }
            for code in &all_codes {
                assert!(
                    !contains_digit_run(line, code),
                    "{name}: code {code} in: {line}"
                );
            }
            for secret in [
                bridgekeeper::fake_verify::DEFAULT_AUTH_TOKEN,
                telnyx::DEFAULT_API_KEY,
                bird::DEFAULT_ACCESS_KEY,
            ] {
                assert!(!line.contains(secret), "{name}: a credential in: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_actions_leave_audit_events_without_full_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("participants.toml");
    std::fs::write(&people, PROVIDER_PEOPLE).unwrap();
    let token = "audit-admin-token-0123456789";
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start(
            &["--participants", people.to_str().unwrap()],
            &[("BRIDGEKEEPER_ADMIN_TOKEN", token), ("RUST_LOG", "info")],
        )
    });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let ada = Play::new(&server.base, None, "+12025550101");
    let doc = ada.ring().await;
    let messages: Vec<serde_json::Value> = client
        .get(format!("{}/dev/outbox", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = messages.last().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = ada.keys(&doc, &code).await;
    assert!(common::find(&joined, "Conference").is_some());
    let event = |kind: &'static str, seq: &'static str| {
        let client = client.clone();
        let url = format!("{}/voice/conference", server.base);
        let sid = ada.sid.clone();
        async move {
            let response = client
                .post(url)
                .form(&[
                    ("ConferenceSid", "CF77"),
                    ("FriendlyName", "Weekly sync"),
                    ("StatusCallbackEvent", kind),
                    ("CallSid", sid.as_str()),
                    ("SequenceNumber", seq),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 204);
        }
    };
    event("participant-join", "1").await;
    for path in [
        "/api/conferences/Weekly%20sync/lock".to_owned(),
        format!(
            "/api/conferences/Weekly%20sync/participants/{}/mute",
            ada.sid
        ),
    ] {
        let response = client
            .post(format!("{}{path}", server.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let (_, log) = tokio::task::block_in_place(|| server.stop());
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"admin."))
        .collect();
    assert!(
        audit
            .iter()
            .any(|l| l.contains("admin.lock") && l.contains("who=\"admin-token\"")),
        "{log}"
    );
    assert!(
        audit
            .iter()
            .any(|l| l.contains("admin.mute") && l.contains(&ada.sid)),
        "{log}"
    );
    for line in log.lines() {
        assert!(!line.contains("2025550101"), "full number in: {line}");
        assert!(!line.contains(token), "the admin token in: {line}");
    }
}
