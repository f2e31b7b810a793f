//! The participants file: which conferences exist, which dialed numbers reach them, and who
//! may join each one. Loading it checks every rule up front and refuses the file with a
//! `FILE:LINE: what is wrong` message; phone numbers only ever leave this module masked.

use crate::domain::redact::redact;
use crate::domain::{PhoneError, PhoneNumber, Role};
use crate::verify::Channel;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use toml::Spanned;

/// Every conference in the participants file, with the lookups the call flow needs.
#[derive(Debug, Clone)]
pub struct Directory {
    conferences: Vec<Conference>,
    /// Dialed number (the call's `To`) to index in `conferences`.
    lines: HashMap<PhoneNumber, usize>,
    /// The one conference that answers any dialed number (a single room without `numbers`).
    fallback: Option<usize>,
    warnings: Vec<String>,
    /// The file as it was named, for errors found after parsing.
    origin: String,
}

/// One conference room: its name, the numbers that reach it and the people on its list.
#[derive(Debug, Clone)]
pub struct Conference {
    name: String,
    numbers: Vec<PhoneNumber>,
    hold_music: Option<String>,
    participants: Vec<Participant>,
    by_phone: HashMap<PhoneNumber, usize>,
    bridge: Option<Bridge>,
    guest_pin: Option<GuestPin>,
    max_participants: u32,
    rejoin_minutes: u32,
}

/// An existing dial-in bridge a verified caller is dialed into, with the keys sent for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The bridge's dial-in number.
    pub number: PhoneNumber,
    /// Keys sent once the bridge answers, for a moderator.
    pub moderator_digits: Option<DialDigits>,
    /// Keys sent once the bridge answers, for a participant.
    pub participant_digits: Option<DialDigits>,
}

/// Keys to send to a bridge (`0-9`, `*`, `#`, `w`/`W` for a pause): a meeting code, so its
/// `Debug` never shows them and nothing logs or speaks them.
#[derive(Clone, PartialEq, Eq)]
pub struct DialDigits(String);

impl DialDigits {
    /// The longest key sequence accepted.
    pub const MAX_LEN: usize = 64;

    /// Reads a key sequence, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return Err("is longer than 64 keys");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'w' | b'W'))
        {
            return Err("may hold only 0-9, *, # and w or W (a half-second pause)");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The keys, for the one place that sends them (the dialect's `sendDigits`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DialDigits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DialDigits([redacted])")
    }
}

/// A conference's static PIN for callers who are not on its list (4 to 12 digits). `Debug`
/// never shows it; it is compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestPin(String);

impl GuestPin {
    /// Reads a PIN, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if !(4..=12).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 4 to 12 digits");
        }
        if raw.bytes().all(|b| b == raw.as_bytes()[0]) {
            return Err("must not be one digit repeated");
        }
        Ok(Self(raw.to_owned()))
    }

    /// Whether `typed` is the PIN, compared in constant time.
    pub fn matches(&self, typed: &str) -> bool {
        use subtle::ConstantTimeEq;
        // Lengths are not secret (4 to 12 digits); the digits are.
        self.0.len() == typed.len() && bool::from(self.0.as_bytes().ct_eq(typed.as_bytes()))
    }
}

impl std::fmt::Debug for GuestPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestPin([redacted])")
    }
}

/// A person allowed into a conference, known by the phone they call from.
#[derive(Debug, Clone)]
pub struct Participant {
    /// The name shown in summaries and logs.
    pub name: String,
    /// The caller ID they call from, normalized to E.164.
    pub phone: PhoneNumber,
    /// Whether they start and end the conference or wait for someone who does.
    pub role: Role,
    /// How their code reaches them (`channel`, SMS by default).
    pub channel: Channel,
    /// The phone that receives their code when it is not the caller ID (`code_to`).
    pub code_to: Option<PhoneNumber>,
    /// The line that sets their channel (`channel`, else their table), for errors.
    pub channel_line: usize,
}

impl Participant {
    /// The phone that receives the code: `code_to`, else the caller ID.
    pub fn code_phone(&self) -> &PhoneNumber {
        self.code_to.as_ref().unwrap_or(&self.phone)
    }
}

/// Why the participants file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The file could not be read at all.
    #[error("{file}: cannot read: {source}")]
    Unreadable {
        /// The file as it was named.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, a value has the wrong type, or a key is unknown.
    #[error("{file}:{line}: {message}")]
    Toml {
        /// The file as it was named.
        file: String,
        /// 1-based line of the offending text.
        line: usize,
        /// What is wrong, with any phone number in it masked.
        message: String,
    },
    /// The file is valid TOML but breaks a rule of the participants format.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        /// The file as it was named.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// Which rule is broken.
        problem: Problem,
    },
}

