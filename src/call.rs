//! The call as a state machine: pure decisions, no I/O. The handlers feed it what the caller
//! did and what the verifier said; it answers with the next step and the words to say.
//!
//! ```text
//! incoming ──unknown line/caller, withheld caller ID──▶ rejected (no code is sent)
//!    │ known caller
//!    ▼
//! code sent ──▶ awaiting code ──right code──▶ joined
//!                  │  ▲   wrong code (≤ 3 tries) / no input (≤ 3 times) / "*" = send again
//!                  └──┘
//!                  └──too many tries, upstream fault, expired──▶ goodbye
//! ```
//! Every webhook after the first adds one to a bounded counter or ends the call, so a call
//! ends within `1 + wrong + silences + resends + 1` webhooks (its [`Limits`]) whatever the
//! caller does.

use crate::directory::{Conference, DialDigits, Directory, Participant};
use crate::domain::{Code, PhoneNumber, Role};
use crate::verify::{CheckOutcome, VerifyError};

/// The per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wrong codes allowed per call; the last one ends the call.
    pub wrong: u8,
    /// Silent prompts allowed per call; the last one ends the call.
    pub silences: u8,
    /// Fresh codes a caller may ask for with `*` per call.
    pub resends: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wrong: 3,
            silences: 3,
            resends: 2,
        }
    }
}

/// The counters a call carries between webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallState {
    /// Wrong codes so far.
    pub wrong: u8,
    /// Prompts that got no input so far.
    pub silences: u8,
    /// Codes sent again at the caller's request.
    pub resends: u8,
    /// Whether a fresh code was already sent because the first one expired.
    pub refreshed: bool,
}

/// Why a call is refused before any code is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The dialed number belongs to no conference.
    UnknownLine,
    /// The caller ID is withheld or not a phone number.
    Withheld,
    /// The caller is not on the conference's list.
    NotListed,
    /// The dialect cannot join a room and the conference has no bridge to dial.
    NoBridge,
    /// The conference is locked (moderators still enter).
    Locked,
    /// The conference is full (moderators still enter).
    Full,
}

impl Refusal {
    /// A stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownLine => "unknown_line",
            Refusal::Withheld => "withheld_caller_id",
            Refusal::NotListed => "not_listed",
            Refusal::NoBridge => "no_bridge_for_this_carrier",
            Refusal::Locked => "conference_locked",
            Refusal::Full => "conference_full",
        }
    }
}

/// Decides who is calling: the conference for the dialed number and the participant for the
/// caller ID, or why the call is refused.
pub fn admit<'d>(
    directory: &'d Directory,
    dialed: Option<&PhoneNumber>,
    caller: Option<&PhoneNumber>,
) -> Result<(&'d Conference, &'d Participant), Refusal> {
    let conference = directory
        .conference_for_line(dialed)
        .ok_or(Refusal::UnknownLine)?;
    let caller = caller.ok_or(Refusal::Withheld)?;
    let participant = conference.participant(caller).ok_or(Refusal::NotListed)?;
    Ok((conference, participant))
}

/// What the caller typed at a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keypad {
    /// Nothing (the prompt timed out, or only the finish key).
    Silence,
    /// `*` alone: send the code again.
    Resend,
    /// Six digits.
    Code(Code),
    /// Anything else: too few or too many digits, letters, other keys.
    Garbage,
}

impl Keypad {
    /// Reads the carrier's `Digits` parameter.
    pub fn read(digits: Option<&str>) -> Self {
        match digits.map(str::trim) {
            None | Some("") => Keypad::Silence,
            Some("*") => Keypad::Resend,
            Some(raw) => Code::parse(raw).map_or(Keypad::Garbage, Keypad::Code),
        }
    }
}

/// What a guest typed at the PIN prompt.
#[derive(Clone, PartialEq, Eq)]
pub enum PinKeypad {
    /// Nothing.
    Silence,
    /// Digits that could be a PIN (4 to 12).
    Pin(String),
    /// Anything else: counts as a wrong PIN.
    Garbage,
}

impl std::fmt::Debug for PinKeypad {
    // The digits may be the PIN: never in a debug line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PinKeypad::Silence => "Silence",
            PinKeypad::Pin(_) => "Pin([redacted])",
            PinKeypad::Garbage => "Garbage",
        })
    }
}

