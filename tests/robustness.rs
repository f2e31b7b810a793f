//! No stranded callers and no way around the code: restarts, several instances, forged and
//! replayed state, limits across calls, hostile input, many callers at once.

mod common;

use bridgekeeper::simulator::Outcome;
use bridgekeeper::twiml::parse::{Element, parse};
use common::process::{ServerProcess, example_participants};
use common::*;
use std::sync::Arc;
use std::time::Duration;

/// A `serve` of the example participants with this secret, on `listen`.
fn serve(listen: &str, secret: &str) -> ServerProcess {
    ServerProcess::start_on(
        listen,
        &["--participants", example_participants().to_str().unwrap()],
        &[("BRIDGEKEEPER_SECRET", secret)],
    )
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn post(client: &reqwest::Client, url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let response = client.post(url).form(params).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post_twiml(client: &reqwest::Client, url: &str, params: &[(&str, &str)]) -> Element {
    let (status, body) = post(client, url, params).await;
    assert_eq!(status, 200, "{url}: {body}");
    parse(&body).unwrap()
}

/// The path and query of the Gather's action, to post to another base.
fn action_path(doc: &Element) -> String {
    let action = find(doc, "Gather").unwrap().attr("action").unwrap();
    let url = url::Url::parse(action).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

fn incoming_params<'a>(sid: &'a str, from: &'a str, to: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", sid),
        ("From", from),
        ("To", to),
        ("CallStatus", "ringing"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_between_the_gather_and_the_digits_does_not_strand_the_caller() {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let addr = free_addr();
    let base = format!("http://{addr}");
    let secret = "restart-test-secret-0123456789";
    let sid = sid();

    let server = tokio::task::block_in_place(|| serve(&addr, secret));
    let doc = post_twiml(
        &client,
        &format!("{base}/voice"),
        &incoming_params(&sid, ADA, WEEKLY_LINE),
    )
    .await;
    let code = latest_code(&base, ADA).await;
    drop(server); // killed: everything in memory is gone

    let _again = tokio::task::block_in_place(|| serve(&addr, secret));
    let joined = post_twiml(
        &client,
        &format!("{base}{}", action_path(&doc)),
        &[
            ("CallSid", &sid),
            ("Digits", &code),
            ("From", ADA),
            ("To", WEEKLY_LINE),
        ],
    )
    .await;

    let room = find(&joined, "Conference").expect("joined after the restart");
    assert_eq!(room.text, "Weekly sync");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_of_one_call_may_alternate_between_two_instances() {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let secret = "two-instances-secret-0123456789";
    let (a, b) =
        tokio::task::block_in_place(|| (serve(&free_addr(), secret), serve(&free_addr(), secret)));
    let base_a = a.base.clone();
    let base_b = b.base.clone();
    let sid = sid();

    // Ring on A, a wrong code on B, silence on A, the right code on B.
    let doc = post_twiml(
        &client,
        &format!("{base_a}/voice"),
        &incoming_params(&sid, GRACE, WEEKLY_LINE),
    )
    .await;
    let code = latest_code(&base_a, GRACE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let doc = post_twiml(
        &client,
        &format!("{base_b}{}", action_path(&doc)),
        &[("CallSid", &sid), ("Digits", wrong)],
    )
    .await;
    assert!(spoken(&doc).join(" ").contains("not right"));
    let doc = post_twiml(
        &client,
        &format!("{base_a}{}", action_path(&doc)),
        &[("CallSid", &sid)],
    )
    .await;
    assert!(spoken(&doc).join(" ").contains("did not hear"));
    let joined = post_twiml(
        &client,
        &format!("{base_b}{}", action_path(&doc)),
        &[("CallSid", &sid), ("Digits", &code)],
    )
    .await;

    assert!(
        find(&joined, "Conference").is_some(),
        "{:?}",
        spoken(&joined)
    );
}

#[tokio::test]
async fn a_state_moved_to_another_call_is_refused() {
    let app = TestApp::spawn().await;
    let (mine, theirs) = (sid(), sid());
    let doc = app.incoming(&mine, ADA, WEEKLY_LINE).await;
    app.incoming(&theirs, GRACE, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let action = find(&doc, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();

    // Ada's state on Grace's call, with Ada's code: refused before anything is checked.
    let (status, body) = app
        .post(&action, &[("CallSid", &theirs), ("Digits", &code)])
        .await;

    assert_eq!(status, 400, "{body}");
    // Ada's own call still works with it.
    let joined = app
        .twiml(&action, &[("CallSid", &mine), ("Digits", &code)])
        .await;
    assert!(find(&joined, "Conference").is_some());
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let action = find(&doc, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let (head, token) = action.split_once("?s=").unwrap();
    for i in [0, token.len() / 2, token.len() - 1] {
        let mut bytes = token.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{head}?s={}", String::from_utf8(bytes).unwrap());
        let (status, _) = app
            .post(&tampered, &[("CallSid", &sid), ("Digits", "123456")])
            .await;
        assert_eq!(status, 400, "byte {i}");
    }
}

#[tokio::test]
async fn a_state_cannot_be_rolled_back_to_fewer_tries() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let first = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let second = app.keys(&first, &sid, Some(wrong)).await;
    assert!(spoken(&second)[0].contains("not right"));

    // Back to the first prompt's state (zero wrong tries): refused.
    let old = find(&first, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(&old, &[("CallSid", &sid), ("Digits", &code)])
        .await;
    assert_eq!(status, 409, "{body}");
    // The same state twice (a replay of the second prompt's answer) is refused too.
    let third = app.keys(&second, &sid, Some(wrong)).await;
    assert!(spoken(&third)[0].contains("not right"));
    let replay = find(&second, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let (status, _) = app
        .post(&replay, &[("CallSid", &sid), ("Digits", &code)])
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn hanging_up_after_two_wrong_codes_does_not_buy_three_fresh_tries() {
    let app = TestApp::spawn().await;
    let first = sid();
    let mut doc = app.incoming(&first, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        doc = app.keys(&doc, &first, Some(wrong)).await;
    }
    // Hang up, call again: one try is left for this number this hour.
    let second = sid();
    let doc = app.incoming(&second, ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    let end = app.keys(&doc, &second, Some(wrong)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"], "{:?}", spoken(&end));
    assert!(
        spoken(&end)[0].contains("Too many wrong codes"),
        "{:?}",
        spoken(&end)
    );
    // A third call is refused before any code is sent.
    let sent = app.outbox_to(ADA).await.len();
    let third = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&third), ["Say", "Hangup"]);
    assert_eq!(
        app.outbox_to(ADA).await.len(),
        sent,
        "no code for a spent number"
    );
}

#[tokio::test]
async fn codes_per_number_per_hour_are_limited() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| s.limits.codes_per_number = 2).await;
    for _ in 0..2 {
        let doc = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    }
    let refused = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    assert!(
        spoken(&refused)[0].contains("Too many codes"),
        "{:?}",
        spoken(&refused)
    );
    assert_eq!(app.outbox_to(GRACE).await.len(), 2);
    app.clock.advance(Duration::from_secs(60 * 60));
    let later = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    assert_eq!(verbs(&later), ["Gather", "Redirect"]);
}

#[tokio::test]
async fn the_global_code_budget_per_minute_has_a_spoken_answer() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| s.limits.codes_per_minute = 2).await;
    app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    let busy = app.incoming(&sid(), OBRIEN, WEEKLY_LINE).await;
    assert_eq!(verbs(&busy), ["Say", "Hangup"]);
    assert!(
        spoken(&busy)[0].contains("great many calls"),
        "{:?}",
        spoken(&busy)
    );
    assert_eq!(app.outbox().await.len(), 2);
}

#[test]
fn the_default_code_budget_fits_a_250_person_dial_in() {
    let limits = bridgekeeper::config::ServerLimits::default();
    // Every participant's code plus a resend each.
    assert!(limits.codes_per_minute >= 500, "{limits:?}");
}

#[tokio::test]
async fn fifty_callers_at_once_all_join_with_one_code_each() {
    let mut toml = String::from("[[conference]]\nname = \"All hands\"\n");
    for i in 0..50 {
        toml.push_str(&format!(
            "[[conference.participant]]\nname = \"P{i}\"\nphone = \"+1202555{:04}\"\nrole = \"{}\"\n",
            2000 + i,
            if i == 0 { "moderator" } else { "participant" }
        ));
    }
    let app = Arc::new(TestApp::spawn_with(&toml).await);
    let mut calls = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        calls.push(tokio::spawn(async move {
            let from = format!("+1202555{:04}", 2000 + i);
            let (mut sim, transcript) = app.simulator(&from, "+12025550100", &["code"]);
            (
                from,
                sim.play().await.map_err(|e| e.to_string()),
                transcript,
            )
        }));
    }
    let mut joined = 0;
    for call in calls {
        let (from, outcome, transcript) = call.await.unwrap();
        match outcome {
            Ok(Outcome::Joined { conference, .. }) => {
                assert_eq!(conference, "All hands");
                joined += 1;
            }
            other => panic!("{from}: {other:?}\n{}", transcript.text()),
        }
    }
    assert_eq!(joined, 50);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 50, "exactly one code per caller");
    let mut numbers: Vec<&str> = outbox.iter().map(|m| m.to.as_str()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 50);
}

#[tokio::test]
async fn odd_headers_methods_and_urls_never_get_a_5xx() {
    let app = TestApp::spawn().await;
    let client = &app.client;
    let checks: Vec<reqwest::RequestBuilder> = vec![
        client.get(app.url("/voice/code")),
        client.put(app.url("/voice")),
        client.delete(app.url("/healthz")),
        client.request(reqwest::Method::OPTIONS, app.url("/voice")),
        client.post(app.url("/voice/%00%ff")),
        client.post(app.url("/voice/code?s=%ff%fe&s=1&s")),
        client.post(app.url("/voice?x=<script>")),
        client
            .post(app.url("/voice"))
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x--"),
        client
            .post(app.url("/voice"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, 0x00]),
        client
            .post(app.url("/voice"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", "  ,;=  ")
            .body("CallSid=CA1&From=x"),
        client
            .post(app.url("/voice"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("=&&==&CallSid"),
        client
            .post(app.url("/voice"))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-16",
            )
            .body("CallSid=CA1&From=%2B12025550101&To=%2B12025550100"),
        client
            .post(app.url("/voice"))
            .header("content-type", "text/plain")
            .body("hello"),
    ];
    for request in checks {
        let request = request.build().unwrap();
        let label = format!("{} {}", request.method(), request.url());
        let status = client.execute(request).await.unwrap().status();
        assert!(status.as_u16() < 500, "{label}: {status}");
    }
    // Still serving.
    let doc = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
}

#[tokio::test]
async fn digits_with_letters_control_characters_or_too_many_digits_are_wrong_codes() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| {
        s.limits.wrong_per_number = 100;
        s.limits.per_call.wrong = 10;
    })
    .await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    for junk in [
        "12345a",
        "1234567",
        "12\u{7}456",
        "１２３４５６",
        "123 456",
        "99999999999999999999",
    ] {
        doc = app.keys(&doc, &sid, Some(junk)).await;
        assert!(
            spoken(&doc)[0].contains("not right"),
            "{junk:?}: {:?}",
            spoken(&doc)
        );
    }
    // The code still works afterwards: no junk reached the verifier's check count.
    let code = app.code_for(ADA).await;
    let joined = app.keys(&doc, &sid, Some(&code)).await;
    assert!(find(&joined, "Conference").is_some());
}