/// A broken rule of the participants format (the file itself is valid TOML).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    /// The file defines no conference.
    #[error("no [[conference]] table: the file must define at least one conference")]
    NoConference,
    /// A required key is absent from a table.
    #[error("{table} has no `{key}`, which is required")]
    MissingKey {
        /// The table, as written in the file (`[[conference]]`).
        table: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// A `name` is empty or only spaces.
    #[error("`name` of a {table} is empty")]
    EmptyName {
        /// The table, as written in the file.
        table: &'static str,
    },
    /// Two conferences share a name.
    #[error("duplicate conference name \"{name}\" (first used on line {first_line})")]
    DuplicateConference {
        /// The repeated name.
        name: String,
        /// Where the name was first used.
        first_line: usize,
    },
    /// Two participants of one conference have the same number once normalized.
    #[error(
        "phone number {number} is listed twice in conference \"{conference}\" (first on line {first_line})"
    )]
    DuplicateParticipant {
        /// The repeated number, masked.
        number: String,
        /// The conference that lists it twice.
        conference: String,
        /// Where the number was first listed.
        first_line: usize,
    },
    /// A dialed number appears twice in one conference's `numbers`.
    #[error(
        "dialed number {number} is listed twice in `numbers` of conference \"{conference}\" (first on line {first_line})"
    )]
    DuplicateLine {
        /// The repeated number, masked.
        number: String,
        /// The conference that lists it twice.
        conference: String,
        /// Where the number was first listed.
        first_line: usize,
    },
    /// A phone number that cannot be read.
    #[error("{what} is not a usable phone number: {reason}")]
    BadPhone {
        /// Where it was written: "`phone`" or "an entry of `numbers`".
        what: &'static str,
        /// Why the number was refused.
        reason: PhoneError,
    },
    /// A dialed number listed by two conferences, so a call to it could not be routed.
    #[error(
        "dialed number {number} is claimed by both \"{first}\" (line {first_line}) and \"{second}\"; a dialed number can reach only one conference"
    )]
    LineClaimedTwice {
        /// The number, masked.
        number: String,
        /// The conference that listed it first.
        first: String,
        /// Where the first conference listed it.
        first_line: usize,
        /// The conference that listed it again.
        second: String,
    },
    /// A conference without `numbers` when there are several, so no call can reach it.
    #[error(
        "conference \"{conference}\" has no `numbers`: with several conferences each must list the dialed numbers that reach it"
    )]
    MissingNumbers {
        /// The conference.
        conference: String,
    },
    /// A `hold_music` that is not an absolute http or https URL.
    #[error("`hold_music` must be an absolute http(s) URL, not \"{value}\" ({reason})")]
    BadHoldMusic {
        /// The value as written, with any phone number in it masked.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name holding control characters, which would break the carrier's document and the
    /// operator's terminal.
    #[error("`name` of a {table} holds a control character ({found}); use plain text")]
    ControlCharacter {
        /// The table, as written in the file.
        table: &'static str,
        /// The character, escaped.
        found: String,
    },
    /// Keys for a bridge that cannot be sent.
    #[error("`{key}` of [conference.bridge] {reason}")]
    BadDigits {
        /// `moderator_digits` or `participant_digits`.
        key: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A guest PIN that is too weak or not digits.
    #[error("`guest_pin` {0}")]
    BadPin(&'static str),
    /// A number setting out of its range.
    #[error("`{key}` must be {range}")]
    BadNumberSetting {
        /// The key.
        key: &'static str,
        /// The range allowed.
        range: &'static str,
    },
    /// A `channel` other than the known ones.
    #[error("unknown channel \"{0}\": allowed values are \"sms\" and \"voice\"")]
    UnknownChannel(String),
    /// A `channel` the configured verifier cannot deliver.
    #[error(
        "participant \"{participant}\" asks for channel \"{channel}\", which the verifier \"{verifier}\" cannot deliver ({hint})"
    )]
    ChannelNotServed {
        /// The participant's name.
        participant: String,
        /// The channel asked for.
        channel: Channel,
        /// The verifier's name (`BRIDGEKEEPER_VERIFIER`).
        verifier: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A `role` other than the known ones.
    #[error("unknown role \"{role}\": allowed values are \"moderator\" and \"participant\"")]
    UnknownRole {
        /// The role as written, with any phone number in it masked.
        role: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    conference: Vec<Spanned<RawConference>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConference {
    name: Option<Spanned<String>>,
    numbers: Option<Spanned<Vec<Spanned<String>>>>,
    hold_music: Option<Spanned<String>>,
    bridge: Option<Spanned<RawBridge>>,
    guest_pin: Option<Spanned<String>>,
    max_participants: Option<Spanned<i64>>,
    rejoin_minutes: Option<Spanned<i64>>,
    #[serde(default)]
    participant: Vec<Spanned<RawParticipant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    number: Option<Spanned<String>>,
    moderator_digits: Option<Spanned<String>>,
    participant_digits: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParticipant {
    name: Option<Spanned<String>>,
    phone: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    channel: Option<Spanned<String>>,
    code_to: Option<Spanned<String>>,
}

const CONFERENCE_TABLE: &str = "[[conference]]";

/// The default (and largest) `max_participants`: the carriers' own cap on a conference.
pub const DEFAULT_MAX_PARTICIPANTS: u32 = 250;

/// The longest `rejoin_minutes`.
pub const MAX_REJOIN_MINUTES: u32 = 120;
const PARTICIPANT_TABLE: &str = "[[conference.participant]]";

impl Directory {
    /// Reads and checks the participants file; errors name the file as given.
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let origin = path.display().to_string();
        let source =
            std::fs::read_to_string(path).map_err(|source| DirectoryError::Unreadable {
                file: origin.clone(),
                source,
            })?;
        Self::parse(&source, &origin)
    }

    /// Parses and checks participants-file text; `origin` is the file name used in messages.
    pub fn parse(source: &str, origin: &str) -> Result<Directory, DirectoryError> {
        let raw: RawFile = toml::from_str(source).map_err(|e| DirectoryError::Toml {
            file: origin.to_owned(),
            line: e.span().map_or(1, |span| line_of(source, span.start)),
            message: toml_message(e.message()),
        })?;
        Builder {
            source,
            newlines: newlines(source),
            origin,
            several: raw.conference.len() > 1,
            directory: Directory {
                conferences: Vec::new(),
                lines: HashMap::new(),
                fallback: None,
                warnings: Vec::new(),
                origin: origin.to_owned(),
            },
            names: HashMap::new(),
            line_of_number: HashMap::new(),
        }
        .build(raw)
    }

    /// All conferences, in file order.
    pub fn conferences(&self) -> &[Conference] {
        &self.conferences
    }

    /// The conference a call to `dialed` (the call's `To`) reaches, if any.
    pub fn conference_for_line(&self, dialed: Option<&PhoneNumber>) -> Option<&Conference> {
        let index = match dialed.and_then(|number| self.lines.get(number)) {
            Some(&index) => index,
            None => self.fallback?,
        };
        self.conferences.get(index)
    }

    /// Refuses the file when a participant asks for a channel the verifier cannot deliver
    /// (`verifier` names it for the message): at start-up, on reload and in `check`, never at
    /// call time.
    pub fn check_channels(
        &self,
        verifier: &str,
        channels: &[Channel],
    ) -> Result<(), DirectoryError> {
        for conference in &self.conferences {
            for p in &conference.participants {
                if !channels.contains(&p.channel) {
                    return Err(DirectoryError::Invalid {
                        file: self.origin.clone(),
                        line: p.channel_line,
                        problem: Problem::ChannelNotServed {
                            participant: p.name.clone(),
                            channel: p.channel,
                            verifier: verifier.to_owned(),
                            hint: match p.channel {
                                Channel::Voice => {
                                    "the built-in engine sends text messages only; use channel \"sms\" or a Verify provider (twilio, telnyx, messagebird)"
                                }
                                Channel::Sms => "use a channel it offers",
                            },
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// Things that are allowed but probably wrong (a conference without a moderator).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// A human summary for `bridgekeeper check`; phone numbers appear masked only.
    pub fn summary(&self) -> String {
        let people: usize = self.conferences.iter().map(|c| c.participants.len()).sum();
        let width = self
            .conferences
            .iter()
            .flat_map(|c| &c.participants)
            .map(|p| p.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "{}, {}\n",
            plural(self.conferences.len(), "conference"),
            plural(people, "participant")
        );
        for conference in &self.conferences {
            let reach = if conference.numbers.is_empty() {
                "answers any dialed number".to_owned()
            } else {
                let masked: Vec<String> =
                    conference.numbers.iter().map(PhoneNumber::masked).collect();
                format!("dialed at {}", masked.join(", "))
            };
            let _ = writeln!(out, "{} — {reach}", conference.name);
            if let Some(url) = &conference.hold_music {
                let _ = writeln!(out, "  hold music   {url}");
            }
            match &conference.bridge {
                Some(bridge) => {
                    let _ = writeln!(
                        out,
                        "  bridge       {} (keys sent for the caller, not shown)",
                        bridge.number.masked()
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  note: no [conference.bridge], so CarrierX (FlexML) calls to it are told \
                         the line is not set up"
                    );
                }
            }
            if conference.guest_pin.is_some() {
                let _ = writeln!(
                    out,
                    "  guest PIN    set (callers not on the list may enter it; not shown)"
                );
            }
            for p in &conference.participants {
                let delivery = match (&p.code_to, p.channel) {
                    (None, Channel::Sms) => String::new(),
                    (None, channel) => format!("  code by {channel}"),
                    (Some(other), channel) => {
                        format!("  code by {channel} to {}", other.masked())
                    }
                };
                let _ = writeln!(
                    out,
                    "  {:<11}  {:<width$}  {}{delivery}",
                    p.role.as_str(),
                    p.name,
                    p.phone.masked()
                );
            }
            if !conference.has_moderator() {
                let _ = writeln!(
                    out,
                    "  warning: no moderator, so participants would wait forever"
                );
            }
        }
        out
    }
}

impl Conference {
    /// The room name (unique in the file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dialed numbers that reach this room; empty when it is the only room and answers all.
    pub fn numbers(&self) -> &[PhoneNumber] {
        &self.numbers
    }

    /// The absolute http(s) URL played while waiting for a moderator, if any.
    pub fn hold_music(&self) -> Option<&str> {
        self.hold_music.as_deref()
    }

    /// Everyone on this room's list, in file order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// The person on this room's list who calls from `phone`, if any.
    pub fn participant(&self, phone: &PhoneNumber) -> Option<&Participant> {
        self.by_phone
            .get(phone)
            .and_then(|&index| self.participants.get(index))
    }

    /// The dial-in bridge callers are dialed into instead of a room, if any.
    pub fn bridge(&self) -> Option<&Bridge> {
        self.bridge.as_ref()
    }

    /// The most people on the call at once (`max_participants`, 250 by default); moderators
    /// still enter a full room.
    pub fn max_participants(&self) -> u32 {
        self.max_participants
    }

    /// Minutes after a dropped call in which its caller may rejoin without a new code (0: off).
    pub fn rejoin_minutes(&self) -> u32 {
        self.rejoin_minutes
    }

    /// The conference's guest PIN, if it admits guests.
    pub fn guest_pin(&self) -> Option<&GuestPin> {
        self.guest_pin.as_ref()
    }

    fn has_moderator(&self) -> bool {
        self.participants.iter().any(|p| p.role == Role::Moderator)
    }
}

/// Checks the deserialized file rule by rule, in file order, and builds the lookups.
struct Builder<'a> {
    source: &'a str,
    /// The byte offsets of the source's line ends, for [`Builder::line`].
    newlines: Vec<usize>,
    origin: &'a str,
    several: bool,
    directory: Directory,
    /// Conference name to the line it was first used on.
    names: HashMap<String, usize>,
    /// Dialed number to the line it was first listed on.
    line_of_number: HashMap<PhoneNumber, usize>,
}

impl Builder<'_> {
    fn build(mut self, raw: RawFile) -> Result<Directory, DirectoryError> {
        if raw.conference.is_empty() {
            return Err(self.invalid(0, Problem::NoConference));
        }
        for conference in raw.conference {
            self.conference(conference)?;
        }
        if !self.several
            && let Some(only) = self.directory.conferences.first()
            && only.numbers.is_empty()
        {
            self.directory.fallback = Some(0);
        }
        Ok(self.directory)
    }

    fn conference(&mut self, spanned: Spanned<RawConference>) -> Result<(), DirectoryError> {
        let header = spanned.span().start;
        let raw = spanned.into_inner();
        let index = self.directory.conferences.len();

        let (name, name_at) = self.name(raw.name, header, CONFERENCE_TABLE)?;
        if let Some(&first_line) = self.names.get(&name) {
            return Err(self.invalid(name_at, Problem::DuplicateConference { name, first_line }));
        }
        self.names.insert(name.clone(), self.line(name_at));

        let mut numbers = Vec::new();
        let mut own_lines: HashMap<PhoneNumber, usize> = HashMap::new();
        let numbers_at = raw.numbers.as_ref().map_or(header, |n| n.span().start);
        for entry in raw.numbers.map(Spanned::into_inner).unwrap_or_default() {
            let at = entry.span().start;
            let number = self.phone(&entry, "an entry of `numbers`")?;
            if let Some(&first_line) = own_lines.get(&number) {
                return Err(self.invalid(
                    at,
                    Problem::DuplicateLine {
                        number: number.masked(),
                        conference: name,
                        first_line,
                    },
                ));
            }
            if let Some(&other) = self.directory.lines.get(&number) {
                let first = self
                    .directory
                    .conferences
                    .get(other)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                let first_line = self.line_of_number.get(&number).copied().unwrap_or(1);
                return Err(self.invalid(
                    at,
                    Problem::LineClaimedTwice {
                        number: number.masked(),
                        first,
                        first_line,
                        second: name,
                    },
                ));
            }
            own_lines.insert(number.clone(), self.line(at));
            numbers.push(number);
        }
        if self.several && numbers.is_empty() {
            return Err(self.invalid(numbers_at, Problem::MissingNumbers { conference: name }));
        }

        let hold_music = match raw.hold_music {
            Some(value) => Some(self.hold_music(&value)?),
            None => None,
        };
        let bridge = match raw.bridge {
            Some(bridge) => Some(self.bridge(bridge)?),
            None => None,
        };
        let max_participants = match raw.max_participants {
            None => DEFAULT_MAX_PARTICIPANTS,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(v @ 2..=DEFAULT_MAX_PARTICIPANTS) => v,
                _ => {
                    return Err(self.invalid(
                        n.span().start,
                        Problem::BadNumberSetting {
                            key: "max_participants",
                            range: "2 to 250 (the carriers' own cap)",
                        },
                    ));
                }
            },
        };
        let rejoin_minutes = match raw.rejoin_minutes {
            None => 0,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(v @ 0..=MAX_REJOIN_MINUTES) => v,
                _ => {
                    return Err(self.invalid(
                        n.span().start,
                        Problem::BadNumberSetting {
                            key: "rejoin_minutes",
                            range: "0 (off) to 120",
                        },
                    ));
                }
            },
        };
        let guest_pin = match raw.guest_pin {
            Some(pin) => Some(
                GuestPin::parse(pin.get_ref())
                    .map_err(|why| self.invalid(pin.span().start, Problem::BadPin(why)))?,
            ),
            None => None,
        };

        let mut participants = Vec::new();
        let mut by_phone = HashMap::new();
        let mut phone_lines: HashMap<PhoneNumber, usize> = HashMap::new();
        for spanned in raw.participant {
            let table_at = spanned.span().start;
            let entry = spanned.into_inner();
            let (person, _) = self.name(entry.name, table_at, PARTICIPANT_TABLE)?;
            let Some(phone_raw) = entry.phone else {
                return Err(self.missing(table_at, PARTICIPANT_TABLE, "phone"));
            };
            let phone = self.phone(&phone_raw, "`phone`")?;
            let at = phone_raw.span().start;
            if let Some(&first_line) = phone_lines.get(&phone) {
                return Err(self.invalid(
                    at,
                    Problem::DuplicateParticipant {
                        number: phone.masked(),
                        conference: name,
                        first_line,
                    },
                ));
            }
            let role = match entry.role {
                Some(role) => self.role(&role)?,
                None => Role::default(),
            };
            let channel = match &entry.channel {
                Some(raw) => match raw.get_ref().trim() {
                    "sms" => Channel::Sms,
                    "voice" => Channel::Voice,
                    other => {
                        return Err(
                            self.invalid(raw.span().start, Problem::UnknownChannel(redact(other)))
                        );
                    }
                },
                None => Channel::Sms,
            };
            let channel_line = self.line(
                entry
                    .channel
                    .as_ref()
                    .map_or(table_at, |raw| raw.span().start),
            );
            let code_to = match &entry.code_to {
                Some(raw) => Some(self.phone(raw, "`code_to`")?),
                None => None,
            };
            if channel == Channel::Voice && code_to.is_none() {
                self.directory.warnings.push(format!(
                    "{}:{}: participant \"{person}\" gets the code in a voice call to the phone \
                     they are calling from, which rings only with call waiting; set `code_to` to \
                     another phone",
                    self.origin, channel_line
                ));
            }
            if code_to.as_ref() == Some(&phone) {
                self.directory.warnings.push(format!(
                    "{}:{}: participant \"{person}\" has `code_to` equal to `phone`; it can go",
                    self.origin,
                    self.line(at)
                ));
            }
            phone_lines.insert(phone.clone(), self.line(at));
            by_phone.insert(phone.clone(), participants.len());
            participants.push(Participant {
                name: person,
                phone,
                role,
                channel,
                code_to,
                channel_line,
            });
        }

        let conference = Conference {
            name,
            numbers,
            hold_music,
            participants,
            by_phone,
            bridge,
            guest_pin,
            max_participants,
            rejoin_minutes,
        };
        if !conference.has_moderator() {
            self.directory.warnings.push(format!(
                "{}:{}: conference \"{}\" has no moderator, so its participants would wait forever",
                self.origin,
                self.line(header),
                conference.name
            ));
        }
        for (number, line) in own_lines {
            self.directory.lines.insert(number.clone(), index);
            self.line_of_number.insert(number, line);
        }
        self.directory.conferences.push(conference);
        Ok(())
    }

    /// A required, non-empty `name`, trimmed, with the offset it was written at.
    fn name(
        &self,
        name: Option<Spanned<String>>,
        header: usize,
        table: &'static str,
    ) -> Result<(String, usize), DirectoryError> {
        let Some(name) = name else {
            return Err(self.missing(header, table, "name"));
        };
        let at = name.span().start;
        let trimmed = name.get_ref().trim();
        if trimmed.is_empty() {
            return Err(self.invalid(at, Problem::EmptyName { table }));
        }
        if let Some(bad) = trimmed.chars().find(|c| c.is_control()) {
            return Err(self.invalid(
                at,
                Problem::ControlCharacter {
                    table,
                    found: bad.escape_unicode().to_string(),
                },
            ));
        }
        Ok((trimmed.to_owned(), at))
    }

    fn phone(
        &self,
        raw: &Spanned<String>,
        what: &'static str,
    ) -> Result<PhoneNumber, DirectoryError> {
        PhoneNumber::parse(raw.get_ref())
            .map_err(|reason| self.invalid(raw.span().start, Problem::BadPhone { what, reason }))
    }

    fn hold_music(&self, raw: &Spanned<String>) -> Result<String, DirectoryError> {
        let value = raw.get_ref().trim();
        let refuse = |reason: String| {
            self.invalid(
                raw.span().start,
                Problem::BadHoldMusic {
                    value: redact(value),
                    reason: redact(&reason),
                },
            )
        };
        let url = url::Url::parse(value).map_err(|e| refuse(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse(format!("the scheme is {}", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("there is no host".to_owned()));
        }
        Ok(url.to_string())
    }

    fn bridge(&self, spanned: Spanned<RawBridge>) -> Result<Bridge, DirectoryError> {
        const TABLE: &str = "[conference.bridge]";
        let at = spanned.span().start;
        let raw = spanned.into_inner();
        let Some(number) = raw.number else {
            return Err(self.missing(at, TABLE, "number"));
        };
        let number = self.phone(&number, "`number` of [conference.bridge]")?;
        let digits = |value: Option<Spanned<String>>, key: &'static str| match value {
            None => Ok(None),
            Some(value) => DialDigits::parse(value.get_ref())
                .map(Some)
                .map_err(|reason| {
                    self.invalid(value.span().start, Problem::BadDigits { key, reason })
                }),
        };
        Ok(Bridge {
            number,
            moderator_digits: digits(raw.moderator_digits, "moderator_digits")?,
            participant_digits: digits(raw.participant_digits, "participant_digits")?,
        })
    }

    fn role(&self, raw: &Spanned<String>) -> Result<Role, DirectoryError> {
        [Role::Moderator, Role::Participant]
            .into_iter()
            .find(|role| role.as_str() == raw.get_ref())
            .ok_or_else(|| {
                self.invalid(
                    raw.span().start,
                    Problem::UnknownRole {
                        role: redact(raw.get_ref()),
                    },
                )
            })
    }

    fn missing(&self, at: usize, table: &'static str, key: &'static str) -> DirectoryError {
        self.invalid(at, Problem::MissingKey { table, key })
    }

    fn invalid(&self, at: usize, problem: Problem) -> DirectoryError {
        DirectoryError::Invalid {
            file: self.origin.to_owned(),
            line: self.line(at),
            problem,
        }
    }

    fn line(&self, at: usize) -> usize {
        // As `line_of`, by a binary search: counting from the top for every participant made
        // loading a file quadratic (20,000 participants took 13 s).
        let end = at.min(self.source.len());
        self.newlines.partition_point(|&nl| nl < end) + 1
    }
}

/// The byte offsets of every `\n` in `source`.
fn newlines(source: &str) -> Vec<usize> {
    source
        .bytes()
        .enumerate()
        .filter_map(|(i, b)| (b == b'\n').then_some(i))
        .collect()
}

/// The 1-based line of a byte offset.
fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Rewords a TOML/serde message for people editing the file, and masks any number in it
/// (serde quotes the offending value, which may be a phone number).
fn toml_message(message: &str) -> String {
    const FROM_SERDE: &[&str] = &[
        "invalid value",
        "invalid length",
        "unknown variant",
        "duplicate field",
    ];
    let message = if let Some(rest) = message.strip_prefix("unknown field") {
        format!("unknown key{rest}")
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("wrong type: found {rest}")
    } else if let Some(rest) = message.strip_prefix("missing field") {
        format!("missing key{rest}")
    } else if FROM_SERDE.iter().any(|p| message.starts_with(p)) {
        message.to_owned()
    } else {
        format!("TOML syntax error: {message}")
    };
    redact(&message)
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "people.toml";

    fn parse(source: &str) -> Result<Directory, DirectoryError> {
        Directory::parse(source, FILE)
    }

    #[test]
    fn lines_by_search_are_the_lines_by_counting() {
        for source in [
            "",
            "\n",
            "a",
            "a\nb",
            "[[conference]]\nname = \"x\"\n\n\nnumbers = []\n",
        ] {
            let builder_lines = newlines(source);
            for at in 0..source.len() + 3 {
                let end = at.min(source.len());
                let searched = builder_lines.partition_point(|&nl| nl < end) + 1;
                assert_eq!(searched, line_of(source, at), "{source:?} at {at}");
            }
        }
    }

    #[test]
    fn a_large_file_loads_and_a_late_mistake_names_its_line() {
        let mut source =
            String::from("[[conference]]\nname = \"Big\"\nnumbers = [\"+12025550100\"]\n");
        for i in 0..5_000 {
            source.push_str(&format!(
                "[[conference.participant]]\nname = \"P{i}\"\nphone = \"+1415{:07}\"\n",
                2_000_000 + i
            ));
        }
        assert_eq!(
            parse(&source).unwrap().conferences()[0]
                .participants()
                .len(),
            5_000
        );
        // The same number again, as the last participant: line 3 + 3 × 5,000 + 3.
        source.push_str("[[conference.participant]]\nname = \"Again\"\nphone = \"+14152000000\"\n");
        assert_refused(&source, 3 + 3 * 5_000 + 3, &["listed twice"]);
    }

    fn refused(source: &str) -> String {
        match parse(source) {
            Ok(_) => panic!("accepted:\n{source}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_refused(source: &str, line: usize, words: &[&str]) -> String {
        let message = refused(source);
        let prefix = format!("{FILE}:{line}: ");
        assert!(
            message.starts_with(&prefix),
            "want {prefix:?}, got {message:?}"
        );
        for word in words {
            assert!(message.contains(word), "want {word:?} in {message:?}");
        }
        message
    }

    fn number(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw).unwrap()
    }

    const TWO_ROOMS: &str = r#"
[[conference]]
name = "Weekly sync"
numbers = ["+1 202 555 0100"]
hold_music = "https://example.com/hold.mp3"

[[conference.participant]]
name = "Ada Lovelace"
phone = "+1 (202) 555-0101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+1.202.555.0102"

[[conference]]
name = "Board meeting"
numbers = ["+12025550150"]

[[conference.participant]]
name = "Ada Lovelace"
phone = "+12025550101"
role = "participant"
"#;

    #[test]
    fn the_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("participants.toml");
        let directory = Directory::load(&path).unwrap();
        let conferences = directory.conferences();
        assert_eq!(conferences.len(), 2);
        assert_eq!(conferences[0].participants()[0].role, Role::Moderator);
        for conference in conferences {
            assert_eq!(conference.numbers().len(), 1);
            assert!(conference.participants().len() >= 3);
            let moderators = conference
                .participants()
                .iter()
                .filter(|p| p.role == Role::Moderator)
                .count();
            assert_eq!(moderators, 1, "{}", conference.name());
            let line = &conference.numbers()[0];
            let reached = directory.conference_for_line(Some(line)).unwrap();
            assert_eq!(reached.name(), conference.name());
            let phones = conference.participants().iter().map(|p| &p.phone);
            for phone in phones.chain(conference.numbers()) {
                assert!(
                    phone.as_e164().starts_with("+120255501"),
                    "{phone:?} is not a fictional 555-01xx number"
                );
            }
        }
        assert!(conferences.iter().any(|c| c.hold_music().is_some()));
        assert!(directory.warnings().is_empty());
    }

    #[test]
    fn lookups_by_dialed_line_and_caller() {
        let directory = parse(TWO_ROOMS).unwrap();
        let weekly = directory
            .conference_for_line(Some(&number("+12025550100")))
            .unwrap();
        assert_eq!(weekly.name(), "Weekly sync");
        assert_eq!(weekly.hold_music(), Some("https://example.com/hold.mp3"));
        let ada = weekly.participant(&number("+12025550101")).unwrap();
        assert_eq!(
            (ada.name.as_str(), ada.role),
            ("Ada Lovelace", Role::Moderator)
        );
        assert!(weekly.participant(&number("+12025550199")).is_none());

        let board = directory
            .conference_for_line(Some(&number("+1 202 555 0150")))
            .unwrap();
        assert_eq!(board.name(), "Board meeting");
        assert_eq!(board.hold_music(), None);
        let ada = board.participant(&number("+12025550101")).unwrap();
        assert_eq!(ada.role, Role::Participant);
        assert!(board.participant(&number("+12025550102")).is_none());

        // A line no conference lists, and no dialed number at all.
        assert!(
            directory
                .conference_for_line(Some(&number("+12025550177")))
                .is_none()
        );
        assert!(directory.conference_for_line(None).is_none());
    }

    #[test]
    fn a_single_conference_without_numbers_answers_every_line() {
        let directory = parse(
            "[[conference]]\nname = \"Only\"\n\n[[conference.participant]]\nname = \"A\"\nphone = \"+12025550101\"\nrole = \"moderator\"\n",
        )
        .unwrap();
        for dialed in [
            Some(number("+12025550100")),
            Some(number("+442079460958")),
            None,
        ] {
            let found = directory.conference_for_line(dialed.as_ref()).unwrap();
            assert_eq!(found.name(), "Only");
        }
        // An empty list is the same as none.
        let directory = parse("[[conference]]\nname = \"Only\"\nnumbers = []\n").unwrap();
        assert!(directory.conference_for_line(None).is_some());
    }

    #[test]
    fn a_single_conference_with_numbers_answers_only_those() {
        let directory =
            parse("[[conference]]\nname = \"Only\"\nnumbers = [\"+12025550100\"]\n").unwrap();
        assert!(
            directory
                .conference_for_line(Some(&number("+12025550100")))
                .is_some()
        );
        assert!(
            directory
                .conference_for_line(Some(&number("+12025550111")))
                .is_none()
        );
        assert!(directory.conference_for_line(None).is_none());
    }

    #[test]
    fn normalization_makes_formats_the_same_person() {
        let directory = parse(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nname = \"Ada\"\nphone = \"+1 (202) 555-0101\"\n",
        )
        .unwrap();
        let conference = &directory.conferences()[0];
        let ada = conference.participant(&number("+12025550101")).unwrap();
        assert_eq!(ada.phone.as_e164(), "+12025550101");
        assert_eq!(ada.role, Role::Participant, "the default role");
    }

    #[test]
    fn refuses_weak_pins_bad_bridge_keys_and_control_characters_with_their_line() {
        let room = |extra: &str| {
            format!(
                "[[conference]]\nname = \"A\"\n{extra}\n[[conference.participant]]\nname = \"Ada\"\nphone = \"+12025550101\"\nrole = \"moderator\"\n"
            )
        };
        assert_refused(
            &room("guest_pin = \"123\""),
            3,
            &["guest_pin", "4 to 12 digits"],
        );
        assert_refused(&room("guest_pin = \"1234567890123\""), 3, &["4 to 12"]);
        assert_refused(&room("guest_pin = \"12a4\""), 3, &["4 to 12"]);
        assert_refused(&room("guest_pin = \"7777\""), 3, &["one digit repeated"]);
        let message = assert_refused(
            &room("[conference.bridge]\nnumber = \"+18885550100\"\nmoderator_digits = \"123x#\""),
            5,
            &["moderator_digits", "0-9, *, #"],
        );
        assert!(!message.contains("123x"), "keys never echoed: {message}");
        assert_refused(
            &room("[conference.bridge]\nmoderator_digits = \"1#\""),
            3,
            &["[conference.bridge]", "number"],
        );
        for bad in ["\\u0001", "\\u001b[2J", "\\b", "\\u0000"] {
            let source = format!(
                "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"Ada{bad}\"\nphone = \"+12025550101\"\n"
            );
            assert_refused(&source, 4, &["control character"]);
        }
        let ok = parse(&room(
            "guest_pin = \"48291735\"\n[conference.bridge]\nnumber = \"+18885550100\"\nmoderator_digits = \"ww123456#ww9876#\"\nparticipant_digits = \"ww123456#\"",
        ))
        .unwrap();
        let conference = &ok.conferences()[0];
        assert!(conference.guest_pin().unwrap().matches("48291735"));
        assert!(!conference.guest_pin().unwrap().matches("48291736"));
        let bridge = conference.bridge().unwrap();
        assert_eq!(
            bridge.moderator_digits.as_ref().unwrap().expose(),
            "ww123456#ww9876#"
        );
        let debug = format!("{ok:?}");
        assert!(
            !debug.contains("48291735") && !debug.contains("ww123456"),
            "{debug}"
        );
        let summary = ok.summary();
        assert!(
            !summary.contains("48291735") && !summary.contains("123456"),
            "{summary}"
        );
    }

    #[test]
    fn refuses_toml_syntax_errors() {
        assert_refused(
            "[[conference]]\nname = \"Weekly\n",
            2,
            &["TOML syntax error", "invalid basic string"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\nname = \"B\"\n",
            3,
            &["TOML syntax error", "duplicate key"],
        );
    }

    #[test]
    fn refuses_wrong_types() {
        assert_refused(
            "[[conference]]\nname = 5\n",
            2,
            &["wrong type", "integer", "string"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = 12025550101\n",
            5,
            &["wrong type", "integer", "string"],
        );
        assert_refused(
            "[conference]\nname = \"A\"\n",
            1,
            &["wrong type", "sequence"],
        );
    }

    #[test]
    fn refuses_unknown_keys_anywhere() {
        assert_refused(
            "title = \"x\"\n[[conference]]\nname = \"A\"\n",
            1,
            &["unknown key", "`title`"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\nhold_musik = \"https://example.com/a.mp3\"\n",
            3,
            &["unknown key", "`hold_musik`"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550101\"\nrloe = \"moderator\"\n",
            7,
            &["unknown key", "`rloe`"],
        );
    }

    #[test]
    fn refuses_an_unknown_role() {
        assert_refused(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550101\"\nrole = \"admin\"\n",
            7,
            &["unknown role \"admin\"", "moderator", "participant"],
        );
        // Roles are lowercase, as in the format.
        assert_refused(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550101\"\nrole = \"Moderator\"\n",
            6,
            &["unknown role \"Moderator\""],
        );
    }

    #[test]
    fn refuses_missing_required_keys() {
        assert_refused(
            "# rooms\n[[conference]]\nnumbers = [\"+12025550100\"]\n",
            2,
            &["[[conference]]", "no `name`", "required"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nphone = \"+12025550101\"\n",
            4,
            &["[[conference.participant]]", "no `name`"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nname = \"B\"\nrole = \"moderator\"\n",
            4,
            &["[[conference.participant]]", "no `phone`"],
        );
    }

    #[test]
    fn refuses_empty_names() {
        assert_refused(
            "[[conference]]\nname = \"  \"\n",
            2,
            &["`name`", "empty", "[[conference]]"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"\"\nphone = \"+12025550101\"\n",
            4,
            &["`name`", "empty", "[[conference.participant]]"],
        );
    }

    #[test]
    fn refuses_a_file_without_conferences() {
        assert_refused("", 1, &["no [[conference]]"]);
        assert_refused("# nothing here yet\n", 1, &["no [[conference]]"]);
    }

    #[test]
    fn refuses_duplicate_conference_names() {
        assert_refused(
            "[[conference]]\nname = \"Weekly\"\nnumbers = [\"+12025550100\"]\n\n[[conference]]\nname = \" Weekly \"\nnumbers = [\"+12025550150\"]\n",
            6,
            &[
                "duplicate conference name \"Weekly\"",
                "first used on line 2",
            ],
        );
    }

    #[test]
    fn refuses_a_number_listed_twice_in_one_conference() {
        let message = assert_refused(
            "[[conference]]\nname = \"A\"\n\n[[conference.participant]]\nname = \"Ada\"\nphone = \"+1 202 555 0101\"\n\n[[conference.participant]]\nname = \"Ada again\"\nphone = \"+12025550101\"\n",
            10,
            &[
                "phone number +1202•••0101 is listed twice",
                "\"A\"",
                "first on line 6",
            ],
        );
        assert!(!message.contains("2025550101"), "{message}");

        let message = assert_refused(
            "[[conference]]\nname = \"A\"\nnumbers = [\n  \"+12025550100\",\n  \"+1 (202) 555-0100\",\n]\n",
            5,
            &["+1202•••0100", "listed twice", "first on line 4"],
        );
        assert!(!message.contains("2025550100"), "{message}");
    }

    #[test]
    fn refuses_unparseable_phone_numbers() {
        assert_refused(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = \"202 555 0101\"\n",
            5,
            &["`phone` is not a usable phone number", "country code"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = \"\"\n",
            5,
            &["`phone`", "empty"],
        );
        assert_refused(
            "[[conference]]\nname = \"A\"\nnumbers = [\"+12025550100\",\n  \"+1 call me\"]\n",
            4,
            &[
                "an entry of `numbers` is not a usable phone number",
                "not a phone number",
            ],
        );
    }

    #[test]
    fn refuses_a_line_claimed_by_two_conferences() {
        let message = assert_refused(
            "[[conference]]\nname = \"Weekly\"\nnumbers = [\"+12025550100\"]\n\n[[conference]]\nname = \"Board\"\nnumbers = [\"+1 202 555 0150\", \"+1 (202) 555-0100\"]\n",
            7,
            &["+1202•••0100", "\"Weekly\" (line 3)", "\"Board\""],
        );
        assert!(!message.contains("2025550100"), "{message}");
    }

    #[test]
    fn refuses_missing_numbers_with_several_conferences() {
        assert_refused(
            "[[conference]]\nname = \"Weekly\"\nnumbers = [\"+12025550100\"]\n\n[[conference]]\nname = \"Board\"\n",
            5,
            &["\"Board\"", "no `numbers`", "several conferences"],
        );
        assert_refused(
            "[[conference]]\nname = \"Weekly\"\nnumbers = []\n\n[[conference]]\nname = \"Board\"\nnumbers = [\"+12025550150\"]\n",
            3,
            &["\"Weekly\"", "no `numbers`"],
        );
    }

    #[test]
    fn refuses_hold_music_that_is_not_an_absolute_http_url() {
        for (value, why) in [
            ("hold.mp3", "relative URL"),
            ("ftp://example.com/hold.mp3", "scheme is ftp"),
            ("file:///srv/hold.mp3", "scheme is file"),
            ("", "relative URL"),
        ] {
            let source = format!("[[conference]]\nname = \"A\"\nhold_music = \"{value}\"\n");
            assert_refused(&source, 3, &["`hold_music`", "absolute http(s) URL", why]);
        }
        let ok = parse("[[conference]]\nname = \"A\"\nhold_music = \"http://example.com/h.mp3\"\n");
        assert_eq!(
            ok.unwrap().conferences()[0].hold_music(),
            Some("http://example.com/h.mp3")
        );
    }

    #[test]
    fn refuses_an_unreadable_file_naming_it_as_given() {
        let path = Path::new("tests/fixtures/participants/does-not-exist.toml");
        let message = Directory::load(path).unwrap_err().to_string();
        assert!(
            message.starts_with("tests/fixtures/participants/does-not-exist.toml: cannot read: "),
            "{message}"
        );
    }

    /// Each bad example opens with `# Refused on line N: why`; the refusal must name line N.
    #[test]
    fn the_bad_fixtures_are_refused_on_the_line_they_state() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/participants");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let stated = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# Refused on line "))
                .and_then(|l| l.split(':').next())
                .unwrap_or_else(|| panic!("{}: no '# Refused on line N:'", path.display()));
            let message = Directory::load(&path).unwrap_err().to_string();
            let prefix = format!("{}:{stated}: ", path.display());
            assert!(
                message.starts_with(&prefix),
                "want {prefix:?}, got {message:?}"
            );
            assert!(!message.contains("2025550"), "{message}");
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} fixtures");
    }

    #[test]
    fn a_conference_without_a_moderator_is_allowed_with_a_warning() {
        let directory = parse(
            "[[conference]]\nname = \"Leaderless\"\n\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550102\"\n",
        )
        .unwrap();
        let warnings = directory.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("people.toml:1: "), "{warnings:?}");
        assert!(
            warnings[0].contains("\"Leaderless\" has no moderator"),
            "{warnings:?}"
        );
        let summary = directory.summary();
        assert!(summary.contains("warning: no moderator"), "{summary}");
        assert!(parse(TWO_ROOMS).unwrap().warnings().len() == 1);
    }

    const CHANNELS: &str = r#"
[[conference]]
name = "Ops"

[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"

[[conference.participant]]
name = "Grace"
phone = "+12025550107"
code_to = "+1 202 555 0199"
channel = "voice"

[[conference.participant]]
name = "Linus"
phone = "+12025550108"
channel = "voice"
"#;

    #[test]
    fn channels_and_code_to_are_read_and_default_to_sms_to_the_caller_id() {
        let d = parse(CHANNELS).unwrap();
        let people = d.conferences()[0].participants();
        assert_eq!(people[0].channel, Channel::Sms);
        assert_eq!(people[0].code_phone().as_e164(), "+12025550101");
        assert_eq!(people[1].channel, Channel::Voice);
        assert_eq!(people[1].code_phone().as_e164(), "+12025550199");
        assert_eq!(people[1].channel_line, 14);
        // A voice call to the phone that is calling rings only with call waiting.
        let warnings = d.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("people.toml:19:"), "{warnings:?}");
        assert!(warnings[0].contains("Linus"), "{warnings:?}");
    }

    #[test]
    fn a_channel_the_verifier_cannot_deliver_is_refused_with_its_line() {
        let d = parse(CHANNELS).unwrap();
        assert!(d.check_channels("twilio", &Channel::ALL).is_ok());
        let err = d.check_channels("builtin", &[Channel::Sms]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("people.toml:14: participant \"Grace\""),
            "{text}"
        );
        assert!(text.contains("\"voice\""), "{text}");
        assert!(!text.contains("2025550"), "{text}");
        let bad = CHANNELS.replace("channel = \"voice\"\n\n[[", "channel = \"pager\"\n\n[[");
        let text = parse(&bad).unwrap_err().to_string();
        assert!(
            text.starts_with("people.toml:14: unknown channel \"pager\""),
            "{text}"
        );
    }

    #[test]
    fn summary_lists_everyone_masked() {
        let summary = parse(TWO_ROOMS).unwrap().summary();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(lines[0], "2 conferences, 3 participants");
        assert_eq!(lines[1], "Weekly sync — dialed at +1202•••0100");
        assert!(
            summary.contains("  moderator    Ada Lovelace  +1202•••0101\n"),
            "{summary}"
        );
        assert!(
            summary.contains("  participant  Grace Hopper  +1202•••0102\n"),
            "{summary}"
        );
        assert!(
            summary.contains("Board meeting — dialed at +1202•••0150\n"),
            "{summary}"
        );
        // Board meeting has only a participant.
        assert!(summary.contains("warning: no moderator"), "{summary}");
    }

    #[test]
    fn no_summary_or_error_contains_a_full_number() {
        let summary = parse(TWO_ROOMS).unwrap().summary();
        let example =
            Directory::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("participants.toml"))
                .unwrap();
        let mut texts = vec![summary, example.summary()];
        texts.extend(example.warnings());
        texts.extend(parse(TWO_ROOMS).unwrap().warnings());
        for source in [
            // Wrong type: serde quotes the value itself.
            "[[conference]]\nname = \"A\"\nnumbers = \"+12025550100\"\n",
            "[[conference]]\nname = \"A\"\nnumbers = [\"+12025550100\", \"+12025550100\"]\n",
            "[[conference]]\nname = \"A\"\nhold_music = \"tel:+12025550100\"\n",
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550100\"\nrole = \"+12025550100\"\n",
            "[[conference]]\nname = \"A\"\n[[conference.participant]]\nname = \"B\"\nphone = \"+12025550100\"\n[[conference.participant]]\nname = \"C\"\nphone = \"+1 202 555 0100\"\n",
        ] {
            texts.push(refused(source));
        }
        for text in &texts {
            for digits in ["2025550100", "2025550101", "2025550150", "202 555 0100"] {
                assert!(!text.contains(digits), "{digits} in {text:?}");
            }
        }
    }

    #[test]
    fn redact_masks_number_like_runs_only() {
        assert_eq!(
            redact("string \"+12025550100\", expected a sequence"),
            "string \"+1202•••0100\", expected a sequence"
        );
        assert_eq!(redact("+1 (202) 555-0100 and 5"), "+1202•••0100 and 5");
        assert_eq!(redact("line 12, 3 keys"), "line 12, 3 keys");
        assert_eq!(redact("call 5550100 now"), "call ••• now");
    }
}