impl PinKeypad {
    /// Reads the carrier's `Digits` parameter at the PIN prompt.
    pub fn read(digits: Option<&str>) -> Self {
        match digits.map(str::trim) {
            None | Some("") => PinKeypad::Silence,
            Some(raw)
                if (4..=12).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) =>
            {
                PinKeypad::Pin(raw.to_owned())
            }
            Some(_) => PinKeypad::Garbage,
        }
    }
}

/// Where and how the caller's code went, for the words that say so: the channel, and the
/// last two digits of the phone when it is not the one they call from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Route {
    /// SMS or a voice call.
    pub channel: crate::verify::Channel,
    /// The last two digits of `code_to`, when the code goes to another phone.
    pub other_phone: Option<[u8; 2]>,
}

impl Route {
    /// The route to `participant`'s code phone.
    pub fn of(participant: &Participant) -> Self {
        let other_phone = participant.code_to.as_ref().and_then(|phone| {
            let digits = phone.as_e164().as_bytes();
            let last: [u8; 2] = digits
                .get(digits.len().checked_sub(2)?..)?
                .try_into()
                .ok()?;
            Some(last)
        });
        Self {
            channel: participant.channel,
            other_phone,
        }
    }

    /// "your phone", or "your phone ending in 99".
    fn phone(&self) -> String {
        match self.other_phone {
            None => "your phone".to_owned(),
            Some([a, b]) => format!("your phone ending in {}{}", a as char, b as char),
        }
    }

    /// The words for the first code.
    fn sent(&self) -> String {
        match self.channel {
            crate::verify::Channel::Sms => format!(
                "We have sent a six-digit code by text message to {}.",
                self.phone()
            ),
            crate::verify::Channel::Voice => {
                format!("We are calling {} with a six-digit code.", self.phone())
            }
        }
    }

    /// The words for a code sent again.
    fn again(&self) -> String {
        match (self.channel, self.other_phone) {
            (crate::verify::Channel::Sms, None) => "We have sent your code again.".to_owned(),
            (crate::verify::Channel::Sms, Some(_)) => {
                format!("We have sent your code again to {}.", self.phone())
            }
            (crate::verify::Channel::Voice, _) => {
                format!("We are calling {} again with your code.", self.phone())
            }
        }
    }
}

/// Why the caller is asked for the code (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The first code was just sent.
    Welcome,
    /// The call came in again with a code already sent (a carrier retry).
    StillWaiting,
    /// The code was wrong.
    WrongCode,
    /// Nothing was typed.
    NoInput,
    /// A new code was sent on request.
    Resent,
    /// `*` again after the last allowed resend (counted as a wrong try).
    NoMoreResends,
    /// The code had expired and a fresh one was sent.
    Refreshed,
    /// A caller not on the list, at a conference with a guest PIN: asked for the PIN.
    GuestWelcome,
    /// The PIN was wrong.
    WrongPin,
}

/// Why the call ends without joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Too many wrong codes on this call.
    TooManyWrong,
    /// Too many silent prompts.
    NoInput,
    /// The verifier refused more checks for this number's code.
    TooManyChecks,
    /// The verifier refused to send more codes to this number.
    TooManySends,
    /// The code expired again after a fresh one was sent.
    Expired,
    /// The verifier could not send a code, or the store failed.
    Unavailable,
    /// The verifier could not check the code.
    CheckUnavailable,
    /// The verifier will not send codes to this number.
    CannotSend,
    /// Something failed on the server's side (the call-state store).
    Fault,
    /// The server-wide budget of codes per minute is spent.
    Busy,
    /// The caller was on the list when the call started but no longer is.
    NoLongerListed,
    /// Too many wrong PINs on this call.
    TooManyWrongPins,
    /// Too many silent PIN prompts.
    NoPin,
    /// Too many wrong PINs from this number lately.
    PinsSpent,
}

impl Ending {
    /// A stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::TooManyWrong => "too_many_wrong_codes",
            Ending::NoInput => "no_input",
            Ending::TooManyChecks => "too_many_checks",
            Ending::TooManySends => "too_many_sends",
            Ending::Expired => "code_expired",
            Ending::Unavailable => "upstream_unavailable",
            Ending::CheckUnavailable => "check_unavailable",
            Ending::CannotSend => "number_refused",
            Ending::Fault => "internal_fault",
            Ending::Busy => "code_budget_spent",
            Ending::NoLongerListed => "no_longer_listed",
            Ending::TooManyWrongPins => "too_many_wrong_pins",
            Ending::NoPin => "no_pin_input",
            Ending::PinsSpent => "wrong_pins_per_number_spent",
        }
    }
}

