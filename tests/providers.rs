//! Every verification provider and every sender, end to end: the app in-process, the
//! provider a fake on loopback speaking its real wire format, driven the way the carrier
//! drives a call. Each case runs against Twilio Verify, Telnyx Verify, MessageBird Verify,
//! and the built-in engine through Twilio Messages, Telnyx messages and MessageBird
//! messages: join, wrong then right, three wrong, `*` resend, voice channel, `code_to`, and
//! each upstream fault ending in words, never a join and never a 5xx.

mod common;

use bridgekeeper::config::{
    MessageBirdVerifySettings, SenderSettings, Settings, TelnyxVerifySettings, TwilioSettings,
    VerifierSettings,
};
use bridgekeeper::fakes::messagebird::{self as bird, FakeMessageBird, FakeMessageBirdConfig};
use bridgekeeper::fakes::telnyx::{self as telnyx, FakeTelnyx, FakeTelnyxConfig};
use bridgekeeper::fakes::{Control, Failure};
use bridgekeeper::twiml::parse::Element;
use bridgekeeper::verify::MessageTemplate;
use common::fake_verify::{self as twilio, FakeVerify};
use common::*;
use std::time::Duration;

/// Weekly sync, with Ada (SMS to her caller ID), Grace, and Desk, whose code goes to
/// another phone (by voice where the provider can, else by SMS).
fn participants(desk_channel: &str) -> String {
    format!(
        r#"
[[conference]]
name = "Weekly sync"
numbers = ["+1 202 555 0100"]

[[conference.participant]]
name = "Ada Lovelace"
phone = "+1 (202) 555-0101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+12025550102"

[[conference.participant]]
name = "Desk"
phone = "+12025550105"
code_to = "+12025550195"
channel = "{desk_channel}"
"#
    )
}

const DESK: &str = "+12025550105";
const DESK_MOBILE: &str = "+12025550195";
const FROM: &str = "+15550100000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TwilioVerify,
    TelnyxVerify,
    BirdVerify,
    TwilioMessages,
    TelnyxMessages,
    BirdMessages,
}

const ALL: [Kind; 6] = [
    Kind::TwilioVerify,
    Kind::TelnyxVerify,
    Kind::BirdVerify,
    Kind::TwilioMessages,
    Kind::TelnyxMessages,
    Kind::BirdMessages,
];

impl Kind {
    /// Whether a Verify API (which checks the code itself) rather than a sender.
    fn is_verify(self) -> bool {
        matches!(
            self,
            Kind::TwilioVerify | Kind::TelnyxVerify | Kind::BirdVerify
        )
    }
}

/// A fault the provider can answer with.
#[derive(Debug, Clone, Copy)]
enum Fault {
    ServerError,
    Hang,
    Unauthorized,
    Throttled,
    TooMany,
    Undeliverable,
}

const FAULTS: [Fault; 6] = [
    Fault::ServerError,
    Fault::Hang,
    Fault::Unauthorized,
    Fault::Throttled,
    Fault::TooMany,
    Fault::Undeliverable,
];

enum Fake {
    Twilio(FakeVerify),
    Telnyx(FakeTelnyx),
    Bird(FakeMessageBird),
}

/// One provider's fake and the app using it.
struct Line {
    kind: Kind,
    fake: Fake,
    app: TestApp,
}

/// The client timeout: a hang is longer.
const TIMEOUT: Duration = Duration::from_millis(400);

