//! What the TwiML family (Twilio; SignalWire cXML and Telnyx TeXML speak it too) shares: the
//! form-encoded webhook read into a [`CallEvent`], and the call's dialect-neutral replies
//! rendered as a TwiML document. Each carrier of the family adds only its signature, its
//! call-id rule and its withheld caller IDs.

use crate::call::{Expect, Reply, Target};
use crate::carrier::{CallEvent, Form, Hook, Inbound, Links, Rendered, WebhookError};
use crate::directory::DialDigits;
use crate::domain::{CallSid, CallSidError, Code, PhoneNumber, Role};
use crate::twiml::{
    Conference, ConferenceEvent, Dial, Gather, Method, Number, Redirect, Reject, RejectReason,
    Response, Say,
};

/// Reads a TwiML-family webhook: a form body with `CallSid`, `From` (required when the call
/// comes in), `To` and `Digits`; the call state rides in the query (`s`). `call_id` and
/// `caller` are the carrier's own rules.
pub fn decode_form(
    request: &Inbound<'_>,
    hook: Hook,
    call_id: fn(&str) -> Result<CallSid, CallSidError>,
    caller: fn(&str) -> Option<PhoneNumber>,
) -> Result<CallEvent, WebhookError> {
    let form = Form::decode(request.body)?;
    if !crate::carrier::form::is_form(request.headers) {
        return Err(WebhookError::NotAForm);
    }
    decode_params(&form, request, hook, call_id, caller)
}

/// The call event in already decoded parameters (shared with CarrierX's JSON).
pub fn decode_params(
    form: &Form,
    request: &Inbound<'_>,
    hook: Hook,
    call_id: fn(&str) -> Result<CallSid, CallSidError>,
    caller: fn(&str) -> Option<PhoneNumber>,
) -> Result<CallEvent, WebhookError> {
    let call_id = call_id(form.get("CallSid").unwrap_or_default())
        .map_err(|e| WebhookError::BadParameter(e.to_string()))?;
    let from = match hook {
        Hook::Entry => Some(form.required("From")?),
        Hook::Code => form.get("From"),
    };
    Ok(CallEvent {
        call_id,
        caller: from.and_then(caller),
        dialed: form
            .get("To")
            .and_then(|to| PhoneNumber::from_webhook(to).ok()),
        digits: form.get("Digits").map(str::to_owned),
        state: request.query_param("s"),
    })
}

/// The conference events Twilio and SignalWire post.
pub const TWILIO_EVENTS: &[ConferenceEvent] = &[
    ConferenceEvent::Start,
    ConferenceEvent::End,
    ConferenceEvent::Join,
    ConferenceEvent::Leave,
    ConferenceEvent::Mute,
    ConferenceEvent::Hold,
];

/// The conference events Telnyx TeXML posts.
pub const TELNYX_EVENTS: &[ConferenceEvent] = &[
    ConferenceEvent::Start,
    ConferenceEvent::End,
    ConferenceEvent::Join,
    ConferenceEvent::Leave,
];

/// Renders a reply as a TwiML document with its content type, asking for `events`.
pub fn render(reply: &Reply, links: &Links<'_>, events: &[ConferenceEvent]) -> Rendered {
    Rendered {
        content_type: crate::twiml::CONTENT_TYPE,
        body: twiml_with(reply, links, events),
    }
}

/// Renders a reply as a TwiML document; `code_url` is where keypad input goes (and no
/// conference events are asked for).
pub fn twiml(reply: &Reply, code_url: &str) -> String {
    twiml_with(
        reply,
        &Links {
            next: code_url,
            events: None,
        },
        &[],
    )
}

/// Seconds the keypad stays open after the prompt ends: enough to read a text message.
pub const GATHER_TIMEOUT_SECS: u32 = 15;

/// Seconds the in-call menu waits for a key before the caller goes back to the room.
pub const MENU_TIMEOUT_SECS: u32 = 6;