/// The next thing to do after a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Check this code with the verifier, then call [`CallState::after_check`].
    Check(Code),
    /// Send a code again, then call [`CallState::after_send`] with this prompt.
    Send(Prompt),
    /// Ask for the code.
    Ask(Prompt),
    /// Join the caller to the conference.
    Join,
    /// Say goodbye and hang up.
    End(Ending),
}

impl CallState {
    /// Decides what to do with what the caller typed.
    pub fn on_keypad(&mut self, keypad: Keypad, limits: &Limits) -> Next {
        match keypad {
            Keypad::Silence => {
                self.silences = self.silences.saturating_add(1);
                if self.silences >= limits.silences {
                    Next::End(Ending::NoInput)
                } else {
                    Next::Ask(Prompt::NoInput)
                }
            }
            Keypad::Resend if self.resends < limits.resends => {
                self.resends += 1;
                Next::Send(Prompt::Resent)
            }
            Keypad::Resend => self.wrong_try(Prompt::NoMoreResends, limits),
            Keypad::Code(code) => Next::Check(code),
            Keypad::Garbage => self.wrong_try(Prompt::WrongCode, limits),
        }
    }

    fn wrong_try(&mut self, prompt: Prompt, limits: &Limits) -> Next {
        self.wrong = self.wrong.saturating_add(1);
        if self.wrong >= limits.wrong {
            Next::End(Ending::TooManyWrong)
        } else {
            Next::Ask(prompt)
        }
    }

    /// Decides what to do with what a guest typed at the PIN prompt: `Check` is never
    /// returned; a PIN is compared by the caller of this function (see `after_pin`).
    pub fn on_pin_silence_or_garbage(
        &mut self,
        keypad: &PinKeypad,
        limits: &Limits,
    ) -> Option<Next> {
        match keypad {
            PinKeypad::Silence => {
                self.silences = self.silences.saturating_add(1);
                Some(if self.silences >= limits.silences {
                    Next::End(Ending::NoPin)
                } else {
                    Next::Ask(Prompt::NoInput)
                })
            }
            PinKeypad::Garbage => Some(self.wrong_pin(limits)),
            PinKeypad::Pin(_) => None,
        }
    }

    /// Decides what follows a PIN comparison.
    pub fn after_pin(&mut self, right: bool, limits: &Limits) -> Next {
        if right {
            Next::Join
        } else {
            self.wrong_pin(limits)
        }
    }

    fn wrong_pin(&mut self, limits: &Limits) -> Next {
        self.wrong = self.wrong.saturating_add(1);
        if self.wrong >= limits.wrong {
            Next::End(Ending::TooManyWrongPins)
        } else {
            Next::Ask(Prompt::WrongPin)
        }
    }

    /// Decides what follows the verifier's answer to a check.
    pub fn after_check(
        &mut self,
        result: Result<CheckOutcome, VerifyError>,
        limits: &Limits,
    ) -> Next {
        match result {
            Ok(CheckOutcome::Approved) => Next::Join,
            Ok(CheckOutcome::Rejected) => self.wrong_try(Prompt::WrongCode, limits),
            Err(VerifyError::NotFound) if !self.refreshed => {
                self.refreshed = true;
                Next::Send(Prompt::Refreshed)
            }
            Err(VerifyError::NotFound) => Next::End(Ending::Expired),
            Err(VerifyError::TooManyChecks) => Next::End(Ending::TooManyChecks),
            Err(VerifyError::TooManySends) => Next::End(Ending::TooManySends),
            Err(VerifyError::Refused(_) | VerifyError::Unavailable(_)) => {
                Next::End(Ending::CheckUnavailable)
            }
        }
    }

    /// Decides what follows the verifier's answer to a send.
    pub fn after_send<T>(&self, result: Result<T, VerifyError>, prompt: Prompt) -> Next {
        match result {
            Ok(_) => Next::Ask(prompt),
            Err(VerifyError::TooManySends) => Next::End(Ending::TooManySends),
            Err(VerifyError::Refused(_)) => Next::End(Ending::CannotSend),
            Err(_) => Next::End(Ending::Unavailable),
        }
    }
}

/// What the caller is asked to type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The six-digit one-time code.
    Code,
    /// The conference's guest PIN (4 to 12 digits, then `#`).
    Pin,
    /// One key of the in-call menu (`#` included).
    MenuKey,
}

