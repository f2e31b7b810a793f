//! Who is on the line: the carriers' conference events fill the live roster, a locked or full
//! room refuses participants before any code is sent, the keypad menu inside the call, and
//! the admin API reaching the carrier's REST API (a fake on loopback).

mod common;

use bridgekeeper::carrier::CarrierKind;
use bridgekeeper::carrier::telnyx;
use bridgekeeper::conference::control::ControlFlavor;
use bridgekeeper::config::{ControlSettings, Settings};
use bridgekeeper::fakes::conference::{self as rest, FakeConferenceApi};
use bridgekeeper::simulator::{Signing, random_call_id, sign_request};
use bridgekeeper::twiml::parse::{Element, parse};
use bridgekeeper::verify::OutboxMessage;
use common::{TestApp, find, spoken, verbs};
use secrecy::SecretString;
use std::time::Duration;
use url::Url;

const PARTICIPANTS: &str = r#"
[[conference]]
name = "Weekly sync"
numbers = ["+12025550100"]
max_participants = 3

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
"#;

const WEEKLY: &str = "+12025550100";
const ADA: &str = "+12025550101";
const GRACE: &str = "+12025550102";
const ALAN: &str = "+12025550103";

const TWILIO_TOKEN: &str = rest::TWILIO_AUTH_TOKEN;
const SIGNALWIRE_KEY: &str = "PSK_test_signing_key_0123456789";
const TELNYX_SEED: [u8; 32] = [7; 32];
const ADMIN: &str = "admin-token-0123456789abcdef";

const TWIML_CARRIERS: [CarrierKind; 3] = [
    CarrierKind::Twilio,
    CarrierKind::SignalWire,
    CarrierKind::Telnyx,
];

fn signing(kind: CarrierKind) -> Signing {
    match kind {
        CarrierKind::Twilio => Signing::Twilio(TWILIO_TOKEN.into()),
        CarrierKind::SignalWire => Signing::SignalWire(SIGNALWIRE_KEY.into()),
        CarrierKind::Telnyx => Signing::Telnyx(TELNYX_SEED),
        CarrierKind::CarrierX => Signing::None,
    }
}

fn wrong_signing(kind: CarrierKind) -> Signing {
    match kind {
        CarrierKind::Twilio => Signing::Twilio("another-token".into()),
        CarrierKind::SignalWire => Signing::SignalWire("not-the-key".into()),
        _ => Signing::Telnyx([8; 32]),
    }
}

/// Every TwiML carrier signed, the admin token set, and the carriers' REST APIs at `rest`.
async fn app_with(rest_base: Option<&Url>) -> TestApp {
    app_of(PARTICIPANTS, rest_base).await
}

async fn app_of(participants: &str, rest_base: Option<&Url>) -> TestApp {
    let rest_base = rest_base.cloned();
    TestApp::spawn_configured(participants, move |s: &mut Settings| {
        s.carriers.twilio = Some(SecretString::from(TWILIO_TOKEN.to_owned()));
        s.carriers.signalwire = Some(SecretString::from(SIGNALWIRE_KEY.to_owned()));
        s.carriers.telnyx =
            Some(telnyx::parse_public_key(&telnyx::public_key_of(&TELNYX_SEED)).unwrap());
        s.admin_token = Some(SecretString::from(ADMIN.to_owned()));
        s.verifier = bridgekeeper::config::VerifierSettings::Dev;
        if let Some(base) = rest_base {
            s.conference_control = vec![
                ControlSettings {
                    carrier: CarrierKind::Twilio,
                    flavor: ControlFlavor::Twilio {
                        account_sid: rest::TWILIO_ACCOUNT_SID.into(),
                        auth_token: SecretString::from(rest::TWILIO_AUTH_TOKEN.to_owned()),
                    },
                    base_url: base.clone(),
                },
                ControlSettings {
                    carrier: CarrierKind::SignalWire,
                    flavor: ControlFlavor::SignalWire {
                        project_id: rest::SIGNALWIRE_PROJECT_ID.into(),
                        api_token: SecretString::from(rest::SIGNALWIRE_API_TOKEN.to_owned()),
                    },
                    base_url: base.clone(),
                },
                ControlSettings {
                    carrier: CarrierKind::Telnyx,
                    flavor: ControlFlavor::Telnyx {
                        api_key: SecretString::from(rest::TELNYX_API_KEY.to_owned()),
                        account_sid: rest::TELNYX_ACCOUNT_SID.into(),
                    },
                    base_url: base.clone(),
                },
            ];
        }
    })
    .await
}