/// Renders a reply as a TwiML document.
fn twiml_with(reply: &Reply, links: &Links<'_>, events: &[ConferenceEvent]) -> String {
    let code_url = links.next;
    let response = match reply {
        // Reject after Say: the call was answered to speak, and Reject ends it.
        Reply::Refuse { say } => Response::new()
            .say(Say::new(say))
            .reject(Reject::new().reason(RejectReason::Rejected)),
        Reply::Ask { say, expect } => {
            let gather = Gather::new().input("dtmf");
            let gather = match expect {
                Expect::Code => gather
                    .num_digits(Code::LEN as u32)
                    .timeout(GATHER_TIMEOUT_SECS)
                    .finish_on_key("#"),
                // A PIN has 4 to 12 digits: the pound key ends it.
                Expect::Pin => gather.timeout(GATHER_TIMEOUT_SECS).finish_on_key("#"),
                // One key, `#` included (no finishing key); silence goes back to the room.
                Expect::MenuKey => gather
                    .num_digits(1)
                    .timeout(MENU_TIMEOUT_SECS)
                    .finish_on_key(""),
            };
            let gather = say.iter().fold(
                gather.action(code_url).method(Method::Post),
                |gather, line| gather.say(Say::new(line)),
            );
            // With no input the carrier falls through to the next verb: the same handler
            // then sees no Digits and counts a silence.
            Response::new()
                .gather(gather)
                .redirect(Redirect::new(code_url).method(Method::Post))
        }
        Reply::Join { say, target } => {
            let dial = match target {
                Target::Room {
                    conference,
                    role,
                    hold_music,
                    max_participants,
                    muted,
                } => {
                    let mut room = room(conference, *role, hold_music.as_deref())
                        .max_participants(*max_participants);
                    if *muted {
                        room = room.muted(true);
                    }
                    if let Some(url) = links.events {
                        room = room
                            .status_callback(url)
                            .status_callback_event(events.to_vec());
                    }
                    // `*` takes the caller out of the room to the keypad menu (the Dial's
                    // action, with the call's state), without ending the call.
                    Dial::new()
                        .conference(room)
                        .hangup_on_star(true)
                        .action(code_url)
                        .method(Method::Post)
                }
                Target::Bridge { number, digits, .. } => {
                    Dial::new().number(bridge(number, digits.as_ref()))
                }
            };
            Response::new().say(Say::new(say)).dial(dial)
        }
        Reply::End { say } => Response::new().say(Say::new(say)).hangup(),
    };
    response.to_xml()
}

/// The `<Conference>` noun for a role.
fn room(name: &str, role: Role, hold_music: Option<&str>) -> Conference {
    match role {
        Role::Moderator => Conference::new(name)
            .start_conference_on_enter(true)
            .end_conference_on_exit(true),
        Role::Participant => {
            let room = Conference::new(name)
                .start_conference_on_enter(false)
                .end_conference_on_exit(false);
            match hold_music {
                // A static audio file: GET, since many file hosts refuse POST.
                Some(url) => room.wait_url(url).wait_method(Method::Get),
                None => room,
            }
        }
    }
}

