//! The attacks of the hardening issue, replayed: parallel calls trying to multiply the
//! per-number wrong-code allowance, and one number trying to spend the whole server's code
//! budget. Each runs on one in-process instance and, when `BRIDGEKEEPER_TEST_REDIS_URL` is
//! set, on two instances sharing Redis.

mod common;

use bridgekeeper::config::{Settings, StoreSettings, TwilioSettings};
use common::fake_verify::FakeVerify;
use common::{
    ACCOUNT_SID, ADA, AUTH_TOKEN, GRACE, PARTICIPANTS, SERVICE_SID, TestApp, WEEKLY_LINE, find,
    sid, spoken,
};
use futures_util::future::join_all;
use secrecy::SecretString;

const CODE: &str = "271828";

fn redis() -> Option<String> {
    std::env::var("BRIDGEKEEPER_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Twilio mode against `fake`, on `store`.
fn twilio(fake: &FakeVerify, store: StoreSettings) -> impl FnOnce(&mut Settings) {
    let base = fake.base.clone();
    move |settings: &mut Settings| {
        settings.use_twilio(TwilioSettings {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.to_owned().into(),
            verify_service_sid: SERVICE_SID.into(),
            verify_base_url: base,
        });
        settings.store = store;
    }
}

/// One instance on memory, or two on one Redis (with a prefix of their own).
async fn instances(fake: &FakeVerify, shared: bool) -> Vec<TestApp> {
    match (shared, redis()) {
        (false, _) => vec![
            TestApp::spawn_signed(
                PARTICIPANTS,
                twilio(fake, StoreSettings::Memory),
                AUTH_TOKEN,
            )
            .await,
        ],
        (true, Some(url)) => {
            let prefix = format!("bk-attack:{}:", sid());
            let store = || StoreSettings::Redis {
                url: SecretString::from(url.clone()),
                prefix: prefix.clone(),
            };
            vec![
                TestApp::spawn_signed(PARTICIPANTS, twilio(fake, store()), AUTH_TOKEN).await,
                TestApp::spawn_signed(PARTICIPANTS, twilio(fake, store()), AUTH_TOKEN).await,
            ]
        }
        (true, None) => Vec::new(),
    }
}

fn checks(fake: &FakeVerify) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/VerificationCheck"))
        .count()
}

async fn parallel_wrong_codes_reach_the_verifier_at_most_three_times(shared: bool) {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fix_code(CODE);
    let apps = instances(&fake, shared).await;
    if apps.is_empty() {
        return;
    }
    // Five calls from one listed number (as many codes as Verify sends it in ten minutes),
    // all at the prompt before any wrong code.
    let mut calls = Vec::new();
    for i in 0..5 {
        let app = &apps[i % apps.len()];
        let call = sid();
        let doc = app.incoming(&call, ADA, WEEKLY_LINE).await;
        assert!(find(&doc, "Gather").is_some());
        calls.push((app, call, doc));
    }
    let answers = join_all(
        calls
            .iter()
            .map(|(app, call, doc)| app.keys(doc, call, Some("000000"))),
    )
    .await;
    assert!(
        checks(&fake) <= 3,
        "{} wrong codes were checked against an allowance of 3",
        checks(&fake)
    );
    let refused = answers
        .iter()
        .filter(|doc| spoken(doc).join(" ").contains("Too many wrong codes"))
        .count();
    assert!(refused >= 2, "{answers:?}");
    // And a new call from that number gets no code this hour.
    let before = fake.sent_codes(ADA).len();
    let doc = apps[0].incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert!(find(&doc, "Gather").is_none());
    assert_eq!(fake.sent_codes(ADA).len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_cannot_multiply_the_wrong_code_allowance() {
    parallel_wrong_codes_reach_the_verifier_at_most_three_times(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_on_two_instances_cannot_multiply_the_wrong_code_allowance() {
    parallel_wrong_codes_reach_the_verifier_at_most_three_times(true).await;
}

async fn one_number_cannot_spend_the_server_budget(shared: bool) {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fix_code(CODE);
    let base = fake.base.clone();
    let store = match (shared, redis()) {
        (false, _) => StoreSettings::Memory,
        (true, Some(url)) => StoreSettings::Redis {
            url: SecretString::from(url),
            prefix: format!("bk-budget:{}:", sid()),
        },
        (true, None) => return,
    };
    let configure = |store: StoreSettings| {
        let base = base.clone();
        move |settings: &mut Settings| {
            twilio_settings(settings, base);
            settings.store = store;
            // A small budget so that the attack is quick: 5 codes a minute for the server,
            // 2 an hour for a number.
            settings.limits.codes_per_minute = 5;
            settings.limits.codes_per_number = 2;
        }
    };
    let a = TestApp::spawn_signed(PARTICIPANTS, configure(store.clone()), AUTH_TOKEN).await;
    let b = if shared {
        Some(TestApp::spawn_signed(PARTICIPANTS, configure(store), AUTH_TOKEN).await)
    } else {
        None
    };
    // One number calls 40 times (its own two codes, then refusals), on both instances.
    for i in 0..40 {
        let app = match (&b, i % 2) {
            (Some(b), 1) => b,
            _ => &a,
        };
        app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    }
    assert_eq!(fake.sent_codes(ADA).len(), 2, "the number's own allowance");
    // Another listed number still gets its code: the refusals spent none of the budget.
    let doc = b
        .as_ref()
        .unwrap_or(&a)
        .incoming(&sid(), GRACE, WEEKLY_LINE)
        .await;
    let words = spoken(&doc).join(" ");
    assert!(words.contains("six-digit code"), "{words}");
    assert!(!words.contains("great many calls"), "{words}");
}

fn twilio_settings(settings: &mut Settings, base: url::Url) {
    settings.use_twilio(TwilioSettings {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.to_owned().into(),
        verify_service_sid: SERVICE_SID.into(),
        verify_base_url: base,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_do_not_spend_the_server_s_code_budget() {
    one_number_cannot_spend_the_server_budget(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_on_two_instances_do_not_spend_the_shared_budget() {
    one_number_cannot_spend_the_server_budget(true).await;
}

/// A joining webhook captured before a restart of a server whose store is in memory (its
/// replay marks are gone) must not join again after it.
#[tokio::test]
async fn a_joining_webhook_replayed_after_a_restart_does_not_join_again() {
    let before = TestApp::spawn().await;
    let call = sid();
    let doc = before.incoming(&call, ADA, WEEKLY_LINE).await;
    let code = before.code_for(ADA).await;
    let action = find(&doc, "Gather")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let joined = before.keys(&doc, &call, Some(&code)).await;
    assert!(find(&joined, "Conference").is_some());
    let captured = url::Url::parse(&action).unwrap();
    let path = format!("{}?{}", captured.path(), captured.query().unwrap());
    drop(before);

    // The same line restarted two minutes later, with a fresh in-memory store.
    let after = TestApp::spawn_later(PARTICIPANTS, std::time::Duration::from_secs(120)).await;
    let (status, body) = after
        .post(
            &path,
            &[("CallSid", call.as_str()), ("Digits", code.as_str())],
        )
        .await;
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("<Conference"), "{body}");
}

/// Development mode keeps its counters across a restart (the in-memory store is written on
/// shutdown and read at start): a number that spent its wrong codes stays refused.
#[tokio::test(flavor = "multi_thread")]
async fn development_mode_keeps_the_per_number_counters_across_a_restart() {
    use common::process::{ServerProcess, call, example_participants};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap().to_owned();
    let participants = example_participants().to_str().unwrap().to_owned();
    let env = [("BRIDGEKEEPER_STATE_FILE", state.as_str())];
    let server = ServerProcess::start(&["--participants", &participants], &env);
    let base = server.base.clone();
    let (code, stdout, _) = tokio::task::spawn_blocking(move || {
        call(
            &base,
            &["--from", "+12025550102", "--digits", "000000,111111,222222"],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 4, "{stdout}");
    let (status, _) = server.stop();
    assert_eq!(status, Some(0));
    assert!(std::path::Path::new(&state).exists(), "the store was kept");

    let again = ServerProcess::start(&["--participants", &participants], &env);
    let base = again.base.clone();
    let (code, stdout, _) = tokio::task::spawn_blocking(move || {
        call(&base, &["--from", "+12025550102", "--digits", "code"])
    })
    .await
    .unwrap();
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("Too many wrong codes"), "{stdout}");
    let (_, log) = again.stop();
    assert!(log.contains("store.restored"), "{log}");
}

/// Twilio's signature concatenates names and values without separators, so a captured
/// request can be re-split (`CallSid=CA…CallStatusringing`, `CallStatus` dropped) and keep a
/// valid signature: such a call id is not Twilio's shape and is refused.
#[tokio::test]
async fn a_re_split_signed_request_is_refused() {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    let app = TestApp::spawn_signed(
        PARTICIPANTS,
        twilio(&fake, StoreSettings::Memory),
        AUTH_TOKEN,
    )
    .await;
    let call = sid();
    let resplit = format!("{call}CallStatusringing");
    let (status, body) = app
        .post(
            "/voice",
            &[
                ("CallSid", resplit.as_str()),
                ("From", ADA),
                ("To", WEEKLY_LINE),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(fake.sent_codes(ADA).is_empty());
}