impl Line {
    async fn start(kind: Kind) -> Self {
        let fake = match kind {
            Kind::TwilioVerify | Kind::TwilioMessages => {
                Fake::Twilio(FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await)
            }
            Kind::TelnyxVerify | Kind::TelnyxMessages => Fake::Telnyx(
                FakeTelnyx::start(FakeTelnyxConfig::default())
                    .await
                    .expect("fake Telnyx starts"),
            ),
            Kind::BirdVerify | Kind::BirdMessages => Fake::Bird(
                FakeMessageBird::start(FakeMessageBirdConfig::default())
                    .await
                    .expect("fake MessageBird starts"),
            ),
        };
        let base = match &fake {
            Fake::Twilio(f) => f.base.clone(),
            Fake::Telnyx(f) => f.base().clone(),
            Fake::Bird(f) => f.base().clone(),
        };
        let verifier = match kind {
            Kind::TwilioVerify => VerifierSettings::Twilio(TwilioSettings {
                account_sid: ACCOUNT_SID.into(),
                auth_token: AUTH_TOKEN.to_owned().into(),
                verify_service_sid: SERVICE_SID.into(),
                verify_base_url: base,
            }),
            Kind::TelnyxVerify => VerifierSettings::Telnyx(TelnyxVerifySettings {
                api_key: telnyx::DEFAULT_API_KEY.to_owned().into(),
                profile_id: telnyx::DEFAULT_PROFILE_ID.into(),
                base_url: base,
            }),
            Kind::BirdVerify => VerifierSettings::MessageBird(MessageBirdVerifySettings {
                access_key: bird::DEFAULT_ACCESS_KEY.to_owned().into(),
                originator: Some("Bridge".into()),
                base_url: base,
            }),
            Kind::TwilioMessages => builtin(SenderSettings::Twilio {
                account_sid: ACCOUNT_SID.into(),
                auth_token: AUTH_TOKEN.to_owned().into(),
                from: FROM.into(),
                base_url: base,
            }),
            Kind::TelnyxMessages => builtin(SenderSettings::Telnyx {
                api_key: telnyx::DEFAULT_API_KEY.to_owned().into(),
                from: FROM.into(),
                base_url: base,
            }),
            Kind::BirdMessages => builtin(SenderSettings::MessageBird {
                access_key: bird::DEFAULT_ACCESS_KEY.to_owned().into(),
                originator: "Bridge".into(),
                base_url: base,
            }),
        };
        let desk = if kind.is_verify() { "voice" } else { "sms" };
        let app = TestApp::spawn_configured(&participants(desk), |s: &mut Settings| {
            s.verifier = verifier;
            s.verify_timeout = TIMEOUT;
        })
        .await;
        Self { kind, fake, app }
    }

    /// The codes delivered to `to`, oldest first.
    fn codes(&self, to: &str) -> Vec<String> {
        match &self.fake {
            Fake::Twilio(f) => f.sent_codes(to),
            Fake::Telnyx(f) => f.sent_codes(to),
            Fake::Bird(f) => f.sent_codes(to),
        }
    }

    /// The newest code delivered to `to`.
    fn code(&self, to: &str) -> String {
        self.codes(to)
            .pop()
            .unwrap_or_else(|| panic!("{:?}: no code delivered to {to}", self.kind))
    }

    /// The next request fails with `fault`, in the provider's own words.
    fn fail_next(&self, fault: Fault) {
        match &self.fake {
            Fake::Twilio(f) => f.fail_next(twilio_failure(self.kind, fault)),
            Fake::Telnyx(f) => f.control().fail_next(telnyx_failure(fault)),
            Fake::Bird(f) => f.control().fail_next(bird_failure(fault)),
        }
    }

    /// Whether the provider was asked for a voice call to `to`.
    fn voice_requested(&self, to: &str) -> bool {
        match &self.fake {
            Fake::Twilio(f) => f.requests().iter().any(|r| {
                r.form.contains(&("Channel".into(), "call".into()))
                    && r.form.contains(&("To".into(), to.into()))
            }),
            Fake::Telnyx(f) => requested(f.control(), "/v2/verifications/call", to),
            Fake::Bird(f) => f.control().requests().iter().any(|r| {
                r.path.ends_with("/verify")
                    && r.body.contains("tts")
                    && r.body.contains(to.trim_start_matches('+'))
            }),
        }
    }

    async fn ring(&self, sid: &str, from: &str) -> Element {
        self.app.incoming(sid, from, WEEKLY_LINE).await
    }

    /// A code that is not `code`.
    fn wrong(code: &str) -> String {
        let first = if code.starts_with('1') { '2' } else { '1' };
        format!("{first}{}", &code[1..])
    }
}