/// Where a verified caller goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A named conference room.
    Room {
        /// The conference room.
        conference: String,
        /// Moderator or participant.
        role: Role,
        /// Music while waiting for a moderator.
        hold_music: Option<String>,
        /// The room's size (`maxParticipants`).
        max_participants: u32,
        /// Whether the caller enters muted (kept across a visit to the keypad menu).
        muted: bool,
    },
    /// An existing dial-in bridge, with the keys to send for this role.
    Bridge {
        /// The bridge's number.
        number: PhoneNumber,
        /// The keys sent once it answers (never spoken, never logged).
        digits: Option<DialDigits>,
        /// The role the keys are for.
        role: Role,
    },
}

/// What to tell the carrier, independent of its markup language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Explain and refuse the call.
    Refuse {
        /// What the caller hears.
        say: String,
    },
    /// Gather the code (or PIN).
    Ask {
        /// What the caller hears while the keypad is open.
        say: Vec<String>,
        /// What the keypad is for.
        expect: Expect,
    },
    /// Join the conference.
    Join {
        /// What the caller hears first.
        say: String,
        /// Where the caller goes.
        target: Target,
    },
    /// Say goodbye and hang up.
    End {
        /// What the caller hears.
        say: String,
    },
}

const ENTER_CODE: &str = "Please enter the six-digit code from the text message, then press the pound key. \
     To get a new code, press star.";

const ENTER_PIN: &str = "Please enter the conference PIN, then press the pound key.";

impl Reply {
    /// The words for a refused call.
    pub fn refuse(refusal: Refusal) -> Self {
        let say = match refusal {
            Refusal::UnknownLine => "Sorry, this number is not set up for any conference. Goodbye.",
            Refusal::Withheld => {
                "Sorry, your caller ID is withheld, so your number is not on the list for this \
                 conference. Please call again without hiding your number. Goodbye."
            }
            Refusal::NotListed => {
                "Sorry, the number you are calling from is not on the list for this conference. \
                 Goodbye."
            }
            Refusal::NoBridge => {
                "Sorry, this line is not set up yet. Please contact the organizer. Goodbye."
            }
            Refusal::Locked => "This conference is locked. Goodbye.",
            Refusal::Full => "Sorry, this conference is full. Please try again later. Goodbye.",
        };
        Reply::Refuse { say: say.into() }
    }

    /// The words for a prompt; `route` says where the code went.
    pub fn ask(prompt: Prompt, conference: &str, route: &Route) -> Self {
        let first = match prompt {
            Prompt::Welcome => format!("Welcome to {conference}. {}", route.sent()),
            Prompt::StillWaiting => {
                format!("Welcome back to {conference}. Your code has already been sent.")
            }
            Prompt::WrongCode => "That code is not right.".into(),
            Prompt::NoInput => "We did not hear anything.".into(),
            Prompt::Resent => route.again(),
            Prompt::NoMoreResends => {
                "No more codes can be sent on this call. Please use the code you have.".into()
            }
            Prompt::Refreshed => "Your code had expired. We have sent you a new one.".into(),
            Prompt::GuestWelcome => format!(
                "Welcome to {conference}. Your number is not on the list for this conference, \
                 but you may join as a guest with the conference PIN."
            ),
            Prompt::WrongPin => "That PIN is not right.".into(),
        };
        let (last, expect) = match prompt {
            Prompt::GuestWelcome | Prompt::WrongPin => (ENTER_PIN, Expect::Pin),
            _ => (ENTER_CODE, Expect::Code),
        };
        Reply::Ask {
            say: vec![first, last.into()],
            expect,
        }
    }

    /// The words for asking a guest for the PIN again after silence.
    pub fn ask_pin_again() -> Self {
        Reply::Ask {
            say: vec!["We did not hear anything.".into(), ENTER_PIN.into()],
            expect: Expect::Pin,
        }
    }

    /// The words and destination for joining: the conference's bridge when it has one, else
    /// its room.
    pub fn join(participant: &Participant, conference: &Conference) -> Self {
        let target = target(conference, participant.role);
        let menu = if matches!(target, Target::Room { .. }) {
            " Press star at any time for options."
        } else {
            ""
        };
        Reply::Join {
            say: format!(
                "Thank you, {}. Joining {}.{menu}",
                participant.name,
                conference.name()
            ),
            target,
        }
    }

    /// The words and room for a caller going back in from the keypad menu, muted or not.
    pub fn rejoin(conference: &Conference, role: Role, muted: bool) -> Self {
        let mut target = target(conference, role);
        if let Target::Room { muted: m, .. } = &mut target {
            *m = muted;
        }
        Reply::Join {
            say: format!("Back to {}.", conference.name()),
            target,
        }
    }

