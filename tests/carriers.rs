//! Every carrier through its own entry path, signed as that carrier signs: joins, wrong
//! codes, silence, refusals, forged and stale requests, bridges and the guest PIN.

mod common;

use bridgekeeper::carrier::CarrierKind;
use bridgekeeper::carrier::telnyx;
use bridgekeeper::config::Settings;
use bridgekeeper::simulator::{Outcome, Signing, random_call_id, sign_request};
use bridgekeeper::twiml::parse::{Element, parse};
use bridgekeeper::verify::OutboxMessage;
use common::{TestApp, find, spoken};
use secrecy::SecretString;
use std::collections::VecDeque;
use url::Url;

const PARTICIPANTS: &str = r#"
[[conference]]
name = "Weekly sync"
numbers = ["+12025550100"]
guest_pin = "48291735"

[[conference.participant]]
name = "Ada Lovelace"
phone = "+12025550101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+12025550102"

[[conference]]
name = "Board"
numbers = ["+12025550150"]

[conference.bridge]
number = "+18885550100"
moderator_digits = "ww123456#ww9876#"
participant_digits = "ww123456#"

[[conference.participant]]
name = "Katherine Johnson"
phone = "+12025550151"
role = "moderator"

[[conference.participant]]
name = "Dorothy Vaughan"
phone = "+12025550152"
"#;

const WEEKLY: &str = "+12025550100";
const BOARD: &str = "+12025550150";
const ADA: &str = "+12025550101";
const GRACE: &str = "+12025550102";
const KATHERINE: &str = "+12025550151";
const DOROTHY: &str = "+12025550152";
const STRANGER: &str = "+12025550199";

const TWILIO_TOKEN: &str = "test-auth-token-0123456789";
const SIGNALWIRE_KEY: &str = "PSK_test_signing_key_0123456789";
const TELNYX_SEED: [u8; 32] = [7; 32];
const CARRIERX_KEY: &str = "cx-test-key-0123456789";
const ADMIN: &str = "admin-token-0123456789abcdef";

/// The right signing for a carrier.
fn signing(carrier: CarrierKind) -> Signing {
    match carrier {
        CarrierKind::Twilio => Signing::Twilio(TWILIO_TOKEN.into()),
        CarrierKind::SignalWire => Signing::SignalWire(SIGNALWIRE_KEY.into()),
        CarrierKind::Telnyx => Signing::Telnyx(TELNYX_SEED),
        CarrierKind::CarrierX => Signing::CarrierX(CARRIERX_KEY.into()),
    }
}

/// A signing with the wrong key for the carrier.
fn wrong_signing(carrier: CarrierKind) -> Signing {
    match carrier {
        CarrierKind::Twilio => Signing::Twilio("another-token".into()),
        CarrierKind::SignalWire => Signing::SignalWire("the-api-token-not-the-key".into()),
        CarrierKind::Telnyx => Signing::Telnyx([8; 32]),
        CarrierKind::CarrierX => Signing::CarrierX("wrong-key".into()),
    }
}

/// Every carrier's credential set, the dev verifier, and the admin token for the outbox.
fn signed(settings: &mut Settings) {
    settings.carriers.twilio = Some(SecretString::from(TWILIO_TOKEN.to_owned()));
    settings.carriers.signalwire = Some(SecretString::from(SIGNALWIRE_KEY.to_owned()));
    settings.carriers.telnyx =
        Some(telnyx::parse_public_key(&telnyx::public_key_of(&TELNYX_SEED)).unwrap());
    settings.carriers.carrierx = Some(SecretString::from(CARRIERX_KEY.to_owned()));
    settings.admin_token = Some(SecretString::from(ADMIN.to_owned()));
}

async fn app() -> TestApp {
    TestApp::spawn_configured(PARTICIPANTS, signed).await
}

/// Drives one carrier against the app by hand, the way the carrier does.
struct Carrier<'a> {
    app: &'a TestApp,
    kind: CarrierKind,
    signing: Signing,
    sid: String,
}

impl<'a> Carrier<'a> {
    fn new(app: &'a TestApp, kind: CarrierKind) -> Self {
        Self {
            app,
            kind,
            signing: signing(kind),
            sid: random_call_id(kind),
        }
    }