fn requested(control: &Control, path: &str, to: &str) -> bool {
    control
        .requests()
        .iter()
        .any(|r| r.path.ends_with(path) && r.body.contains(to))
}

fn builtin(sender: SenderSettings) -> VerifierSettings {
    VerifierSettings::Builtin {
        sender,
        template: MessageTemplate::default(),
    }
}

fn twilio_failure(kind: Kind, fault: Fault) -> twilio::Failure {
    use twilio::Failure as F;
    let error = |http, code| F::Error { http, code };
    match (fault, kind) {
        (Fault::ServerError, _) => F::Status(500),
        (Fault::Hang, _) => F::Hang(TIMEOUT * 75),
        (Fault::Unauthorized, _) => error(401, 20003),
        (Fault::Throttled, _) => error(429, 20429),
        // Verify's own "too many codes for this number".
        (Fault::TooMany, Kind::TwilioVerify) => error(429, 60203),
        // Messages has no per-number limit of its own: its "too many" is the account queue.
        (Fault::TooMany, _) => error(429, 14107),
        (Fault::Undeliverable, Kind::TwilioVerify) => error(400, 60205),
        // The recipient replied STOP.
        (Fault::Undeliverable, _) => error(400, 21610),
    }
}

fn telnyx_failure(fault: Fault) -> Failure {
    match fault {
        Fault::ServerError => Failure::Status(500),
        Fault::Hang => Failure::Hang(TIMEOUT * 75),
        Fault::Unauthorized => telnyx::unauthorized(),
        Fault::Throttled => Failure::Status(429),
        Fault::TooMany => telnyx::too_many(),
        Fault::Undeliverable => telnyx::undeliverable(),
    }
}

fn bird_failure(fault: Fault) -> Failure {
    match fault {
        Fault::ServerError => Failure::Status(500),
        Fault::Hang => Failure::Hang(TIMEOUT * 75),
        Fault::Unauthorized => bird::unauthorized(),
        Fault::Throttled => Failure::Status(429),
        Fault::TooMany => bird::too_many(),
        Fault::Undeliverable => bird::undeliverable(),
    }
}

fn said(doc: &Element) -> String {
    spoken(doc).join(" ")
}

fn joined(doc: &Element) -> bool {
    find(doc, "Conference").is_some() || find(doc, "Dial").is_some()
}

#[tokio::test]
async fn a_moderator_joins_with_the_code_each_provider_delivered() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let sid = sid();
        let doc = line.ring(&sid, ADA).await;
        assert_eq!(
            verbs(&doc),
            ["Gather", "Redirect"],
            "{kind:?}: {}",
            said(&doc)
        );
        assert!(
            said(&doc).contains("by text message to your phone."),
            "{kind:?}: {}",
            said(&doc)
        );
        let code = line.code(ADA);
        let doc = line.app.keys(&doc, &sid, Some(&code)).await;
        let room = find(&doc, "Conference").unwrap_or_else(|| panic!("{kind:?}: not joined"));
        assert_eq!(
            room.attr("startConferenceOnEnter"),
            Some("true"),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_code_is_asked_again_and_the_right_one_joins() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let sid = sid();
        let doc = line.ring(&sid, GRACE).await;
        let code = line.code(GRACE);
        let doc = line.app.keys(&doc, &sid, Some(&Line::wrong(&code))).await;
        assert!(said(&doc).contains("not right"), "{kind:?}: {}", said(&doc));
        assert!(!joined(&doc), "{kind:?}");
        let doc = line.app.keys(&doc, &sid, Some(&code)).await;
        assert!(
            find(&doc, "Conference").is_some(),
            "{kind:?}: {}",
            said(&doc)
        );
    }
}

#[tokio::test]
async fn three_wrong_codes_end_the_call_without_joining() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let sid = sid();
        let mut doc = line.ring(&sid, GRACE).await;
        let wrong = Line::wrong(&line.code(GRACE));
        for _ in 0..3 {
            doc = line.app.keys(&doc, &sid, Some(&wrong)).await;
            assert!(!joined(&doc), "{kind:?}");
        }
        assert_eq!(verbs(&doc), ["Say", "Hangup"], "{kind:?}: {}", said(&doc));
        assert!(said(&doc).contains("last try"), "{kind:?}: {}", said(&doc));
    }
}