    /// The words and room for a dropped call's caller back within `rejoin_minutes`.
    pub fn welcome_back(participant: &Participant, conference: &Conference) -> Self {
        Reply::Join {
            say: format!(
                "Welcome back, {}. Rejoining {}.",
                participant.name,
                conference.name()
            ),
            target: target(conference, participant.role),
        }
    }

    /// The in-call menu, after `first` (what the last key did, if anything).
    pub fn menu(first: Option<String>, role: Role, muted: bool, locked: bool) -> Self {
        let mut say = Vec::new();
        if let Some(first) = first {
            say.push(first);
        }
        let mut options = format!(
            "Press 1 to {} yourself, 2 to hear how many people are on the call",
            if muted { "unmute" } else { "mute" }
        );
        if role == Role::Moderator {
            options.push_str(&format!(
                ", 3 to {} the conference, 4 to mute everyone else, 9 to end the conference for everyone",
                if locked { "unlock" } else { "lock" }
            ));
        }
        options.push_str(", or pound to go back to the conference.");
        say.push(options);
        Reply::Ask {
            say,
            expect: Expect::MenuKey,
        }
    }

    /// The words and destination for a guest who gave the right PIN (always a participant).
    pub fn join_guest(conference: &Conference) -> Self {
        let target = target(conference, Role::Participant);
        let menu = if matches!(target, Target::Room { .. }) {
            " Press star at any time for options."
        } else {
            ""
        };
        Reply::Join {
            say: format!("Thank you. Joining {} as a guest.{menu}", conference.name()),
            target,
        }
    }

    /// The words for a call that ends without joining.
    pub fn end(ending: Ending) -> Self {
        let say = match ending {
            Ending::TooManyWrong => "That code is not right, and that was the last try. Goodbye.",
            Ending::NoInput => "We did not receive a code. Goodbye.",
            Ending::TooManyChecks => {
                "Too many wrong codes have been entered for this number. Please try again later. Goodbye."
            }
            Ending::TooManySends => {
                "Too many codes have been requested for this number. Please try again later. Goodbye."
            }
            Ending::Expired => "Your code has expired. Please call again. Goodbye.",
            Ending::Unavailable => {
                "Sorry, we cannot send your code right now. Please try again in a few minutes. Goodbye."
            }
            Ending::CheckUnavailable => {
                "Sorry, we cannot check your code right now. Please try again in a few minutes. Goodbye."
            }
            Ending::CannotSend => {
                "Sorry, we cannot send a code to the number on file for you. \
                 Please contact the organizer. Goodbye."
            }
            Ending::Fault => {
                "Sorry, something went wrong on our side. Please call again in a few minutes. Goodbye."
            }
            Ending::Busy => {
                "Sorry, we are receiving a great many calls right now. Please try again in a minute. Goodbye."
            }
            Ending::NoLongerListed => {
                "Sorry, your number is no longer on the list for this conference. Goodbye."
            }
            Ending::TooManyWrongPins => {
                "That PIN is not right, and that was the last try. Goodbye."
            }
            Ending::NoPin => "We did not receive a PIN. Goodbye.",
            Ending::PinsSpent => {
                "Too many wrong PINs have been entered from this number. Please try again later. Goodbye."
            }
        };
        Reply::End { say: say.into() }
    }
}

