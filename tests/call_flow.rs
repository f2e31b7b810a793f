//! The call from ring to conference on the local verifier, driven by form posts and by
//! following the returned TwiML.

mod common;

use bridgekeeper::simulator::Outcome;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn moderator_with_the_right_code_starts_and_ends_the_conference() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;

    let joined = app.keys(&doc, &sid, Some(&code)).await;

    assert_eq!(verbs(&joined), ["Say", "Dial"]);
    assert_eq!(
        spoken(&joined),
        ["Thank you, Ada Lovelace. Joining Weekly sync. Press star at any time for options."]
    );
    let room = find(&joined, "Conference").unwrap();
    assert_eq!(room.text, "Weekly sync");
    assert_eq!(room.attr("startConferenceOnEnter"), Some("true"));
    assert_eq!(room.attr("endConferenceOnExit"), Some("true"));
    assert_eq!(room.attr("waitUrl"), None);
}

#[tokio::test]
async fn participant_waits_with_the_conference_hold_music() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;
    let code = app.code_for(GRACE).await;

    let joined = app.keys(&doc, &sid, Some(&code)).await;

    let room = find(&joined, "Conference").unwrap();
    assert_eq!(room.text, "Weekly sync");
    assert_eq!(room.attr("startConferenceOnEnter"), Some("false"));
    assert_eq!(room.attr("endConferenceOnExit"), Some("false"));
    assert_eq!(
        room.attr("waitUrl"),
        Some("https://example.com/hold.mp3?a=1&b=2")
    );
}

#[tokio::test]
async fn the_whole_join_document_escapes_a_difficult_name() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, OBRIEN, WEEKLY_LINE).await;
    let code = app.code_for(OBRIEN).await;
    let params = [("CallSid", sid.as_str()), ("Digits", code.as_str())];
    let gather = find(&doc, "Gather").unwrap();

    let (status, body) = app.post(gather.attr("action").unwrap(), &params).await;

    assert_eq!(status, 200);
    // The room's `<Dial>` goes to the keypad menu with the call's state when `*` is pressed.
    let menu = bridgekeeper::twiml::parse::parse(&body)
        .ok()
        .and_then(|doc| find(&doc, "Dial").and_then(|d| d.attr("action").map(str::to_owned)))
        .expect("a Dial action");
    assert!(menu.contains("/voice/code?s="), "{menu}");
    assert_eq!(
        body,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Thank you, O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;. Joining Weekly sync. Press star at any time for options.</Say><Dial action="{}" method="POST" hangupOnStar="true"><Conference startConferenceOnEnter="false" endConferenceOnExit="false" waitUrl="https://example.com/hold.mp3?a=1&amp;b=2" waitMethod="GET" maxParticipants="250" statusCallback="{}voice/conference" statusCallbackEvent="start end join leave mute hold">Weekly sync</Conference></Dial></Response>"#,
            menu.replace('&', "&amp;"),
            app.base
        )
    );
}

#[tokio::test]
async fn the_dialed_number_picks_the_conference() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, KATHERINE, BOARD_LINE).await;
    assert!(spoken(&doc)[0].contains("Board"), "{:?}", spoken(&doc));
    let code = app.code_for(KATHERINE).await;
    let joined = app.keys(&doc, &sid, Some(&code)).await;
    assert_eq!(find(&joined, "Conference").unwrap().text, "Board");
}

#[tokio::test]
async fn a_caller_listed_only_in_another_conference_is_refused() {
    let app = TestApp::spawn().await;
    let doc = app.incoming(&sid(), KATHERINE, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Say", "Reject"]);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_known_caller_gets_one_code_and_a_six_digit_gather_naming_the_conference() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;

    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    let gather = find(&doc, "Gather").unwrap();
    assert_eq!(gather.attr("input"), Some("dtmf"));
    assert_eq!(gather.attr("numDigits"), Some("6"));
    assert_eq!(gather.attr("finishOnKey"), Some("#"));
    let timeout: u32 = gather.attr("timeout").unwrap().parse().unwrap();
    assert!((5..=30).contains(&timeout), "timeout {timeout}");
    assert!(gather.attr("action").is_some());
    assert!(
        spoken(gather)[0].contains("Weekly sync"),
        "{:?}",
        spoken(gather)
    );
    let sent = app.outbox().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ADA);
    assert_eq!(sent[0].code.len(), 6);
    assert!(sent[0].code.chars().all(|c| c.is_ascii_digit()));
    assert!(sent[0].body.contains(&sent[0].code));
    assert!(!sent[0].sent_at.is_empty());
}

