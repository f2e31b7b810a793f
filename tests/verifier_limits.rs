//! The local verifier's limits, seen from the phone: expiry, checks per code, sends per
//! number, same code on resend.

mod common;

use common::*;
use std::time::Duration;

fn wrong_for(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn five_sends_per_number_per_ten_minutes_then_the_caller_is_told() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let doc = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
        app.clock.advance(Duration::from_secs(60));
    }

    let refused = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;

    assert_eq!(verbs(&refused), ["Say", "Hangup"]);
    assert!(
        spoken(&refused)[0].contains("Too many codes have been requested"),
        "{:?}",
        spoken(&refused)
    );
    assert_eq!(app.outbox_to(GRACE).await.len(), 5);
    // Another number is not affected.
    let other = app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(verbs(&other), ["Gather", "Redirect"]);
    // Ten minutes after the first send, one more is allowed.
    app.clock.advance(Duration::from_secs(6 * 60));
    let again = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    assert_eq!(verbs(&again), ["Gather", "Redirect"]);
}

#[tokio::test]
async fn star_within_the_send_limit_and_beyond_it() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    }
    let sid = sid();
    let mut doc = app.incoming(&sid, GRACE, WEEKLY_LINE).await; // fourth send
    doc = app.keys(&doc, &sid, Some("*")).await; // fifth
    assert!(spoken(&doc)[0].contains("sent your code again"));
    let end = app.keys(&doc, &sid, Some("*")).await; // sixth: refused
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(
        spoken(&end)[0].contains("Too many codes"),
        "{:?}",
        spoken(&end)
    );
}

#[tokio::test]
async fn five_checks_per_code_hold_across_calls() {
    // The per-number wrong-code limit would stop the second call first; lift it to see the
    // verifier's own limit.
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| s.limits.wrong_per_number = 100).await;
    // First call: three wrong codes end it.
    let first = sid();
    let mut doc = app.incoming(&first, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let wrong = wrong_for(&code);
    for _ in 0..3 {
        doc = app.keys(&doc, &first, Some(wrong)).await;
    }
    assert_eq!(verbs(&doc), ["Say", "Hangup"]);

    // Second call within the lifetime: the same code is resent; two more wrong checks use
    // up the code's five, and then even the right code is refused.
    let second = sid();
    let mut doc = app.incoming(&second, ADA, WEEKLY_LINE).await;
    assert_eq!(app.code_for(ADA).await, code, "same code while pending");
    for _ in 0..2 {
        doc = app.keys(&doc, &second, Some(wrong)).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    }
    let end = app.keys(&doc, &second, Some(&code)).await;

    assert!(find(&end, "Dial").is_none());
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(
        spoken(&end)[0].contains("Too many wrong codes"),
        "{:?}",
        spoken(&end)
    );
}

#[tokio::test]
async fn a_code_is_good_for_ten_minutes_and_not_a_moment_more() {
    let app = TestApp::spawn().await;
    let sid_ok = sid();
    let doc = app.incoming(&sid_ok, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    app.clock.advance(Duration::from_secs(9 * 60 + 59));
    let joined = app.keys(&doc, &sid_ok, Some(&code)).await;
    assert!(find(&joined, "Conference").is_some());

    let sid_late = sid();
    let doc = app.incoming(&sid_late, GRACE, WEEKLY_LINE).await;
    let code = app.code_for(GRACE).await;
    app.clock.advance(Duration::from_secs(10 * 60));
    let late = app.keys(&doc, &sid_late, Some(&code)).await;
    assert!(find(&late, "Dial").is_none());
    assert!(spoken(&late)[0].contains("expired"));
}

#[tokio::test]
async fn an_approved_code_cannot_be_used_again() {
    let app = TestApp::spawn().await;
    let first = sid();
    let doc = app.incoming(&first, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    app.keys(&doc, &first, Some(&code)).await;

    // A new call gets a new code; the old one is refused on it.
    let second = sid();
    let doc = app.incoming(&second, ADA, WEEKLY_LINE).await;
    let fresh = app.code_for(ADA).await;
    if fresh != code {
        let refused = app.keys(&doc, &second, Some(&code)).await;
        assert!(find(&refused, "Dial").is_none());
    }
}

#[tokio::test]
async fn the_local_send_limit_can_be_raised_for_benchmarks() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| {
        s.limits.local_sends_per_number = 7;
        s.limits.codes_per_number = 100;
    })
    .await;
    for _ in 0..7 {
        let doc = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
        assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    }
    let refused = app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    assert!(
        spoken(&refused)[0].contains("Too many codes"),
        "{:?}",
        spoken(&refused)
    );
}
