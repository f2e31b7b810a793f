//! The web console over HTTP, in-process: sign-in by phone, the neutral answer, cookies,
//! CSRF, session expiry, per-number limits, moderators confined to their own conferences,
//! and invitations through to a call that joins.

mod common;

use common::*;
use std::collections::HashMap;
use std::time::Duration;

const NEUTRAL: &str = "If this number may sign in, a code is on its way.";
const INVITEE: &str = "+12025550177";

/// One browser: its own cookies, no redirects followed.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    jar: HashMap<String, String>,
    /// The raw Set-Cookie values last seen, by name.
    set: HashMap<String, String>,
}

struct Page {
    status: u16,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Page {
    fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            + "name=\"csrf\" value=\"".len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
            set: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let raw = value.to_str().unwrap().to_owned();
            let pair = raw.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if raw.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
            self.set.insert(name.to_owned(), raw.clone());
        }
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        self.keep(&response);
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Signs in with the code from the outbox; the dashboard.
    async fn sign_in(&mut self, phone: &str) -> Page {
        let form = self.get("/console").await;
        let csrf = form.csrf();
        let sent = self
            .post("/console", &[("phone", phone), ("csrf", &csrf)])
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent.body.contains(NEUTRAL));
        let code = self.app.code_for(phone).await;
        let done = self
            .post("/console/code", &[("code", &code), ("csrf", &sent.csrf())])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let page = self.get("/console").await;
        assert_eq!(page.status, 200);
        page
    }
}

#[tokio::test]
async fn a_moderator_signs_in_with_the_code_and_sees_only_their_conference() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let first = browser.get("/console").await;
    assert!(first.body.contains("Phone number") && first.body.contains("Send code"));
    let csp = first.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let page = browser.sign_in(ADA).await;
    assert!(page.body.contains(">Weekly sync</h2>"), "{}", page.body);
    assert!(!page.body.contains("Board"));
    for button in ["Lock", "Sign out", "Create invitation"] {
        assert!(
            page.body.contains(&format!(">{button}</button>")),
            "{button}"
        );
    }
    // The cookie's flags: over http, not Secure.
    let cookie = &browser.set["bk_session"];
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // The live part the script polls.
    let live = browser.get("/console/state").await;
    assert_eq!(live.status, 200);
    assert!(
        live.body.contains("data-live=\"Weekly%20sync\""),
        "{}",
        live.body
    );
    // Sign out deletes the session: the old cookie no longer works.
    let old = browser.jar.clone();
    let out = browser
        .post("/console/signout", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(out.status, 303);
    browser.jar = old;
    let after = browser.get("/console").await;
    assert!(after.body.contains("Send code"), "{}", after.body);
}

#[tokio::test]
async fn https_public_url_makes_the_cookie_secure() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |s| {
        s.public_url = Some(url::Url::parse("https://bridge.example.com").unwrap());
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADA).await;
    assert!(browser.set["bk_session"].contains("; Secure"));
    assert!(browser.set["bk_pre"].contains("; Secure"));
}

#[tokio::test]
async fn strangers_and_participants_get_the_neutral_answer_and_no_code() {
    let app = TestApp::spawn().await;
    for phone in [STRANGER, GRACE] {
        let mut browser = Browser::new(&app);
        let form = browser.get("/console").await;
        let sent = browser
            .post("/console", &[("phone", phone), ("csrf", &form.csrf())])
            .await;
        assert_eq!(sent.status, 200);
        assert!(sent.body.contains(NEUTRAL), "{}", sent.body);
        assert!(sent.body.contains(">Sign in</button>"));
        // Whatever they type, they are not signed in.
        let tried = browser
            .post(
                "/console/code",
                &[("code", "123456"), ("csrf", &sent.csrf())],
            )
            .await;
        assert_eq!(tried.status, 400);
        assert!(!browser.jar.contains_key("bk_session"));
    }
    assert!(app.outbox().await.is_empty(), "no code was sent");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_forbidden() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_in(ADA).await;
    let path = "/console/conferences/Weekly%20sync/lock";
    assert_eq!(browser.post(path, &[]).await.status, 403);
    assert_eq!(browser.post(path, &[("csrf", "0000")]).await.status, 403);
    assert_eq!(browser.post("/console/signout", &[]).await.status, 403);
    // Before sign-in too.
    let mut other = Browser::new(&app);
    other.get("/console").await;
    assert_eq!(other.post("/console", &[("phone", ADA)]).await.status, 403);
    // With the token, the lock works and shows.
    let locked = browser.post(path, &[("csrf", &page.csrf())]).await;
    assert_eq!(locked.status, 303);
    let page = browser.get("/console").await;
    assert!(page.body.contains(">Unlock</button>"), "{}", page.body);
}

#[tokio::test]
async fn a_session_expires_after_twelve_hours() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADA).await;
    app.clock.advance(Duration::from_secs(11 * 3600));
    assert!(browser.get("/console").await.body.contains("Weekly sync"));
    app.clock.advance(Duration::from_secs(3600 + 1));
    let page = browser.get("/console").await;
    assert!(page.body.contains("Send code"), "{}", page.body);
    assert_eq!(browser.get("/console/state").await.status, 401);
}