    fn entry_url(&self) -> Url {
        self.entry_url_for(&self.signing)
    }

    /// The entry URL as a request signed with `signing` reaches it (CarrierX's key rides in
    /// the URL).
    fn entry_url_for(&self, signing: &Signing) -> Url {
        let mut url = self.app.url(self.kind.entry_path());
        if let Signing::CarrierX(key) = signing {
            url.query_pairs_mut().append_pair("key", key);
        }
        url
    }

    fn params(&self, from: &str, to: &str, digits: Option<&str>) -> Vec<(String, String)> {
        let mut params = vec![
            ("CallSid".to_owned(), self.sid.clone()),
            ("From".to_owned(), from.to_owned()),
            ("To".to_owned(), to.to_owned()),
        ];
        if let Some(d) = digits {
            params.push(("Digits".to_owned(), d.to_owned()));
        }
        params
    }

    async fn post_with(
        &self,
        signing: &Signing,
        url: &Url,
        params: &[(String, String)],
    ) -> (u16, String) {
        let response = sign_request(&self.app.client, self.kind, signing, url, params)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn doc(&self, url: &Url, params: &[(String, String)]) -> Element {
        let (status, body) = self.post_with(&self.signing, url, params).await;
        assert_eq!(status, 200, "{}: {url}: {body}", self.kind);
        parse(&body).expect("a valid document")
    }

    async fn incoming(&self, from: &str, to: &str) -> Element {
        self.doc(&self.entry_url(), &self.params(from, to, None))
            .await
    }

    /// Answers a prompt: the digits to the Gather's action, or silence by following the
    /// Redirect after it (as a carrier does when nothing was typed).
    async fn keys(&self, doc: &Element, from: &str, to: &str, digits: Option<&str>) -> Element {
        let gather = find(doc, "Gather").expect("a Gather");
        let target = match digits {
            Some(_) => gather.attr("action").unwrap().to_owned(),
            None => find(doc, "Redirect").unwrap().text.clone(),
        };
        let url = Url::parse(&target).unwrap();
        self.doc(&url, &self.params(from, to, digits)).await
    }
}

async fn outbox(app: &TestApp) -> Vec<OutboxMessage> {
    app.client
        .get(app.url("/dev/outbox"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn code_for(app: &TestApp, number: &str) -> String {
    outbox(app)
        .await
        .into_iter()
        .rev()
        .find(|m| m.to == number)
        .expect("a code")
        .code
}

async fn play(app: &TestApp, kind: CarrierKind, from: &str, to: &str, script: &[&str]) -> Outcome {
    let mut sim = bridgekeeper::simulator::Simulator::new(app.base.clone(), from, to)
        .carrier(kind)
        .signing(signing(kind))
        .admin_token(Some(ADMIN.into()))
        .script(
            script
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<VecDeque<_>>(),
        );
    sim.play().await.expect("the call plays")
}

/// The conference a carrier can join: a room for the TwiML family, the bridge for FlexML.
fn line(kind: CarrierKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        CarrierKind::CarrierX => (BOARD, KATHERINE, DOROTHY),
        _ => (WEEKLY, ADA, GRACE),
    }
}

#[tokio::test]
async fn moderators_and_participants_join_through_every_carrier() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        let (to, moderator, participant) = line(kind);
        let outcome = play(&app, kind, moderator, to, &["code"]).await;
        let participant_outcome = play(&app, kind, participant, to, &["code"]).await;
        match kind {
            CarrierKind::CarrierX => {
                assert!(
                    matches!(outcome, Outcome::Dialed { keys: true, .. }),
                    "{outcome}"
                );
                assert!(
                    matches!(participant_outcome, Outcome::Dialed { keys: true, .. }),
                    "{participant_outcome}"
                );
            }
            _ => {
                assert_eq!(
                    outcome,
                    Outcome::Joined {
                        conference: "Weekly sync".into(),
                        role: "moderator".into()
                    },
                    "{kind}"
                );
                assert_eq!(
                    participant_outcome,
                    Outcome::Joined {
                        conference: "Weekly sync".into(),
                        role: "participant".into()
                    },
                    "{kind}"
                );
            }
        }
    }
}

#[tokio::test]
async fn wrong_then_right_joins_and_three_wrong_end_the_call_on_every_carrier() {
    for kind in CarrierKind::ALL {
        let app = app().await;
        let (to, moderator, participant) = line(kind);
        let outcome = play(&app, kind, moderator, to, &["000000", "code"]).await;
        assert!(
            matches!(outcome, Outcome::Joined { .. } | Outcome::Dialed { .. }),
            "{kind}: {outcome}"
        );
        let outcome = play(&app, kind, participant, to, &["000000", "111111", "222222"]).await;
        let Outcome::Ended { reason } = outcome else {
            panic!("{kind}: {outcome}")
        };
        assert!(reason.contains("last try"), "{kind}: {reason}");
    }
}

#[tokio::test]
async fn silence_is_bounded_on_every_carrier() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        let (to, moderator, _) = line(kind);
        let outcome = play(&app, kind, moderator, to, &["", "", "", "", ""]).await;
        let Outcome::Ended { reason } = outcome else {
            panic!("{kind}: {outcome}")
        };
        assert!(
            reason.contains("did not receive a code"),
            "{kind}: {reason}"
        );
    }
}