/// One call through one carrier, driven the way the carrier drives it.
struct Call<'a> {
    app: &'a TestApp,
    kind: CarrierKind,
    sid: String,
    from: &'static str,
}

impl<'a> Call<'a> {
    fn new(app: &'a TestApp, kind: CarrierKind, from: &'static str) -> Self {
        Self {
            app,
            kind,
            sid: random_call_id(kind),
            from,
        }
    }

    fn params(&self, digits: Option<&str>) -> Vec<(String, String)> {
        let mut params = vec![
            ("CallSid".to_owned(), self.sid.clone()),
            ("From".to_owned(), self.from.to_owned()),
            ("To".to_owned(), WEEKLY.to_owned()),
        ];
        if let Some(d) = digits {
            params.push(("Digits".to_owned(), d.to_owned()));
        }
        params
    }

    async fn post(&self, url: &Url, params: &[(String, String)]) -> (u16, String) {
        let response = sign_request(
            &self.app.client,
            self.kind,
            &signing(self.kind),
            url,
            params,
        )
        .send()
        .await
        .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn doc(&self, url: &str, digits: Option<&str>) -> Element {
        let url = Url::parse(url).unwrap();
        let (status, body) = self.post(&url, &self.params(digits)).await;
        assert_eq!(status, 200, "{}: {url}: {body}", self.kind);
        parse(&body).unwrap()
    }

    async fn ring(&self) -> Element {
        self.doc(self.app.url(self.kind.entry_path()).as_str(), None)
            .await
    }

    /// Answers a Gather (digits), or follows its Redirect (silence).
    async fn keys(&self, doc: &Element, digits: Option<&str>) -> Element {
        let gather =
            find(doc, "Gather").unwrap_or_else(|| panic!("no prompt in {:?}", spoken(doc)));
        let url = match digits {
            Some(_) => gather.attr("action").unwrap().to_owned(),
            None => find(doc, "Redirect").unwrap().text.clone(),
        };
        self.doc(&url, digits).await
    }

    /// The room's `<Dial>` ends (`*`): the carrier posts its action, without digits.
    async fn star(&self, joined: &Element) -> Element {
        let dial = find(joined, "Dial").expect("in the room");
        assert_eq!(dial.attr("hangupOnStar"), Some("true"));
        self.doc(dial.attr("action").expect("a Dial action"), None)
            .await
    }

    /// Rings, and types the code the dev outbox shows.
    async fn join(&self) -> Element {
        let doc = self.ring().await;
        let code = latest_code(self.app, self.from).await;
        let joined = self.keys(&doc, Some(&code)).await;
        assert!(
            find(&joined, "Conference").is_some(),
            "{:?}",
            spoken(&joined)
        );
        joined
    }

    /// Posts a conference status callback as the carrier, signed with `signing`.
    async fn event_signed(
        &self,
        signing: &Signing,
        kind: &str,
        call: Option<&str>,
        seq: u64,
    ) -> u16 {
        let mut params = vec![
            ("ConferenceSid".to_owned(), conference_sid(self.kind)),
            ("FriendlyName".to_owned(), "Weekly sync".to_owned()),
            ("StatusCallbackEvent".to_owned(), kind.to_owned()),
            ("SequenceNumber".to_owned(), seq.to_string()),
            (
                "Timestamp".to_owned(),
                "Tue, 01 Dec 2026 05:00:00 +0000".to_owned(),
            ),
        ];
        if let Some(call) = call {
            params.push(("CallSid".to_owned(), call.to_owned()));
            params.push(("Muted".to_owned(), "false".to_owned()));
            params.push(("Hold".to_owned(), "false".to_owned()));
        }
        let url = self.app.url(self.kind.events_path());
        sign_request(&self.app.client, self.kind, signing, &url, &params)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A leave with the carrier's reason.
    async fn leave(&self, call: &str, seq: u64, reason: &str) -> u16 {
        let params = vec![
            ("ConferenceSid".to_owned(), conference_sid(self.kind)),
            ("FriendlyName".to_owned(), "Weekly sync".to_owned()),
            (
                "StatusCallbackEvent".to_owned(),
                "participant-leave".to_owned(),
            ),
            ("SequenceNumber".to_owned(), seq.to_string()),
            ("CallSid".to_owned(), call.to_owned()),
            ("ReasonParticipantLeft".to_owned(), reason.to_owned()),
        ];
        let url = self.app.url(self.kind.events_path());
        sign_request(
            &self.app.client,
            self.kind,
            &signing(self.kind),
            &url,
            &params,
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
    }

    async fn event(&self, kind: &str, call: Option<&str>, seq: u64) -> u16 {
        self.event_signed(&signing(self.kind), kind, call, seq)
            .await
    }
}

/// The carrier's id of the conference in these tests: one per carrier, as each carrier runs
/// its own conference of that name.
fn conference_sid(kind: CarrierKind) -> String {
    format!("CF0001-{}", kind.as_str())
}

async fn latest_code(app: &TestApp, to: &str) -> String {
    let messages: Vec<OutboxMessage> = app
        .client
        .get(app.url("/dev/outbox"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages
        .into_iter()
        .rev()
        .find(|m| m.to == to)
        .map(|m| m.code)
        .expect("a code")
}

async fn codes_sent(app: &TestApp, to: &str) -> usize {
    let messages: Vec<OutboxMessage> = app
        .client
        .get(app.url("/dev/outbox"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages.iter().filter(|m| m.to == to).count()
}

async fn conferences(app: &TestApp) -> serde_json::Value {
    let response = app
        .client
        .get(app.url("/api/conferences"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn weekly(app: &TestApp) -> serde_json::Value {
    conferences(app).await["conferences"][0].clone()
}

async fn admin(app: &TestApp, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = app.client.post(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn said(doc: &Element) -> String {
    spoken(doc).join(" ")
}

#[tokio::test]
async fn join_events_fill_the_roster_and_leaves_empty_it_on_every_twiml_carrier() {
    for kind in TWIML_CARRIERS {
        let app = app_with(None).await;
        let ada = Call::new(&app, kind, ADA);
        let joined = ada.join().await;
        let room = find(&joined, "Conference").unwrap();
        assert_eq!(
            room.attr("statusCallback"),
            Some(app.url(kind.events_path()).as_str()),
            "{kind}"
        );
        assert!(
            room.attr("statusCallbackEvent")
                .unwrap()
                .contains("join leave")
        );
        assert_eq!(room.attr("maxParticipants"), Some("3"));

        assert_eq!(ada.event("conference-start", None, 1).await, 204, "{kind}");
        assert_eq!(ada.event("participant-join", Some(&ada.sid), 2).await, 204);
        let w = weekly(&app).await;
        assert_eq!(w["started"], true, "{kind}: {w}");
        let people = w["participants"].as_array().unwrap();
        assert_eq!(people.len(), 1, "{kind}: {w}");
        assert_eq!(people[0]["id"], ada.sid.as_str());
        assert_eq!(people[0]["name"], "Ada Lovelace");
        assert_eq!(people[0]["role"], "moderator");
        assert_eq!(people[0]["phone"], "+1202•••0101");
        assert_eq!(people[0]["muted"], false);

        // Forged: refused, and the roster is as it was.
        let forged = ada
            .event_signed(&wrong_signing(kind), "participant-leave", Some(&ada.sid), 9)
            .await;
        assert_eq!(forged, 403, "{kind}");
        assert_eq!(
            weekly(&app).await["participants"].as_array().unwrap().len(),
            1
        );

        assert_eq!(ada.event("participant-leave", Some(&ada.sid), 3).await, 204);
        assert!(
            weekly(&app).await["participants"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // The join again, late, and the leave again: nothing rolls back.
        assert_eq!(ada.event("participant-join", Some(&ada.sid), 2).await, 204);
        assert_eq!(ada.event("participant-leave", Some(&ada.sid), 3).await, 204);
        assert!(
            weekly(&app).await["participants"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        assert_eq!(ada.event("conference-end", None, 4).await, 204);
        assert_eq!(weekly(&app).await["started"], false, "{kind}");
    }
}

#[tokio::test]
async fn a_locked_or_full_room_refuses_participants_before_any_code_and_moderators_enter() {
    let app = app_with(None).await;
    let kind = CarrierKind::Twilio;
    let ada = Call::new(&app, kind, ADA);
    ada.join().await;
    ada.event("participant-join", Some(&ada.sid), 1).await;

    let (status, body) = admin(&app, "/api/conferences/Weekly%20sync/lock", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(weekly(&app).await["locked"], true);
    let grace = Call::new(&app, kind, GRACE);
    let refused = grace.ring().await;
    assert_eq!(verbs(&refused), ["Say", "Reject"], "{:?}", spoken(&refused));
    assert_eq!(said(&refused), "This conference is locked. Goodbye.");
    assert_eq!(
        codes_sent(&app, GRACE).await,
        0,
        "no code to a caller at a locked room"
    );
    // A moderator still enters.
    let again = Call::new(&app, kind, ADA).ring().await;
    assert!(find(&again, "Gather").is_some(), "{:?}", spoken(&again));

    admin(&app, "/api/conferences/Weekly%20sync/unlock", Some(ADMIN)).await;
    // Full: three on the call (max_participants = 3).
    for (i, call) in [
        "CA0000000000000000000000000000aaa1",
        "CA0000000000000000000000000000aaa2",
    ]
    .iter()
    .enumerate()
    {
        ada.event("participant-join", Some(call), 10 + i as u64)
            .await;
    }
    assert_eq!(
        weekly(&app).await["participants"].as_array().unwrap().len(),
        3
    );
    let full = Call::new(&app, kind, ALAN).ring().await;
    assert!(
        said(&full).contains("this conference is full"),
        "{:?}",
        spoken(&full)
    );
    assert_eq!(codes_sent(&app, ALAN).await, 0);
    let moderator = Call::new(&app, kind, ADA).ring().await;
    assert!(
        find(&moderator, "Gather").is_some(),
        "{:?}",
        spoken(&moderator)
    );
}

#[tokio::test]
async fn the_keypad_menu_mutes_counts_locks_and_returns_without_a_new_code() {
    let app = app_with(None).await;
    let kind = CarrierKind::Twilio;
    let ada = Call::new(&app, kind, ADA);
    let joined = ada.join().await;
    assert!(
        said(&joined).contains("Press star"),
        "{:?}",
        spoken(&joined)
    );
    ada.event("participant-join", Some(&ada.sid), 1).await;
    let grace = Call::new(&app, kind, GRACE);
    let grace_in = grace.join().await;
    ada.event("participant-join", Some(&grace.sid), 2).await;
    let codes_before = codes_sent(&app, ADA).await;

    let menu = ada.star(&joined).await;
    assert!(
        said(&menu).contains("Press 1 to mute yourself"),
        "{}",
        said(&menu)
    );
    assert!(
        said(&menu).contains("9 to end the conference"),
        "{}",
        said(&menu)
    );
    let menu = ada.keys(&menu, Some("1")).await;
    assert!(
        said(&menu).contains("You will be muted."),
        "{}",
        said(&menu)
    );
    assert!(
        said(&menu).contains("Press 1 to unmute yourself"),
        "{}",
        said(&menu)
    );
    let menu = ada.keys(&menu, Some("2")).await;
    assert!(
        said(&menu).contains("people on the call") || said(&menu).contains("person on the call"),
        "{}",
        said(&menu)
    );
    let menu = ada.keys(&menu, Some("3")).await;
    assert!(said(&menu).contains("locked"), "{}", said(&menu));
    assert_eq!(weekly(&app).await["locked"], true);
    // `#` goes back in, muted, with no new code.
    let back = ada.keys(&menu, Some("#")).await;
    let room = find(&back, "Conference").expect("back in the room");
    assert_eq!(room.attr("muted"), Some("true"));
    assert_eq!(codes_sent(&app, ADA).await, codes_before);

    // A participant's menu: moderators' keys are refused; silence goes back in.
    let menu = grace.star(&grace_in).await;
    assert!(!said(&menu).contains("9 to end"), "{}", said(&menu));
    let menu = grace.keys(&menu, Some("3")).await;
    assert!(
        said(&menu).contains("That option is for moderators."),
        "{}",
        said(&menu)
    );
    assert_eq!(weekly(&app).await["locked"], true, "unchanged");
    let menu = grace.keys(&menu, Some("9")).await;
    assert!(said(&menu).contains("for moderators"), "{}", said(&menu));
    let back = grace.keys(&menu, None).await;
    assert!(find(&back, "Conference").is_some(), "{:?}", spoken(&back));
    assert_eq!(find(&back, "Conference").unwrap().attr("muted"), None);

    // A menu state used twice gets nobody anywhere; a forged one neither.
    let dial = find(&back, "Dial")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let url = Url::parse(&dial).unwrap();
    let first = grace.post(&url, &grace.params(None)).await;
    assert_eq!(first.0, 200);
    let replay = grace.post(&url, &grace.params(None)).await;
    assert_eq!(replay.0, 409, "{}", replay.1);
    let mut forged = url.clone();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "s")
        .unwrap()
        .1
        .into_owned();
    let mut bytes = state.into_bytes();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    forged.set_query(Some(&format!("s={}", String::from_utf8(bytes).unwrap())));
    let (status, _) = grace.post(&forged, &grace.params(None)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_menu_state_expires_after_a_meeting_s_length() {
    let app = app_with(None).await;
    let ada = Call::new(&app, CarrierKind::Twilio, ADA);
    let joined = ada.join().await;
    app.clock.advance(Duration::from_secs(12 * 60 * 60 + 60));
    let dial = find(&joined, "Dial")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let (status, body) = ada
        .post(&Url::parse(&dial).unwrap(), &ada.params(None))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_moderator_ends_the_conference_for_everyone_through_the_carrier() {
    let fake = FakeConferenceApi::start(Default::default()).await.unwrap();
    let app = app_with(Some(fake.base())).await;
    for kind in TWIML_CARRIERS {
        let ada = Call::new(&app, kind, ADA);
        let joined = ada.join().await;
        let conference_sid = conference_sid(kind);
        let conference_sid = conference_sid.as_str();
        fake.add_participant(conference_sid, &ada.sid);
        ada.event("conference-start", None, 1).await;
        ada.event("participant-join", Some(&ada.sid), 2).await;
        let menu = ada.star(&joined).await;
        let end = ada.keys(&menu, Some("9")).await;
        assert_eq!(verbs(&end), ["Say", "Hangup"], "{kind}");
        assert!(
            said(&end).contains("ended for everyone"),
            "{kind}: {}",
            said(&end)
        );
        assert!(
            fake.is_ended(conference_sid),
            "{kind}: the carrier was told"
        );
        assert_eq!(weekly(&app).await["started"], false);
        // The carrier's own end event follows; the next conference of that name is new.
        assert_eq!(ada.event("conference-end", None, 3).await, 204);
    }
}

#[tokio::test]
async fn admin_actions_reach_the_carrier_and_need_the_token() {
    let fake = FakeConferenceApi::start(Default::default()).await.unwrap();
    let app = app_with(Some(fake.base())).await;
    let kind = CarrierKind::Twilio;
    let ada = Call::new(&app, kind, ADA);
    ada.join().await;
    let grace = Call::new(&app, kind, GRACE);
    grace.join().await;
    let cf = conference_sid(kind);
    fake.add_participant(&cf, &ada.sid);
    fake.add_participant(&cf, &grace.sid);
    ada.event("conference-start", None, 1).await;
    ada.event("participant-join", Some(&ada.sid), 2).await;
    ada.event("participant-join", Some(&grace.sid), 3).await;

    let mute = format!(
        "/api/conferences/Weekly%20sync/participants/{}/mute",
        grace.sid
    );
    // No token, a wrong token: 401, and nothing reaches the carrier.
    for token in [None, Some("admin-token-0123456789abcdeX")] {
        let (status, _) = admin(&app, &mute, token).await;
        assert_eq!(status, 401);
    }
    let list = app
        .client
        .get(app.url("/api/conferences"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 401);
    assert!(fake.control().requests().is_empty());

    let (status, body) = admin(&app, &mute, Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["carrier_told"], true);
    assert_eq!(fake.is_muted(&cf, &grace.sid), Some(true));
    let request = fake.control().requests().pop().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!(
            "/2010-04-01/Accounts/{}/Conferences/{cf}/Participants/{}.json",
            rest::TWILIO_ACCOUNT_SID,
            grace.sid
        )
    );
    assert_eq!(request.body, "Muted=true");
    let people = weekly(&app).await["participants"].clone();
    let grace_row = people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == grace.sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(grace_row["muted"], true);

    let unmute = mute.replace("/mute", "/unmute");
    assert_eq!(admin(&app, &unmute, Some(ADMIN)).await.0, 200);
    assert_eq!(fake.is_muted(&cf, &grace.sid), Some(false));

    let remove = mute.replace("/mute", "/remove");
    assert_eq!(admin(&app, &remove, Some(ADMIN)).await.0, 200);
    assert!(!fake.is_present(&cf, &grace.sid));
    assert_eq!(fake.control().requests().pop().unwrap().method, "DELETE");
    assert_eq!(
        weekly(&app).await["participants"].as_array().unwrap().len(),
        1
    );

    // Unknown calls and conferences are 404s; nothing is sent for them.
    let before = fake.control().requests().len();
    let (status, _) = admin(
        &app,
        "/api/conferences/Weekly%20sync/participants/CAnobody/mute",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        admin(&app, "/api/conferences/Nope/lock", Some(ADMIN))
            .await
            .0,
        404
    );
    assert_eq!(fake.control().requests().len(), before);

    let (status, body) = admin(&app, "/api/conferences/Weekly%20sync/end", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(fake.is_ended(&cf));
    assert_eq!(weekly(&app).await["started"], false);
}

#[tokio::test]
async fn without_carrier_credentials_an_action_changes_the_roster_and_says_so() {
    let app = app_with(None).await;
    let ada = Call::new(&app, CarrierKind::Telnyx, ADA);
    ada.join().await;
    ada.event("participant-join", Some(&ada.sid), 1).await;
    let (status, body) = admin(
        &app,
        &format!(
            "/api/conferences/Weekly%20sync/participants/{}/mute",
            ada.sid
        ),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["carrier_told"], false);
    assert!(body["note"].as_str().unwrap().contains("only the roster"));
    assert_eq!(weekly(&app).await["participants"][0]["muted"], true);
}

#[tokio::test]
async fn a_dropped_caller_rejoins_once_without_a_code_within_rejoin_minutes() {
    let toml = PARTICIPANTS.replace(
        "max_participants = 3",
        "max_participants = 3\nrejoin_minutes = 5",
    );
    let app = app_of(&toml, None).await;
    let kind = CarrierKind::Twilio;
    let grace = Call::new(&app, kind, GRACE);
    grace.join().await;
    grace.event("participant-join", Some(&grace.sid), 1).await;
    assert_eq!(grace.leave(&grace.sid, 2, "participant_hung_up").await, 204);
    let codes = codes_sent(&app, GRACE).await;

    let again = Call::new(&app, kind, GRACE);
    let back = again.ring().await;
    assert!(find(&back, "Conference").is_some(), "{:?}", spoken(&back));
    assert!(
        said(&back).contains("Welcome back, Grace Hopper"),
        "{}",
        said(&back)
    );
    assert_eq!(codes_sent(&app, GRACE).await, codes, "no code for a rejoin");

    // Once only: the next call needs a code.
    let third = Call::new(&app, kind, GRACE).ring().await;
    assert!(find(&third, "Gather").is_some(), "{:?}", spoken(&third));

    // A removed caller gets no rejoin; nor does anyone after the window.
    again.event("participant-join", Some(&again.sid), 3).await;
    again
        .leave(&again.sid, 4, "participant_updated_via_api")
        .await;
    let removed = Call::new(&app, kind, GRACE).ring().await;
    assert!(find(&removed, "Gather").is_some(), "{:?}", spoken(&removed));
    let ada = Call::new(&app, kind, ADA);
    ada.join().await;
    ada.event("participant-join", Some(&ada.sid), 5).await;
    ada.leave(&ada.sid, 6, "participant_hung_up").await;
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let late = Call::new(&app, kind, ADA).ring().await;
    assert!(find(&late, "Gather").is_some(), "{:?}", spoken(&late));
}

#[tokio::test]
async fn the_simulator_plays_the_menu_and_posts_the_carrier_s_events() {
    let app = app_with(None).await;
    for kind in TWIML_CARRIERS {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let printed = lines.clone();
        let mut sim = bridgekeeper::simulator::Simulator::new(app.base.clone(), ADA, WEEKLY)
            .carrier(kind)
            .signing(signing(kind))
            .admin_token(Some(ADMIN.into()))
            .script(
                ["code", "*", "1", "2", "#"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            )
            .printer(move |line| printed.lock().unwrap().push(line.to_owned()));
        let outcome = sim.play().await.expect("the call plays");
        let text = lines.lock().unwrap().join("\n");
        assert_eq!(
            outcome.to_string(),
            "joined Weekly sync as moderator",
            "{kind}: {text}"
        );
        assert!(text.contains("keys: * (out of the room)"), "{kind}: {text}");
        assert!(text.contains("You will be muted."), "{kind}: {text}");
        assert!(
            text.contains("(carrier posts participant-join)"),
            "{kind}: {text}"
        );
        assert!(text.contains("Back to Weekly sync."), "{kind}: {text}");
        // The emulated events reached the roster: Ada is on the call, muted as she asked.
        let people = weekly(&app).await["participants"].clone();
        let ada = people
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Ada Lovelace" && p["muted"] == true)
            .cloned();
        assert!(ada.is_some(), "{kind}: {people}");
    }
}

#[tokio::test]
async fn a_used_menu_state_cannot_be_replayed_late_in_a_long_meeting() {
    let app = app_with(None).await;
    let ada = Call::new(&app, CarrierKind::Twilio, ADA);
    let joined = ada.join().await;
    let dial = find(&joined, "Dial")
        .unwrap()
        .attr("action")
        .unwrap()
        .to_owned();
    let url = Url::parse(&dial).unwrap();
    assert_eq!(ada.post(&url, &ada.params(None)).await.0, 200);
    // Three hours on, far past a prompt's life but inside the room state's 12 hours.
    app.clock.advance(Duration::from_secs(3 * 60 * 60));
    let (status, body) = ada.post(&url, &ada.params(None)).await;
    assert_eq!(status, 409, "{body}");
}