#[tokio::test]
async fn wrong_codes_are_limited_per_number() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/console").await;
    let sent = browser
        .post("/console", &[("phone", ADA), ("csrf", &form.csrf())])
        .await;
    let csrf = sent.csrf();
    let right = app.code_for(ADA).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        let tried = browser
            .post("/console/code", &[("code", wrong), ("csrf", &csrf)])
            .await;
        assert_eq!(tried.status, 400, "{}", tried.body);
        assert!(tried.body.contains("not right"));
    }
    let spent = browser
        .post("/console/code", &[("code", &right), ("csrf", &csrf)])
        .await;
    assert_eq!(spent.status, 429, "{}", spent.body);
    assert!(!browser.jar.contains_key("bk_session"));
    // The same allowance as calls: a call from the number now gets no code.
    let before = app.outbox_to(ADA).await.len();
    app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    assert_eq!(app.outbox_to(ADA).await.len(), before);
}

#[tokio::test]
async fn a_moderator_cannot_see_or_act_on_another_s_conference() {
    let app = TestApp::spawn().await;
    let mut katherine = Browser::new(&app);
    let page = katherine.sign_in(KATHERINE).await;
    assert!(page.body.contains(">Board</h2>"));
    assert!(!page.body.contains("Weekly sync"));
    let csrf = page.csrf();
    for path in [
        "/console/conferences/Weekly%20sync/lock",
        "/console/conferences/Weekly%20sync/end",
        "/console/conferences/Weekly%20sync/participants/CA00/mute",
        "/console/conferences/Weekly%20sync/invitations",
        "/console/conferences/Nowhere/lock",
    ] {
        let refused = katherine
            .post(path, &[("csrf", &csrf), ("name", "X"), ("days", "1")])
            .await;
        assert_eq!(refused.status, 404, "{path}");
    }
    let mut ada = Browser::new(&app);
    let weekly = ada.sign_in(ADA).await;
    assert!(weekly.body.contains(">Lock</button>"), "still unlocked");
}

/// Creates an invitation as Ada; the link's path.
async fn invite(ada: &mut Browser<'_>, csrf: &str, name: &str, days: &str) -> String {
    let created = ada
        .post(
            "/console/conferences/Weekly%20sync/invitations",
            &[("name", name), ("days", days), ("csrf", csrf)],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let start = created.body.find("/console/invite/").unwrap();
    let end = created.body[start..].find('"').unwrap();
    created.body[start..start + end].to_owned()
}

#[tokio::test]
async fn an_invitee_enrols_through_the_link_and_their_call_joins() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::new(&app);
    let page = ada.sign_in(ADA).await;
    let link = invite(&mut ada, &page.csrf(), "Mary Jackson", "7").await;

    let mut mary = Browser::new(&app);
    let form = mary.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    for words in ["Phone number", "SMS", "Voice call", ">Send code</button>"] {
        assert!(form.body.contains(words), "{words}");
    }
    let sent = mary
        .post(
            &link,
            &[
                ("phone", INVITEE),
                ("channel", "sms"),
                ("csrf", &form.csrf()),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains(">Verify</button>"));
    let code = app.code_for(INVITEE).await;
    let done = mary
        .post(
            &format!("{link}/code"),
            &[("code", &code), ("csrf", &sent.csrf())],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("enrolled"), "{}", done.body);
    assert!(done.body.contains(WEEKLY_LINE), "the number to dial");

    // Used: refused with a clear page.
    let again = mary.get(&link).await;
    assert_eq!(again.status, 410);
    assert!(again.body.contains("already used"));

    // The moderator sees the enrolment.
    let console = ada.get("/console").await;
    assert!(console.body.contains("Mary Jackson"), "{}", console.body);

    // Their call gets a fresh code and joins.
    let call = sid();
    let asked = app.incoming(&call, INVITEE, WEEKLY_LINE).await;
    assert!(find(&asked, "Gather").is_some());
    let fresh = app.code_for(INVITEE).await;
    let joined = app.keys(&asked, &call, Some(&fresh)).await;
    assert_eq!(
        find(&joined, "Conference").expect("joined").text,
        "Weekly sync"
    );

    // The moderator removes the enrolment: the next call is refused.
    let console = ada.get("/console").await;
    let start = console.body.find("/enrolments/").unwrap();
    let end = console.body[start..].find('"').unwrap();
    let remove = format!(
        "/console/conferences/Weekly%20sync{}",
        &console.body[start..start + end]
    );
    let removed = ada.post(&remove, &[("csrf", &console.csrf())]).await;
    assert_eq!(removed.status, 303);
    let before = app.outbox_to(INVITEE).await.len();
    let refused = app.incoming(&sid(), INVITEE, WEEKLY_LINE).await;
    assert!(find(&refused, "Gather").is_none());
    assert_eq!(app.outbox_to(INVITEE).await.len(), before);
}

#[tokio::test]
async fn forged_and_expired_links_are_refused() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::new(&app);
    let page = ada.sign_in(ADA).await;
    let link = invite(&mut ada, &page.csrf(), "Dorothy Vaughan", "1").await;
    let mut other = Browser::new(&app);
    let forged = format!("{}0", &link[..link.len() - 1]);
    let forged = if forged == link {
        format!("{}1", &link[..link.len() - 1])
    } else {
        forged
    };
    let refused = other.get(&forged).await;
    assert_eq!(refused.status, 404);
    assert!(refused.body.contains("not valid"));
    assert_eq!(other.get("/console/invite/nonsense").await.status, 404);
    assert_eq!(other.get(&link).await.status, 200);
    // (Before the session expires.) Bad days are refused next to the field.
    let page = ada.get("/console").await;
    let bad = ada
        .post(
            "/console/conferences/Weekly%20sync/invitations",
            &[("name", "X"), ("days", "31"), ("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("1 to 30 days"));
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let expired = other.get(&link).await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("expired"));
}
