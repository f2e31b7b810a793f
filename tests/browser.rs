//! The web console in a real browser (Debian's chromium through chromedriver): see
//! `tests/common/browser.rs` for what it needs and where screenshots go.

mod common;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_harness_loads_a_page_of_the_server() {
    let Some(browser) = Browser::start("harness").await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser
        .client
        .goto(app.url("/healthz").as_str())
        .await
        .unwrap();
    let body = browser
        .client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("ok") || body.contains("status"), "{body}");
    browser.screenshot("healthz").await;
    browser.close().await;
}

const CONSOLE_PEOPLE: &str = r#"
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
name = "Alan Turing"
phone = "+12025550103"

[[conference]]
name = "Board"
numbers = ["+12025550150"]

[[conference.participant]]
name = "Katherine Johnson"
phone = "+12025550151"
role = "moderator"
"#;

const ADA: &str = "+12025550101";
const GRACE: &str = "+12025550102";
const ALAN: &str = "+12025550103";
const KATHERINE: &str = "+12025550151";
const NEWCOMER: &str = "+12025550177";
const WEEKLY: &str = "+12025550100";

fn button(text: &str) -> String {
    format!("//button[normalize-space(.)='{text}']")
}

fn input(label: &str) -> String {
    format!("//input[@id=//label[normalize-space(.)='{label}']/@for]")
}

/// Waits (a page may still be loading after a click) for the input labelled `label`.
async fn field(browser: &Browser, label: &str) -> fantoccini::elements::Element {
    let xpath = input(label);
    browser
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no input labelled {label}: {e}"))
}

