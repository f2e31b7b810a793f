//! FlexML, CarrierX's dialect: TwiML-like verbs, but no conference noun — a verified caller
//! is dialed into the conference's bridge (`<Dial><Number sendDigits=…>`). The keypad prompt
//! is a `<Gather>` followed by a `<Redirect>` to the same URL, so both documented timeout
//! behaviours (the action requested with empty `Digits`, or the next verb run) reach the
//! server as silence.

use crate::call::{Expect, Reply, Target};
use crate::carrier::twiml::{GATHER_TIMEOUT_SECS, bridge};
use crate::domain::Code;
use crate::twiml::{Dial, Gather, Method, Redirect, Response, Say};

/// Words for a join the dialect cannot make (a room): never reached, since the call service
/// refuses such calls before any code is sent; answered safely all the same.
const NO_ROOM: &str = "Sorry, this line is not set up yet. Please contact the organizer. Goodbye.";

/// Renders a reply as a FlexML document; `next_url` is where keypad input goes.
pub fn flexml(reply: &Reply, next_url: &str) -> String {
    let response = match reply {
        Reply::Refuse { say } | Reply::End { say } => Response::new().say(Say::new(say)).hangup(),
        Reply::Ask { say, expect } => {
            let gather = match expect {
                Expect::Code => Gather::new().num_digits(Code::LEN as u32),
                Expect::Pin => Gather::new(),
                // FlexML dials bridges only: no call of it reaches the room's menu.
                Expect::MenuKey => Gather::new().num_digits(1),
            };
            let gather = say.iter().fold(
                gather
                    .timeout(GATHER_TIMEOUT_SECS)
                    .finish_on_key("#")
                    .action(next_url)
                    .method(Method::Post),
                |gather, line| gather.say(Say::new(line)),
            );
            Response::new()
                .gather(gather)
                .redirect(Redirect::new(next_url).method(Method::Post))
        }
        Reply::Join { say, target } => match target {
            Target::Bridge { number, digits, .. } => Response::new()
                .say(Say::new(say))
                .dial(Dial::new().number(bridge(number, digits.as_ref()))),
            Target::Room { .. } => Response::new().say(Say::new(NO_ROOM)).hangup(),
        },
    };
    response.to_xml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::DialDigits;
    use crate::domain::{PhoneNumber, Role};

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    const URL: &str = "https://bk.example.com/carrierx/voice/code?key=k&s=T";

    #[test]
    fn a_prompt_gathers_then_redirects_to_the_same_url() {
        let xml = flexml(
            &Reply::Ask {
                say: vec!["Code?".into()],
                expect: Expect::Code,
            },
            URL,
        );
        assert_eq!(
            xml,
            format!(
                r##"{DECL}<Response><Gather numDigits="6" timeout="15" finishOnKey="#" action="https://bk.example.com/carrierx/voice/code?key=k&amp;s=T" method="POST"><Say>Code?</Say></Gather><Redirect method="POST">https://bk.example.com/carrierx/voice/code?key=k&amp;s=T</Redirect></Response>"##
            )
        );
    }

    #[test]
    fn a_join_dials_the_bridge_with_the_keys() {
        let xml = flexml(
            &Reply::Join {
                say: "Joining.".into(),
                target: Target::Bridge {
                    number: PhoneNumber::parse("+18885550100").unwrap(),
                    digits: Some(DialDigits::parse("ww123456#ww9876#").unwrap()),
                    role: Role::Moderator,
                },
            },
            URL,
        );
        assert_eq!(
            xml,
            format!(
                r##"{DECL}<Response><Say>Joining.</Say><Dial><Number sendDigits="ww123456#ww9876#">+18885550100</Number></Dial></Response>"##
            )
        );
    }

    #[test]
    fn refusals_and_endings_speak_then_hang_up() {
        for reply in [
            Reply::Refuse { say: "No.".into() },
            Reply::End { say: "No.".into() },
        ] {
            assert_eq!(
                flexml(&reply, URL),
                format!("{DECL}<Response><Say>No.</Say><Hangup/></Response>")
            );
        }
        let room = Reply::Join {
            say: "Hi.".into(),
            target: Target::Room {
                conference: "A".into(),
                role: Role::Participant,
                hold_music: None,
                max_participants: 250,
                muted: false,
            },
        };
        assert!(!flexml(&room, URL).contains("Conference"));
    }
}