#[tokio::test]
async fn a_repeated_incoming_webhook_sends_no_second_code() {
    let app = TestApp::spawn().await;
    let sid = sid();
    app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let again = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&again), ["Gather", "Redirect"]);
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn unknown_line_is_refused_without_a_code() {
    let app = TestApp::spawn().await;
    let doc = app.incoming(&sid(), ADA, "+12025550177").await;
    assert_eq!(verbs(&doc), ["Say", "Reject"]);
    assert!(spoken(&doc)[0].contains("not set up"), "{:?}", spoken(&doc));
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn unknown_caller_hears_they_are_not_on_the_list_and_no_code_is_sent() {
    let app = TestApp::spawn().await;
    let doc = app.incoming(&sid(), STRANGER, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Say", "Reject"]);
    assert!(
        spoken(&doc)[0].contains("not on the list for this conference"),
        "{:?}",
        spoken(&doc)
    );
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn every_withheld_caller_id_is_refused_without_a_code() {
    let app = TestApp::spawn().await;
    for withheld in [
        "",
        "anonymous",
        "Anonymous",
        "+266696687",
        "+86282452253",
        "+8656696",
        "+2562533",
        "+7378742833",
    ] {
        let doc = app.incoming(&sid(), withheld, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Say", "Reject"], "{withheld:?}");
        assert!(
            spoken(&doc)[0].contains("not on the list"),
            "{withheld:?}: {:?}",
            spoken(&doc)
        );
    }
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_sentinel_listed_as_a_participant_still_never_matches() {
    // Even an operator's mistake cannot let a withheld caller ID in.
    let toml = r#"
[[conference]]
name = "Solo"
[[conference.participant]]
name = "Sentinel"
phone = "+7378742833"
"#;
    let app = TestApp::spawn_with(toml).await;
    let doc = app.incoming(&sid(), "+7378742833", "+12025550100").await;
    assert_eq!(verbs(&doc), ["Say", "Reject"]);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn with_one_conference_and_no_numbers_any_dialed_number_reaches_it() {
    let toml = r#"
[[conference]]
name = "Solo"
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"
"#;
    let app = TestApp::spawn_with(toml).await;
    let sid = sid();
    let doc = app.incoming(&sid, ADA, "+19995550000").await;
    let code = app.code_for(ADA).await;
    let joined = app.keys(&doc, &sid, Some(&code)).await;
    assert_eq!(find(&joined, "Conference").unwrap().text, "Solo");
}

#[tokio::test]
async fn a_wrong_code_is_told_and_asked_again_and_the_third_ends_the_call() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    for _ in 0..2 {
        doc = app.keys(&doc, &sid, Some(wrong)).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
        assert!(spoken(&doc)[0].contains("not right"), "{:?}", spoken(&doc));
    }
    let last_prompt = doc.clone();
    let end = app.keys(&doc, &sid, Some(wrong)).await;

    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(spoken(&end)[0].contains("Goodbye"), "{:?}", spoken(&end));
    // The call is over: replaying its last prompt's URL with the right code joins nobody.
    let action = find(&last_prompt, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(&action, &[("CallSid", &sid), ("Digits", &code)])
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.contains("Dial"));
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn digits_that_cannot_be_a_code_count_as_wrong() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    for junk in ["12345", "1234567"] {
        doc = app.keys(&doc, &sid, Some(junk)).await;
        assert!(spoken(&doc)[0].contains("not right"), "{junk}");
    }
    let end = app.keys(&doc, &sid, Some("12a456")).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
}

#[tokio::test]
async fn silence_asks_again_without_a_new_code_and_the_third_ends_the_call() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;

    for _ in 0..2 {
        doc = app.keys(&doc, &sid, None).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
        assert!(
            spoken(&doc)[0].contains("did not hear"),
            "{:?}",
            spoken(&doc)
        );
    }
    assert_eq!(app.outbox().await.len(), 1, "silence sends no new code");
    let end = app.keys(&doc, &sid, None).await;

    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(spoken(&end)[0].contains("Goodbye"));
}

#[tokio::test]
async fn an_empty_digits_parameter_is_silence_too() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;
    let again = app.keys(&doc, &sid, Some("")).await;
    assert!(spoken(&again)[0].contains("did not hear"));
}

#[tokio::test]
async fn star_sends_the_code_again_at_most_twice() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await;

    for sent in 2..=3 {
        doc = app.keys(&doc, &sid, Some("*")).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
        assert!(spoken(&doc)[0].contains("sent your code again"));
        assert_eq!(app.outbox().await.len(), sent);
    }
    doc = app.keys(&doc, &sid, Some("*")).await;
    assert!(
        spoken(&doc)[0].contains("No more codes"),
        "{:?}",
        spoken(&doc)
    );
    assert_eq!(app.outbox().await.len(), 3, "a third * sends nothing");

    // Within the code's lifetime a resend is the same code, as with Twilio Verify.
    let codes: Vec<String> = app.outbox().await.into_iter().map(|m| m.code).collect();
    assert!(codes.windows(2).all(|w| w[0] == w[1]), "{codes:?}");
    let joined = app.keys(&doc, &sid, Some(&codes[0])).await;
    assert!(find(&joined, "Conference").is_some());
}

#[tokio::test]
async fn an_expired_code_is_replaced_once_then_the_call_ends() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let first = app.code_for(ADA).await;
    app.clock.advance(Duration::from_secs(10 * 60));

    doc = app.keys(&doc, &sid, Some(&first)).await;
    assert!(spoken(&doc)[0].contains("expired"), "{:?}", spoken(&doc));
    assert_eq!(app.outbox().await.len(), 2, "a fresh code was sent");

    app.clock.advance(Duration::from_secs(10 * 60));
    let fresh = app.code_for(ADA).await;
    let end = app.keys(&doc, &sid, Some(&fresh)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(spoken(&end)[0].contains("expired"));
}

#[tokio::test]
async fn a_fresh_code_after_expiry_lets_the_caller_in() {
    let app = TestApp::spawn().await;
    let sid = sid();
    let mut doc = app.incoming(&sid, ADA, WEEKLY_LINE).await;
    let first = app.code_for(ADA).await;
    app.clock.advance(Duration::from_secs(11 * 60));
    doc = app.keys(&doc, &sid, Some(&first)).await;
    let fresh = app.code_for(ADA).await;
    let joined = app.keys(&doc, &sid, Some(&fresh)).await;
    assert!(find(&joined, "Conference").is_some());
}

#[tokio::test]
async fn a_code_webhook_without_or_with_a_forged_state_never_joins() {
    let app = TestApp::spawn().await;
    let forged = format!("/voice/code?s={}", "A".repeat(42));
    for path in ["/voice/code", "/voice/code?s=", forged.as_str()] {
        let (status, body) = app
            .post(
                path,
                &[
                    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
                    ("Digits", "123456"),
                ],
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("call state"), "{body}");
    }
}

#[tokio::test]
async fn a_code_approved_for_one_call_does_not_open_another() {
    let app = TestApp::spawn().await;
    let (a, b) = (sid(), sid());
    let doc_a = app.incoming(&a, ADA, WEEKLY_LINE).await;
    let doc_b = app.incoming(&b, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let joined = app.keys(&doc_a, &a, Some(&code)).await;
    assert!(find(&joined, "Conference").is_some());
    // The same digits on the other call: the code is used up.
    let other = app.keys(&doc_b, &b, Some(&code)).await;
    assert!(find(&other, "Conference").is_none(), "{:?}", spoken(&other));
}

#[tokio::test]
async fn every_call_ends_within_a_bounded_number_of_webhooks() {
    // Lift the limits across calls so that every call plays its own prompts out.
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| {
        s.limits.wrong_per_number = 10_000;
        s.limits.codes_per_number = 10_000;
    })
    .await;
    // Scripts of silence, stars, junk and wrong codes, in many orders: none may loop.
    let keys = ["", "*", "12", "000000", "999999"];
    for seed in 0..40usize {
        let script: Vec<&str> = (0..20)
            .map(|i| keys[(seed * 7 + i * (seed % 5 + 1)) % 5])
            .collect();
        let (mut sim, transcript) = app.simulator(GRACE, WEEKLY_LINE, &script);
        let outcome = sim.play().await.expect("the call plays");
        let prompts = transcript
            .lines()
            .iter()
            .filter(|l| l.starts_with("  keys:"))
            .count();
        assert!(
            matches!(outcome, Outcome::Ended { .. } | Outcome::Joined { .. }),
            "{outcome:?}"
        );
        assert!(
            prompts <= 9,
            "seed {seed}: {prompts} prompts\n{}",
            transcript.text()
        );
        // Starting over within ten minutes hits the send limit; advance past it.
        app.clock.advance(Duration::from_secs(11 * 60));
    }
}

#[tokio::test]
async fn the_simulator_plays_a_call_to_the_end() {
    let app = TestApp::spawn().await;
    let (mut sim, transcript) = app.simulator(ADA, WEEKLY_LINE, &["111111", "", "*", "code"]);
    let outcome = sim.play().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Joined {
            conference: "Weekly sync".into(),
            role: "moderator".into()
        }
    );
    let text = transcript.text();
    assert!(text.contains("not right"), "{text}");
    assert!(text.contains("did not hear"), "{text}");
    assert!(text.contains("sent your code again"), "{text}");
}

#[tokio::test]
async fn the_simulator_reports_rejection_and_endings() {
    let app = TestApp::spawn().await;
    let (mut sim, _) = app.simulator(STRANGER, WEEKLY_LINE, &[]);
    assert_eq!(sim.play().await.unwrap(), Outcome::Rejected);
    let (mut sim, _) = app.simulator(GRACE, WEEKLY_LINE, &["", "", ""]);
    match sim.play().await.unwrap() {
        Outcome::Ended { reason } => assert!(reason.contains("did not receive"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let (mut sim, _) = app.simulator(KATHERINE, BOARD_LINE, &[]);
    assert_eq!(
        sim.play().await.unwrap(),
        Outcome::Ended {
            reason: "caller hung up".into()
        }
    );
}