#[tokio::test]
async fn unknown_and_withheld_callers_get_no_code_on_any_carrier() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        for from in [STRANGER, "anonymous", "", "Restricted"] {
            // The Board has no guest PIN: strangers are refused there.
            let c = Carrier::new(&app, kind);
            let doc = c.incoming(from, BOARD).await;
            assert!(find(&doc, "Gather").is_none(), "{kind} {from:?}");
            assert!(find(&doc, "Dial").is_none(), "{kind} {from:?}");
        }
    }
    assert!(outbox(&app).await.is_empty(), "no code was sent");
}

#[tokio::test]
async fn forged_signatures_are_403_and_send_no_code() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        let c = Carrier::new(&app, kind);
        let (to, moderator, _) = line(kind);
        let params = c.params(moderator, to, None);
        // Wrong key.
        let wrong = wrong_signing(kind);
        let (status, _) = c.post_with(&wrong, &c.entry_url_for(&wrong), &params).await;
        assert_eq!(status, 403, "{kind}: wrong key");
        // Missing signature (or key).
        let (status, _) = c
            .post_with(&Signing::None, &app.url(kind.entry_path()), &params)
            .await;
        assert_eq!(status, 403, "{kind}: missing");
        // A garbled signature header.
        let response = sign_request(
            &app.client,
            kind,
            &Signing::None,
            &app.url(kind.entry_path()),
            &params,
        )
        .header("X-Twilio-Signature", "garbled==")
        .header("X-SignalWire-Signature", "garbled==")
        .header("telnyx-signature-ed25519", "garbled==")
        .header("telnyx-timestamp", "garbled")
        .send()
        .await
        .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{kind}: garbled");
    }
    assert!(outbox(&app).await.is_empty(), "no code was sent");
}