#[tokio::test]
async fn star_sends_the_code_again_and_the_newest_code_joins() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let sid = sid();
        let doc = line.ring(&sid, ADA).await;
        let doc = line.app.keys(&doc, &sid, Some("*")).await;
        assert!(
            said(&doc).contains("sent your code again"),
            "{kind:?}: {}",
            said(&doc)
        );
        assert_eq!(line.codes(ADA).len(), 2, "{kind:?}: a second delivery");
        let doc = line.app.keys(&doc, &sid, Some(&line.code(ADA))).await;
        assert!(
            find(&doc, "Conference").is_some(),
            "{kind:?}: {}",
            said(&doc)
        );
    }
}

#[tokio::test]
async fn code_to_sends_to_the_other_phone_by_its_channel_and_says_so_masked() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let sid = sid();
        let doc = line.ring(&sid, DESK).await;
        let words = said(&doc);
        if kind.is_verify() {
            assert!(
                words.contains("We are calling your phone ending in 95 with a six-digit code."),
                "{kind:?}: {words}"
            );
            assert!(
                line.voice_requested(DESK_MOBILE),
                "{kind:?}: no voice call asked"
            );
        } else {
            assert!(
                words.contains("by text message to your phone ending in 95."),
                "{kind:?}: {words}"
            );
        }
        assert!(!words.contains("0195"), "{kind:?}: {words}");
        assert!(
            line.codes(DESK).is_empty(),
            "{kind:?}: a code went to the desk phone"
        );
        let doc = line
            .app
            .keys(&doc, &sid, Some(&line.code(DESK_MOBILE)))
            .await;
        assert!(
            find(&doc, "Conference").is_some(),
            "{kind:?}: {}",
            said(&doc)
        );
    }
}

/// What the caller hears for a fault when the code is sent.
fn expected_words(kind: Kind, fault: Fault) -> &'static str {
    match fault {
        Fault::TooMany if kind.is_verify() => "Too many codes have been requested",
        Fault::Undeliverable => "cannot send a code to the number",
        _ => "cannot send your code right now",
    }
}

#[tokio::test]
async fn every_fault_on_send_ends_the_call_in_words_never_a_join_or_a_5xx() {
    for kind in ALL {
        for fault in FAULTS {
            let line = Line::start(kind).await;
            line.fail_next(fault);
            let doc = line.ring(&sid(), ADA).await;
            assert_eq!(
                verbs(&doc),
                ["Say", "Hangup"],
                "{kind:?} {fault:?}: {}",
                said(&doc)
            );
            assert!(
                said(&doc).contains(expected_words(kind, fault)),
                "{kind:?} {fault:?}: {}",
                said(&doc)
            );
        }
    }
}

#[tokio::test]
async fn a_fault_on_a_verify_check_never_joins() {
    for kind in ALL.into_iter().filter(|k| k.is_verify()) {
        for fault in [
            Fault::ServerError,
            Fault::Hang,
            Fault::Unauthorized,
            Fault::Throttled,
        ] {
            let line = Line::start(kind).await;
            let sid = sid();
            let doc = line.ring(&sid, ADA).await;
            let code = line.code(ADA);
            line.fail_next(fault);
            let doc = line.app.keys(&doc, &sid, Some(&code)).await;
            assert!(!joined(&doc), "{kind:?} {fault:?}");
            assert_eq!(
                verbs(&doc),
                ["Say", "Hangup"],
                "{kind:?} {fault:?}: {}",
                said(&doc)
            );
            assert!(
                said(&doc).contains("cannot check your code right now"),
                "{kind:?} {fault:?}: {}",
                said(&doc)
            );
        }
    }
}

#[tokio::test]
async fn the_dev_outbox_is_closed_with_a_real_provider() {
    for kind in ALL {
        let line = Line::start(kind).await;
        let response = line
            .app
            .client
            .get(line.app.url("/dev/outbox"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{kind:?}");
    }
}