/// The `<Number>` noun for a bridge: its number, and the keys sent once it answers (shared
/// with FlexML, whose `<Dial><Number sendDigits>` is the same).
pub fn bridge(number: &PhoneNumber, digits: Option<&DialDigits>) -> Number {
    let noun = Number::new(number.as_e164());
    match digits {
        Some(digits) => noun.send_digits(digits.expose()),
        None => noun,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    const CODE_URL: &str = "https://bk.example.com/voice/code";

    fn twiml(reply: &Reply) -> String {
        super::twiml(reply, CODE_URL)
    }

    #[test]
    fn refusal_speaks_then_rejects() {
        let xml = twiml(&Reply::Refuse { say: "No.".into() });
        assert_eq!(
            xml,
            format!(r#"{DECL}<Response><Say>No.</Say><Reject reason="rejected"/></Response>"#)
        );
    }

    #[test]
    fn ask_gathers_six_digits_then_redirects_on_silence() {
        let xml = twiml(&Reply::Ask {
            say: vec!["One.".into(), "Two.".into()],
            expect: Expect::Code,
        });
        assert_eq!(
            xml,
            format!(
                r##"{DECL}<Response><Gather input="dtmf" numDigits="6" timeout="15" finishOnKey="#" action="https://bk.example.com/voice/code" method="POST"><Say>One.</Say><Say>Two.</Say></Gather><Redirect method="POST">https://bk.example.com/voice/code</Redirect></Response>"##
            )
        );
    }

    #[test]
    fn a_room_asks_for_the_carrier_s_events_and_keeps_a_muted_caller_muted() {
        let reply = Reply::Join {
            say: "Hi.".into(),
            target: Target::Room {
                conference: "Weekly sync".into(),
                role: Role::Participant,
                hold_music: None,
                max_participants: 12,
                muted: true,
            },
        };
        let links = Links {
            next: "https://bk.example.com/voice/code?s=x",
            events: Some("https://bk.example.com/voice/conference"),
        };
        let xml = render(&reply, &links, TELNYX_EVENTS).body;
        assert!(
            xml.contains(r#"muted="true" maxParticipants="12" statusCallback="https://bk.example.com/voice/conference" statusCallbackEvent="start end join leave""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Dial action="https://bk.example.com/voice/code?s=x""#),
            "{xml}"
        );
    }

    #[test]
    fn moderators_start_and_end_the_conference() {
        let xml = twiml(&Reply::Join {
            say: "Hi.".into(),
            target: Target::Room {
                conference: "Weekly sync".into(),
                role: Role::Moderator,
                hold_music: Some("https://example.com/x.mp3".into()),
                max_participants: 250,
                muted: false,
            },
        });
        assert_eq!(
            xml,
            format!(
                r#"{DECL}<Response><Say>Hi.</Say><Dial action="https://bk.example.com/voice/code" method="POST" hangupOnStar="true"><Conference startConferenceOnEnter="true" endConferenceOnExit="true" maxParticipants="250">Weekly sync</Conference></Dial></Response>"#
            )
        );
    }

    #[test]
    fn participants_wait_with_hold_music() {
        let xml = twiml(&Reply::Join {
            say: "Thank you, O'Brien & <Sons> \"Ltd\". Joining Weekly sync.".into(),
            target: Target::Room {
                conference: "Weekly sync".into(),
                role: Role::Participant,
                hold_music: Some("https://example.com/hold.mp3?a=1&b=2".into()),
                max_participants: 250,
                muted: false,
            },
        });
        assert_eq!(
            xml,
            format!(
                r#"{DECL}<Response><Say>Thank you, O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;. Joining Weekly sync.</Say><Dial action="https://bk.example.com/voice/code" method="POST" hangupOnStar="true"><Conference startConferenceOnEnter="false" endConferenceOnExit="false" waitUrl="https://example.com/hold.mp3?a=1&amp;b=2" waitMethod="GET" maxParticipants="250">Weekly sync</Conference></Dial></Response>"#
            )
        );
    }

    #[test]
    fn participants_without_hold_music_get_the_carrier_default() {
        let xml = twiml(&Reply::Join {
            say: "Hi.".into(),
            target: Target::Room {
                conference: "Board".into(),
                role: Role::Participant,
                hold_music: None,
                max_participants: 250,
                muted: false,
            },
        });
        assert!(!xml.contains("waitUrl"), "{xml}");
    }

    #[test]
    fn a_bridge_is_dialed_with_the_role_s_keys() {
        let xml = twiml(&Reply::Join {
            say: "Hi.".into(),
            target: Target::Bridge {
                number: PhoneNumber::parse("+18885550100").unwrap(),
                digits: Some(DialDigits::parse("ww123456#").unwrap()),
                role: Role::Participant,
            },
        });
        assert_eq!(
            xml,
            format!(
                r##"{DECL}<Response><Say>Hi.</Say><Dial><Number sendDigits="ww123456#">+18885550100</Number></Dial></Response>"##
            )
        );
    }

    #[test]
    fn a_pin_prompt_waits_for_the_pound_key() {
        let xml = twiml(&Reply::Ask {
            say: vec!["PIN?".into()],
            expect: Expect::Pin,
        });
        assert!(!xml.contains("numDigits"), "{xml}");
        assert!(xml.contains(r##"finishOnKey="#""##), "{xml}");
    }

    #[test]
    fn ending_speaks_then_hangs_up() {
        let xml = twiml(&Reply::End { say: "Bye.".into() });
        assert_eq!(
            xml,
            format!(r#"{DECL}<Response><Say>Bye.</Say><Hangup/></Response>"#)
        );
    }
}