async fn fill(browser: &Browser, label: &str, value: &str) {
    let field = field(browser, label).await;
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(browser: &Browser, text: &str) {
    browser
        .client
        .find(Locator::XPath(&button(text)))
        .await
        .unwrap_or_else(|e| panic!("no button {text}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The page's text; a page being replaced (a form posted, the live roster swapped in) is
/// read again.
async fn page_text(browser: &Browser) -> String {
    let mut last = None;
    for _ in 0..50 {
        let read = async {
            browser
                .client
                .find(Locator::Css("body"))
                .await?
                .text()
                .await
        };
        match read.await {
            Ok(text) => return text,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page could not be read: {last:?}")
}

/// Waits up to ten seconds for the page (without a reload) to show `text`.
async fn wait_for(browser: &Browser, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = page_text(browser).await;
        if body.contains(text) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed {text:?}:\n{body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn outbox_codes(app: &TestApp, to: &str) -> Vec<String> {
    let messages: Vec<bridgekeeper::verify::OutboxMessage> = app
        .client
        .get(app.url("/dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.code)
        .collect()
}

/// Signs in through the pages as the holder of `phone`.
async fn sign_in(browser: &Browser, app: &TestApp, phone: &str) {
    browser
        .client
        .goto(app.url("/console").as_str())
        .await
        .unwrap();
    fill(browser, "Phone number", phone).await;
    click(browser, "Send code").await;
    field(browser, "Code").await;
    let code = outbox_codes(app, phone)
        .await
        .pop()
        .expect("a code for a moderator");
    fill(browser, "Code", &code).await;
    click(browser, "Sign in").await;
    wait_for(browser, "Sign out").await;
}

/// A call in from `from` that types the code it gets, returning its call id.
async fn call_in(app: &TestApp, from: &str) -> String {
    let sid = common::sid();
    let doc = app.incoming(&sid, from, WEEKLY).await;
    let code = outbox_codes(app, from)
        .await
        .pop()
        .expect("a code for the caller");
    let joined = app.keys(&doc, &sid, Some(&code)).await;
    assert!(
        common::find(&joined, "Conference").is_some(),
        "{:?}",
        common::spoken(&joined)
    );
    sid
}

async fn post_event(app: &TestApp, kind: &str, call: &str, seq: u64) {
    let response = app
        .client
        .post(app.url("/voice/conference"))
        .form(&[
            ("ConferenceSid", "CFweb1"),
            ("FriendlyName", "Weekly sync"),
            ("StatusCallbackEvent", kind),
            ("CallSid", call),
            ("SequenceNumber", &seq.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moderator_runs_the_call_from_the_console_and_invites_a_newcomer() {
    use bridgekeeper::carrier::CarrierKind;
    use bridgekeeper::conference::control::ControlFlavor;
    use bridgekeeper::config::ControlSettings;
    use bridgekeeper::fakes::conference::{self as rest, FakeConferenceApi};

    let Some(browser) = Browser::start("console").await else {
        return;
    };
    let fake = FakeConferenceApi::start(Default::default()).await.unwrap();
    let base = fake.base().clone();
    let app = TestApp::spawn_configured(CONSOLE_PEOPLE, move |s| {
        s.conference_control = vec![ControlSettings {
            carrier: CarrierKind::Twilio,
            flavor: ControlFlavor::Twilio {
                account_sid: rest::TWILIO_ACCOUNT_SID.into(),
                auth_token: secrecy::SecretString::from(rest::TWILIO_AUTH_TOKEN.to_owned()),
            },
            base_url: base,
        }];
    })
    .await;

    // Sign in with the code.
    browser
        .client
        .goto(app.url("/console").as_str())
        .await
        .unwrap();
    browser.screenshot("sign-in").await;
    sign_in(&browser, &app, ADA).await;
    let body = page_text(&browser).await;
    assert!(body.contains("Weekly sync"), "{body}");
    assert!(!body.contains("Board"), "only her own conferences: {body}");
    browser.screenshot("live-view").await;

    // A participant joins: the page shows her without a reload.
    let grace = call_in(&app, GRACE).await;
    fake.add_participant("CFweb1", &grace);
    post_event(&app, "participant-join", &grace, 1).await;
    wait_for(&browser, "Grace Hopper").await;
    browser.screenshot("participant-joined").await;

    // Mute her: the carrier's API is told.
    click(&browser, "Mute").await;
    wait_for(&browser, "Unmute").await;
    assert_eq!(fake.is_muted("CFweb1", &grace), Some(true));

    // Lock: a new call is refused before any code is sent.
    click(&browser, "Lock").await;
    wait_for(&browser, "Unlock").await;
    let refused = app.incoming(&common::sid(), ALAN, WEEKLY).await;
    assert!(common::spoken(&refused).join(" ").contains("locked"));
    assert!(outbox_codes(&app, ALAN).await.is_empty());
    click(&browser, "Unlock").await;
    wait_for(&browser, "Lock").await;

    // An invitation, used in the same browser.
    browser
        .client
        .find(Locator::XPath(
            "//summary[normalize-space(.)='Invite someone']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&browser, "Name", "Mary Jackson").await;
    click(&browser, "Create invitation").await;
    let link = field(&browser, "Invitation link")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the link");
    browser.screenshot("invitation").await;
    browser.client.goto(&link).await.unwrap();
    browser.screenshot("invitation-page").await;
    fill(&browser, "Phone number", NEWCOMER).await;
    click(&browser, "Send code").await;
    field(&browser, "Code").await;
    let code = outbox_codes(&app, NEWCOMER)
        .await
        .pop()
        .expect("a code for the invitee");
    fill(&browser, "Code", &code).await;
    click(&browser, "Verify").await;
    let enrolled = wait_for(&browser, "enrolled").await;
    assert!(
        enrolled.contains("+1 202") || enrolled.contains("+1202"),
        "{enrolled}"
    );
    browser.screenshot("enrolled").await;
    // The link is spent.
    browser.client.goto(&link).await.unwrap();
    let spent = page_text(&browser).await;
    assert!(!spent.contains("Send code"), "{spent}");
    // The newcomer calls in, gets a fresh code and joins.
    call_in(&app, NEWCOMER).await;

    // A participant's number cannot sign in: the same neutral answer, no code.
    browser
        .client
        .goto(app.url("/console").as_str())
        .await
        .unwrap();
    if page_text(&browser).await.contains("Sign out") {
        click(&browser, "Sign out").await;
    }
    let before = outbox_codes(&app, GRACE).await.len();
    browser
        .client
        .goto(app.url("/console").as_str())
        .await
        .unwrap();
    fill(&browser, "Phone number", GRACE).await;
    click(&browser, "Send code").await;
    field(&browser, "Code").await;
    assert_eq!(
        outbox_codes(&app, GRACE).await.len(),
        before,
        "no code for a participant"
    );

    // Another moderator sees only her conference and cannot act on this one.
    sign_in(&browser, &app, KATHERINE).await;
    let body = page_text(&browser).await;
    assert!(
        body.contains("Board") && !body.contains("Weekly sync"),
        "{body}"
    );
    let cookie = browser
        .client
        .get_named_cookie("bk_session")
        .await
        .expect("a session cookie");
    let csrf = browser
        .client
        .find(Locator::Css("input[name=csrf]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    let response = app
        .client
        .post(app.url("/console/conferences/Weekly%20sync/lock"))
        .header("cookie", format!("bk_session={}", cookie.value()))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(response.status().as_u16(), 403 | 404),
        "{}",
        response.status()
    );
    let weekly: serde_json::Value = app
        .client
        .get(app.url("/api/conferences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(weekly["conferences"][0]["locked"], false);
    browser.close().await;
}
