//! What an operator relies on: SIGTERM drains in-flight webhooks, and `--log-format json`
//! writes one parseable object per line with stable event names.

mod common;

use bridgekeeper::signature::{HEADER, sign};
use common::fake_verify::{Failure, FakeVerify};
use common::process::{ServerProcess, call, example_participants};
use common::{ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_webhook_in_flight_then_exits_0() {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fail_next(Failure::Hang(Duration::from_millis(1500)));
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start(
            &["--participants", example_participants().to_str().unwrap()],
            &[
                ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
                ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID),
                ("TWILIO_VERIFY_BASE_URL", fake.base.as_str()),
            ],
        )
    });
    let url = format!("{}/voice", server.base);
    let params: Vec<(String, String)> = [
        ("CallSid", "CA0000000000000000000000000000aaaa"),
        ("From", "+12025550101"),
        ("To", "+12025550100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = sign(AUTH_TOKEN, &url, &params);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .post(url)
                .header(HEADER, signature)
                .form(&params)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    });
    // Wait until the webhook is inside the server, waiting on Verify.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.requests().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.requests().len(), 1, "the webhook reached Verify");

    let (exit, log) = tokio::task::block_in_place(|| server.stop());

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Gather"),
        "the in-flight call got its prompt: {body}"
    );
    assert_eq!(exit, Some(0), "{log}");
    assert!(log.contains("server.shutdown"), "{log}");
    assert!(log.contains("server.stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_stable_event_names() {
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start(
            &[
                "--participants",
                example_participants().to_str().unwrap(),
                "--log-format",
                "json",
            ],
            &[],
        )
    });
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        call(&base, &["--from", "+12025550101", "--auto-code"]);
        call(&base, &["--from", "+12025550199", "--to", "+12025550100"]);
        call(
            &base,
            &["--from", "+12025550102", "--digits", "000000,111111,222222"],
        );
    })
    .await
    .unwrap();
    let (_, log) = tokio::task::block_in_place(|| server.stop());

    let mut events = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["level"].is_string(), "{line}");
        if let Some(event) = value["fields"]["event"].as_str() {
            events.push((event.to_owned(), value));
        }
    }
    let find = |name: &str| {
        events
            .iter()
            .find(|(e, _)| e == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} event in:\n{log}"))
    };
    let joined = find("call.joined");
    assert_eq!(joined["span"]["conference"], "Weekly sync");
    assert_eq!(joined["span"]["caller"], "+1202•••0101");
    assert!(
        joined["span"]["call_sid"]
            .as_str()
            .unwrap()
            .starts_with("CA")
    );
    assert_eq!(find("call.rejected")["fields"]["reason"], "not_listed");
    find("call.wrong_code");
    find("call.code_sent");
    find("server.listening");
    assert!(!log.contains("2025550101"), "a full number in the JSON log");
}
