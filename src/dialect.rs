//! Renders the call's dialect-neutral replies for a carrier. TwiML (Twilio; Telnyx TeXML and
//! SignalWire cXML speak it too) is the one dialect so far.

use crate::call::Reply;
use crate::domain::{Code, Role};
use crate::twiml::{
    Conference, Dial, Gather, Method, Redirect, Reject, RejectReason, Response, Say,
};

/// Where the keypad input goes: the same path for digits and for silence. The TwiML carries
/// it as an absolute URL under the public base URL, so that the carrier signs exactly the URL
/// the server checks, even behind a proxy that adds a path prefix.
pub const CODE_PATH: &str = "/voice/code";

/// Seconds the keypad stays open after the prompt ends: enough to read a text message.
pub const GATHER_TIMEOUT_SECS: u32 = 15;

/// Renders a reply as a TwiML document; `code_url` is where keypad input goes.
pub fn twiml(reply: &Reply, code_url: &str) -> String {
    let response = match reply {
        // Reject after Say: the call was answered to speak, and Reject ends it.
        Reply::Refuse { say } => Response::new()
            .say(Say::new(say))
            .reject(Reject::new().reason(RejectReason::Rejected)),
        Reply::Ask { say } => {
            let gather = say.iter().fold(
                Gather::new()
                    .input("dtmf")
                    .num_digits(Code::LEN as u32)
                    .timeout(GATHER_TIMEOUT_SECS)
                    .finish_on_key("#")
                    .action(code_url)
                    .method(Method::Post),
                |gather, line| gather.say(Say::new(line)),
            );
            // With no input the carrier falls through to the next verb: the same handler
            // then sees no Digits and counts a silence.
            Response::new()
                .gather(gather)
                .redirect(Redirect::new(code_url).method(Method::Post))
        }
        Reply::Join {
            say,
            conference,
            role,
            hold_music,
        } => {
            let room = match role {
                Role::Moderator => Conference::new(conference)
                    .start_conference_on_enter(true)
                    .end_conference_on_exit(true),
                Role::Participant => {
                    let room = Conference::new(conference)
                        .start_conference_on_enter(false)
                        .end_conference_on_exit(false);
                    match hold_music {
                        // A static audio file: GET, since many file hosts refuse POST.
                        Some(url) => room.wait_url(url).wait_method(Method::Get),
                        None => room,
                    }
                }
            };
            Response::new()
                .say(Say::new(say))
                .dial(Dial::new().conference(room))
        }
        Reply::End { say } => Response::new().say(Say::new(say)).hangup(),
    };
    response.to_xml()
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
        });
        assert_eq!(
            xml,
            format!(
                r##"{DECL}<Response><Gather input="dtmf" numDigits="6" timeout="15" finishOnKey="#" action="https://bk.example.com/voice/code" method="POST"><Say>One.</Say><Say>Two.</Say></Gather><Redirect method="POST">https://bk.example.com/voice/code</Redirect></Response>"##
            )
        );
    }

    #[test]
    fn moderators_start_and_end_the_conference() {
        let xml = twiml(&Reply::Join {
            say: "Hi.".into(),
            conference: "Weekly sync".into(),
            role: Role::Moderator,
            hold_music: Some("https://example.com/x.mp3".into()),
        });
        assert_eq!(
            xml,
            format!(
                r#"{DECL}<Response><Say>Hi.</Say><Dial><Conference startConferenceOnEnter="true" endConferenceOnExit="true">Weekly sync</Conference></Dial></Response>"#
            )
        );
    }

    #[test]
    fn participants_wait_with_hold_music() {
        let xml = twiml(&Reply::Join {
            say: "Thank you, O'Brien & <Sons> \"Ltd\". Joining Weekly sync.".into(),
            conference: "Weekly sync".into(),
            role: Role::Participant,
            hold_music: Some("https://example.com/hold.mp3?a=1&b=2".into()),
        });
        assert_eq!(
            xml,
            format!(
                r#"{DECL}<Response><Say>Thank you, O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;. Joining Weekly sync.</Say><Dial><Conference startConferenceOnEnter="false" endConferenceOnExit="false" waitUrl="https://example.com/hold.mp3?a=1&amp;b=2" waitMethod="GET">Weekly sync</Conference></Dial></Response>"#
            )
        );
    }

    #[test]
    fn participants_without_hold_music_get_the_carrier_default() {
        let xml = twiml(&Reply::Join {
            say: "Hi.".into(),
            conference: "Board".into(),
            role: Role::Participant,
            hold_music: None,
        });
        assert!(!xml.contains("waitUrl"), "{xml}");
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