/// Where a caller with `role` goes in `conference`.
fn target(conference: &Conference, role: Role) -> Target {
    match conference.bridge() {
        Some(bridge) => Target::Bridge {
            number: bridge.number.clone(),
            digits: match role {
                Role::Moderator => bridge.moderator_digits.clone(),
                Role::Participant => bridge.participant_digits.clone(),
            },
            role,
        },
        None => Target::Room {
            conference: conference.name().to_owned(),
            role,
            hold_music: conference.hold_music().map(str::to_owned),
            max_participants: conference.max_participants(),
            muted: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CallState {
        CallState::default()
    }

    const L: Limits = Limits {
        wrong: 3,
        silences: 3,
        resends: 2,
    };

    fn code() -> Code {
        Code::parse("123456").unwrap()
    }

    #[test]
    fn keypad_input_is_classified() {
        assert_eq!(Keypad::read(None), Keypad::Silence);
        assert_eq!(Keypad::read(Some("")), Keypad::Silence);
        assert_eq!(Keypad::read(Some("*")), Keypad::Resend);
        assert_eq!(Keypad::read(Some("123456")), Keypad::Code(code()));
        for garbage in [
            "12345",
            "1234567",
            "12345a",
            "**",
            "1*3456",
            "12\u{0}456",
            "#",
        ] {
            assert_eq!(Keypad::read(Some(garbage)), Keypad::Garbage, "{garbage:?}");
        }
    }

    #[test]
    fn third_wrong_code_ends_the_call() {
        let mut s = state();
        for _ in 0..2 {
            assert_eq!(
                s.after_check(Ok(CheckOutcome::Rejected), &L),
                Next::Ask(Prompt::WrongCode)
            );
        }
        assert_eq!(
            s.after_check(Ok(CheckOutcome::Rejected), &L),
            Next::End(Ending::TooManyWrong)
        );
    }

    #[test]
    fn garbage_counts_as_a_wrong_code_without_a_check() {
        let mut s = state();
        assert_eq!(
            s.on_keypad(Keypad::Garbage, &L),
            Next::Ask(Prompt::WrongCode)
        );
        assert_eq!(s.wrong, 1);
    }

    #[test]
    fn third_silence_ends_the_call() {
        let mut s = state();
        assert_eq!(s.on_keypad(Keypad::Silence, &L), Next::Ask(Prompt::NoInput));
        assert_eq!(s.on_keypad(Keypad::Silence, &L), Next::Ask(Prompt::NoInput));
        assert_eq!(s.on_keypad(Keypad::Silence, &L), Next::End(Ending::NoInput));
    }

    #[test]
    fn star_resends_twice_then_counts_as_wrong() {
        let mut s = state();
        assert_eq!(s.on_keypad(Keypad::Resend, &L), Next::Send(Prompt::Resent));
        assert_eq!(s.on_keypad(Keypad::Resend, &L), Next::Send(Prompt::Resent));
        assert_eq!(
            s.on_keypad(Keypad::Resend, &L),
            Next::Ask(Prompt::NoMoreResends)
        );
        assert_eq!(s.wrong, 1);
    }

    #[test]
    fn an_expired_code_is_refreshed_once() {
        let mut s = state();
        assert_eq!(
            s.after_check(Err(VerifyError::NotFound), &L),
            Next::Send(Prompt::Refreshed)
        );
        assert_eq!(
            s.after_check(Err(VerifyError::NotFound), &L),
            Next::End(Ending::Expired)
        );
    }

    #[test]
    fn verifier_faults_end_the_call() {
        let mut s = state();
        assert_eq!(
            s.after_check(Err(VerifyError::Unavailable("down".into())), &L),
            Next::End(Ending::CheckUnavailable)
        );
        assert_eq!(
            s.after_send(
                Err::<(), _>(VerifyError::Refused("landline".into())),
                Prompt::Welcome
            ),
            Next::End(Ending::CannotSend)
        );
        assert_eq!(
            s.after_check(Err(VerifyError::TooManyChecks), &L),
            Next::End(Ending::TooManyChecks)
        );
        assert_eq!(
            s.after_send(Err::<(), _>(VerifyError::TooManySends), Prompt::Resent),
            Next::End(Ending::TooManySends)
        );
        assert_eq!(
            s.after_send(
                Err::<(), _>(VerifyError::Unavailable("x".into())),
                Prompt::Resent
            ),
            Next::End(Ending::Unavailable)
        );
    }

    #[test]
    fn every_call_ends_within_a_bounded_number_of_inputs() {
        // Whatever the caller types, and whatever a wrong-code verifier says, the call ends.
        let inputs = [
            Keypad::Silence,
            Keypad::Resend,
            Keypad::Garbage,
            Keypad::Code(code()),
        ];
        let bound = 1 + L.wrong + L.silences + L.resends + 1;
        for seed in 0..256u32 {
            let mut s = state();
            let mut steps = 0;
            let ended = loop {
                steps += 1;
                if steps > bound as u32 {
                    break false;
                }
                let input = inputs[((seed >> ((steps * 2) % 16)) & 3) as usize].clone();
                let mut next = s.on_keypad(input, &L);
                if let Next::Check(_) = next {
                    next = s.after_check(Ok(CheckOutcome::Rejected), &L);
                }
                if let Next::Send(prompt) = next {
                    next = s.after_send(Ok(()), prompt);
                }
                if let Next::End(_) = next {
                    break true;
                }
            };
            assert!(ended, "seed {seed} did not end within {bound} inputs");
        }
    }
}