#[tokio::test]
async fn a_carrier_without_a_credential_is_not_served_outside_development_mode() {
    let app = TestApp::spawn_configured(PARTICIPANTS, |settings| {
        settings.carriers.twilio = Some(SecretString::from(TWILIO_TOKEN.to_owned()));
    })
    .await;
    for kind in [
        CarrierKind::SignalWire,
        CarrierKind::Telnyx,
        CarrierKind::CarrierX,
    ] {
        let c = Carrier::new(&app, kind);
        let (status, _) = c
            .post_with(&Signing::None, &c.entry_url(), &c.params(ADA, WEEKLY, None))
            .await;
        assert_eq!(status, 404, "{kind}");
    }
    // The dev verifier's outbox is closed to anyone without the admin token: 404 with none.
    let response = app.client.get(app.url("/dev/outbox")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn the_outbox_answers_only_to_the_admin_token_once_a_carrier_is_real() {
    let app = app().await;
    let c = Carrier::new(&app, CarrierKind::Twilio);
    c.incoming(ADA, WEEKLY).await;
    for auth in [None, Some("Bearer nope"), Some(ADMIN)] {
        let mut request = app.client.get(app.url("/dev/outbox"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, 401, "{auth:?}");
    }
    assert_eq!(outbox(&app).await.len(), 1);
}

#[tokio::test]
async fn telnyx_refuses_stale_and_future_timestamps_and_other_bodies() {
    let app = app().await;
    let c = Carrier::new(&app, CarrierKind::Telnyx);
    let params = c.params(ADA, WEEKLY, None);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let send = |ts: u64, signed_body: String, sent_body: String| {
        let client = app.client.clone();
        let url = c.entry_url();
        async move {
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    telnyx::SIGNATURE_HEADER,
                    telnyx::sign(&TELNYX_SEED, ts, signed_body.as_bytes()),
                )
                .header(telnyx::TIMESTAMP_HEADER, ts.to_string())
                .body(sent_body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        send(now - 600, body.clone(), body.clone()).await,
        403,
        "stale"
    );
    assert_eq!(
        send(now + 600, body.clone(), body.clone()).await,
        403,
        "future"
    );
    let other = body.replace("%2B12025550101", "%2B12025550102");
    assert_eq!(send(now, body.clone(), other).await, 403, "another body");
    assert!(outbox(&app).await.is_empty());
    // A clock two minutes ahead still passes.
    assert_eq!(send(now + 120, body.clone(), body).await, 200, "skew");
}

#[tokio::test]
async fn a_tampered_or_foreign_state_never_joins() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        let (to, moderator, _) = line(kind);
        let c = Carrier::new(&app, kind);
        let doc = c.incoming(moderator, to).await;
        let action = find(&doc, "Gather")
            .unwrap()
            .attr("action")
            .unwrap()
            .to_owned();
        let code = code_for(&app, moderator).await;
        let mut url = Url::parse(&action).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let state = pairs.iter().find(|(k, _)| k == "s").unwrap().1.clone();
        // Flip one character of the state.
        let mut tampered = state.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        url.query_pairs_mut().clear();
        for (k, v) in &pairs {
            url.query_pairs_mut()
                .append_pair(k, if k == "s" { &tampered } else { v });
        }
        let (status, body) = c
            .post_with(&c.signing, &url, &c.params(moderator, to, Some(&code)))
            .await;
        assert_eq!(status, 400, "{kind}: {body}");
        // The same state at another carrier's code path: refused too.
        let other = if kind == CarrierKind::Twilio {
            CarrierKind::SignalWire
        } else {
            CarrierKind::Twilio
        };
        let o = Carrier {
            sid: c.sid.clone(),
            ..Carrier::new(&app, other)
        };
        let mut foreign = app.url(other.code_path());
        foreign.query_pairs_mut().append_pair("s", &state);
        let (status, _) = o
            .post_with(&o.signing, &foreign, &o.params(moderator, to, Some(&code)))
            .await;
        assert_ne!(status, 200, "{kind} state at {other}");
        // The untouched state still joins.
        let joined = c.keys(&doc, moderator, to, Some(&code)).await;
        assert!(find(&joined, "Dial").is_some(), "{kind}");
    }
}

#[tokio::test]
async fn a_bridge_is_dialed_with_the_role_s_keys_in_every_dialect() {
    let app = app().await;
    for kind in CarrierKind::ALL {
        for (caller, keys) in [(KATHERINE, "ww123456#ww9876#"), (DOROTHY, "ww123456#")] {
            let c = Carrier::new(&app, kind);
            let doc = c.incoming(caller, BOARD).await;
            let code = code_for(&app, caller).await;
            let joined = c.keys(&doc, caller, BOARD, Some(&code)).await;
            let number = find(&joined, "Number").unwrap_or_else(|| panic!("{kind}: {joined:?}"));
            assert_eq!(number.text, "+18885550100", "{kind}");
            assert_eq!(number.attr("sendDigits"), Some(keys), "{kind}");
            // The keys are never spoken.
            assert!(spoken(&joined).iter().all(|s| !s.contains("123456")));
        }
    }
}

#[tokio::test]
async fn flexml_calls_to_a_room_without_a_bridge_are_told_the_line_is_not_set_up() {
    let app = app().await;
    let c = Carrier::new(&app, CarrierKind::CarrierX);
    let doc = c.incoming(ADA, WEEKLY).await;
    assert!(spoken(&doc).join(" ").contains("not set up"), "{doc:?}");
    assert!(find(&doc, "Gather").is_none());
    assert!(outbox(&app).await.is_empty(), "no code was sent");
}

#[tokio::test]
async fn a_guest_joins_with_the_pin_as_a_participant_and_gets_no_code() {
    let app = app().await;
    for kind in [CarrierKind::Twilio, CarrierKind::Telnyx] {
        let c = Carrier::new(&app, kind);
        let doc = c.incoming(STRANGER, WEEKLY).await;
        assert!(spoken(&doc).join(" ").contains("PIN"), "{doc:?}");
        let joined = c.keys(&doc, STRANGER, WEEKLY, Some("48291735")).await;
        let room = find(&joined, "Conference").expect("joined a room");
        assert_eq!(room.attr("startConferenceOnEnter"), Some("false"));
        assert_eq!(room.attr("endConferenceOnExit"), Some("false"));
    }
    assert!(
        outbox(&app).await.is_empty(),
        "no code is ever sent to a guest"
    );
    // A listed caller at the same conference still proves themselves with a code.
    let c = Carrier::new(&app, CarrierKind::Twilio);
    let doc = c.incoming(GRACE, WEEKLY).await;
    assert!(spoken(&doc).join(" ").contains("six-digit code"));
    assert_eq!(outbox(&app).await.len(), 1);
}

#[tokio::test]
async fn three_wrong_pins_end_the_call_and_count_across_calls() {
    let app = app().await;
    let c = Carrier::new(&app, CarrierKind::Twilio);
    let mut doc = c.incoming(STRANGER, WEEKLY).await;
    for pin in ["11112222", "33334444"] {
        doc = c.keys(&doc, STRANGER, WEEKLY, Some(pin)).await;
        assert!(spoken(&doc).join(" ").contains("not right"));
    }
    doc = c.keys(&doc, STRANGER, WEEKLY, Some("55556666")).await;
    assert!(spoken(&doc).join(" ").contains("last try"), "{doc:?}");
    assert!(find(&doc, "Hangup").is_some());
    // The number's tries are spent for the hour: even the right PIN on a new call is refused.
    let again = Carrier::new(&app, CarrierKind::Twilio);
    let doc = again.incoming(STRANGER, WEEKLY).await;
    assert!(find(&doc, "Dial").is_none());
    assert!(
        spoken(&doc).join(" ").contains("Too many wrong PINs"),
        "{doc:?}"
    );
}

#[tokio::test]
async fn parallel_calls_cannot_multiply_the_pin_tries_of_one_number() {
    let app = app().await;
    // Eight calls from one number, each at the prompt before any wrong PIN.
    let mut calls = Vec::new();
    for _ in 0..8 {
        let c = Carrier::new(&app, CarrierKind::Twilio);
        let doc = c.incoming(STRANGER, WEEKLY).await;
        calls.push((c, doc));
    }
    let answers = futures_util::future::join_all(
        calls
            .iter()
            .map(|(c, doc)| c.keys(doc, STRANGER, WEEKLY, Some("12121212"))),
    )
    .await;
    let refused_before_checking = answers
        .iter()
        .filter(|doc| spoken(doc).join(" ").contains("Too many wrong PINs"))
        .count();
    // The per-number allowance is 3 wrong PINs an hour: the other 5 were refused unchecked.
    assert_eq!(refused_before_checking, 5, "{answers:?}");
}

#[tokio::test]
async fn development_mode_serves_every_carrier_unauthenticated() {
    let app = TestApp::spawn_with(PARTICIPANTS).await;
    for kind in CarrierKind::ALL {
        let (to, moderator, _) = line(kind);
        let mut sim = bridgekeeper::simulator::Simulator::new(app.base.clone(), moderator, to)
            .carrier(kind)
            .script(VecDeque::from(["code".to_owned()]));
        let outcome = sim.play().await.unwrap();
        assert!(
            matches!(outcome, Outcome::Joined { .. } | Outcome::Dialed { .. }),
            "{kind}: {outcome}"
        );
    }
}
