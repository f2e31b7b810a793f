//! TwiML responses: a typed builder for the voice verbs this line answers with, written out
//! with quick-xml's `Writer` so every text node and attribute value is escaped.

#[cfg(feature = "tools")]
pub mod parse;

use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// The media type to send a TwiML document with.
pub const CONTENT_TYPE: &str = "text/xml";

/// What `to_xml` returns if writing ever failed (it cannot for an in-memory buffer): hang up.
const FALLBACK_XML: &str =
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#;

/// The HTTP method the carrier uses for a follow-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How `<Reject>` refuses a call: with a "not in service" message or a busy signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `rejected`.
    Rejected,
    /// `busy`.
    Busy,
}

impl RejectReason {
    fn as_str(self) -> &'static str {
        match self {
            RejectReason::Rejected => "rejected",
            RejectReason::Busy => "busy",
        }
    }
}

/// When a conference beeps as people come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Beep {
    /// `true`: on entry and exit.
    True,
    /// `false`: never.
    False,
    /// `onEnter`: only when someone joins.
    OnEnter,
    /// `onExit`: only when someone leaves.
    OnExit,
}

impl Beep {
    fn as_str(self) -> &'static str {
        match self {
            Beep::True => "true",
            Beep::False => "false",
            Beep::OnEnter => "onEnter",
            Beep::OnExit => "onExit",
        }
    }
}

/// A conference event the carrier reports to `statusCallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConferenceEvent {
    /// `start`.
    Start,
    /// `end`.
    End,
    /// `join`.
    Join,
    /// `leave`.
    Leave,
    /// `mute`.
    Mute,
    /// `hold`.
    Hold,
    /// `modify`.
    Modify,
    /// `speaker`.
    Speaker,
    /// `announcement`.
    Announcement,
}

impl ConferenceEvent {
    fn as_str(self) -> &'static str {
        match self {
            ConferenceEvent::Start => "start",
            ConferenceEvent::End => "end",
            ConferenceEvent::Join => "join",
            ConferenceEvent::Leave => "leave",
            ConferenceEvent::Mute => "mute",
            ConferenceEvent::Hold => "hold",
            ConferenceEvent::Modify => "modify",
            ConferenceEvent::Speaker => "speaker",
            ConferenceEvent::Announcement => "announcement",
        }
    }
}

/// Attribute name/value pairs in the order they are written.
type Attrs = Vec<(&'static str, String)>;

fn push_opt(attrs: &mut Attrs, name: &'static str, value: Option<&str>) {
    if let Some(v) = value {
        attrs.push((name, v.to_owned()));
    }
}

fn push_u32(attrs: &mut Attrs, name: &'static str, value: Option<u32>) {
    if let Some(v) = value {
        attrs.push((name, v.to_string()));
    }
}

fn push_bool(attrs: &mut Attrs, name: &'static str, value: Option<bool>) {
    if let Some(v) = value {
        attrs.push((name, if v { "true" } else { "false" }.to_owned()));
    }
}

/// Writes `<name attrs>text</name>`, or `<name attrs/>` when `text` is empty.
fn write_leaf<W: Write>(
    w: &mut Writer<W>,
    name: &str,
    attrs: &Attrs,
    text: &str,
) -> io::Result<()> {
    let el = w
        .create_element(name)
        .with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())));
    if text.is_empty() {
        el.write_empty()?;
    } else {
        el.write_text_content(BytesText::new(text))?;
    }
    Ok(())
}

/// Writes `<name attrs>..children..</name>`, or `<name attrs/>` when there are no children.
fn write_parent<W, F>(
    w: &mut Writer<W>,
    name: &str,
    attrs: &Attrs,
    has_children: bool,
    children: F,
) -> io::Result<()>
where
    W: Write,
    F: FnOnce(&mut Writer<W>) -> io::Result<()>,
{
    let el = w
        .create_element(name)
        .with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())));
    if has_children {
        el.write_inner_content(children)?;
    } else {
        el.write_empty()?;
    }
    Ok(())
}

/// `<Say>`: read text aloud with text-to-speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    text: String,
    voice: Option<String>,
    language: Option<String>,
    loop_count: Option<u32>,
}

impl Say {
    /// A `<Say>` reading `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Say {
            text: text.into(),
            voice: None,
            language: None,
            loop_count: None,
        }
    }

    /// Sets the `voice` attribute (e.g. `Polly.Amy`).
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// Sets the `language` attribute (e.g. `en-GB`).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets the `loop` attribute: how many times to read the text (0 means until hang-up).
    pub fn loop_count(mut self, count: u32) -> Self {
        self.loop_count = Some(count);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_opt(&mut attrs, "voice", self.voice.as_deref());
        push_opt(&mut attrs, "language", self.language.as_deref());
        push_u32(&mut attrs, "loop", self.loop_count);
        write_leaf(w, "Say", &attrs, &self.text)
    }
}

/// `<Play>`: play an audio file from a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    url: String,
    loop_count: Option<u32>,
}

impl Play {
    /// A `<Play>` of the audio at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Play {
            url: url.into(),
            loop_count: None,
        }
    }

    /// Sets the `loop` attribute: how many times to play (0 means until hang-up).
    pub fn loop_count(mut self, count: u32) -> Self {
        self.loop_count = Some(count);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_u32(&mut attrs, "loop", self.loop_count);
        write_leaf(w, "Play", &attrs, &self.url)
    }
}

/// `<Pause>`: silence for a number of seconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pause {
    length: Option<u32>,
}

impl Pause {
    /// A `<Pause>` of the carrier's default length (one second).
    pub fn new() -> Self {
        Pause::default()
    }

    /// Sets the `length` attribute, in seconds.
    pub fn length(mut self, seconds: u32) -> Self {
        self.length = Some(seconds);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_u32(&mut attrs, "length", self.length);
        write_leaf(w, "Pause", &attrs, "")
    }
}

/// A verb that may be nested inside `<Gather>`.
#[derive(Debug, Clone, PartialEq)]
enum Prompt {
    Say(Say),
    Play(Play),
    Pause(Pause),
}

impl Prompt {
    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        match self {
            Prompt::Say(v) => v.write(w),
            Prompt::Play(v) => v.write(w),
            Prompt::Pause(v) => v.write(w),
        }
    }
}

/// `<Gather>`: collect keypresses (or speech) while playing nested prompts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gather {
    input: Option<String>,
    num_digits: Option<u32>,
    timeout: Option<u32>,
    finish_on_key: Option<String>,
    action: Option<String>,
    method: Option<Method>,
    action_on_empty_result: Option<bool>,
    prompts: Vec<Prompt>,
}

impl Gather {
    /// An empty `<Gather>` with the carrier's defaults.
    pub fn new() -> Self {
        Gather::default()
    }

    /// Sets the `input` attribute (`dtmf`, `speech` or `dtmf speech`).
    pub fn input(mut self, input: impl Into<String>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// Sets the `numDigits` attribute: stop after this many digits.
    pub fn num_digits(mut self, digits: u32) -> Self {
        self.num_digits = Some(digits);
        self
    }

    /// Sets the `timeout` attribute, in seconds.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    /// Sets the `finishOnKey` attribute (an empty string disables it).
    pub fn finish_on_key(mut self, key: impl Into<String>) -> Self {
        self.finish_on_key = Some(key.into());
        self
    }

    /// Sets the `action` attribute: the URL the gathered input is sent to.
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    /// Sets the `method` attribute used to request `action`.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Sets the `actionOnEmptyResult` attribute: request `action` even when nothing was typed.
    pub fn action_on_empty_result(mut self, on: bool) -> Self {
        self.action_on_empty_result = Some(on);
        self
    }

    /// Nests a `<Say>` prompt, after any added before.
    pub fn say(mut self, v: Say) -> Self {
        self.prompts.push(Prompt::Say(v));
        self
    }

    /// Nests a `<Play>` prompt, after any added before.
    pub fn play(mut self, v: Play) -> Self {
        self.prompts.push(Prompt::Play(v));
        self
    }

    /// Nests a `<Pause>`, after any prompts added before.
    pub fn pause(mut self, v: Pause) -> Self {
        self.prompts.push(Prompt::Pause(v));
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_opt(&mut attrs, "input", self.input.as_deref());
        push_u32(&mut attrs, "numDigits", self.num_digits);
        push_u32(&mut attrs, "timeout", self.timeout);
        push_opt(&mut attrs, "finishOnKey", self.finish_on_key.as_deref());
        push_opt(&mut attrs, "action", self.action.as_deref());
        push_opt(&mut attrs, "method", self.method.map(Method::as_str));
        push_bool(
            &mut attrs,
            "actionOnEmptyResult",
            self.action_on_empty_result,
        );
        write_parent(w, "Gather", &attrs, !self.prompts.is_empty(), |w| {
            self.prompts.iter().try_for_each(|p| p.write(w))
        })
    }
}

/// `<Redirect>`: continue with the TwiML at another URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    url: String,
    method: Option<Method>,
}

impl Redirect {
    /// A `<Redirect>` to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Redirect {
            url: url.into(),
            method: None,
        }
    }

    /// Sets the `method` attribute used to request `url`.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_opt(&mut attrs, "method", self.method.map(Method::as_str));
        write_leaf(w, "Redirect", &attrs, &self.url)
    }
}

/// `<Reject>`: refuse the call without answering it (so it is not billed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reject {
    reason: Option<RejectReason>,
}

impl Reject {
    /// A `<Reject>` with the carrier's default reason (`rejected`).
    pub fn new() -> Self {
        Reject::default()
    }

    /// Sets the `reason` attribute.
    pub fn reason(mut self, reason: RejectReason) -> Self {
        self.reason = Some(reason);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_opt(&mut attrs, "reason", self.reason.map(RejectReason::as_str));
        write_leaf(w, "Reject", &attrs, "")
    }
}

/// `<Conference>`: the named room a `<Dial>` connects the caller to.
#[derive(Debug, Clone, PartialEq)]
pub struct Conference {
    name: String,
    start_conference_on_enter: Option<bool>,
    end_conference_on_exit: Option<bool>,
    wait_url: Option<String>,
    wait_method: Option<Method>,
    beep: Option<Beep>,
    muted: Option<bool>,
    max_participants: Option<u32>,
    status_callback: Option<String>,
    status_callback_event: Vec<ConferenceEvent>,
}

impl Conference {
    /// A `<Conference>` room called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Conference {
            name: name.into(),
            start_conference_on_enter: None,
            end_conference_on_exit: None,
            wait_url: None,
            wait_method: None,
            beep: None,
            muted: None,
            max_participants: None,
            status_callback: None,
            status_callback_event: Vec::new(),
        }
    }

    /// Sets `startConferenceOnEnter`: whether this caller's arrival starts the conference.
    pub fn start_conference_on_enter(mut self, on: bool) -> Self {
        self.start_conference_on_enter = Some(on);
        self
    }

    /// Sets `endConferenceOnExit`: whether this caller's leaving ends it for everyone.
    pub fn end_conference_on_exit(mut self, on: bool) -> Self {
        self.end_conference_on_exit = Some(on);
        self
    }

    /// Sets `waitUrl`: the hold music (or TwiML) played until the conference starts.
    pub fn wait_url(mut self, url: impl Into<String>) -> Self {
        self.wait_url = Some(url.into());
        self
    }

    /// Sets `waitMethod`, the method used to request `waitUrl`.
    pub fn wait_method(mut self, method: Method) -> Self {
        self.wait_method = Some(method);
        self
    }

    /// Sets `beep`: when the conference beeps.
    pub fn beep(mut self, beep: Beep) -> Self {
        self.beep = Some(beep);
        self
    }

    /// Sets `muted`: whether this caller joins muted.
    pub fn muted(mut self, on: bool) -> Self {
        self.muted = Some(on);
        self
    }

    /// Sets `maxParticipants`: the room's capacity.
    pub fn max_participants(mut self, max: u32) -> Self {
        self.max_participants = Some(max);
        self
    }

    /// Sets `statusCallback`: the URL conference events are posted to.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Sets `statusCallbackEvent` (space-separated); an empty list leaves the attribute out.
    pub fn status_callback_event(mut self, events: Vec<ConferenceEvent>) -> Self {
        self.status_callback_event = events;
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_bool(
            &mut attrs,
            "startConferenceOnEnter",
            self.start_conference_on_enter,
        );
        push_bool(
            &mut attrs,
            "endConferenceOnExit",
            self.end_conference_on_exit,
        );
        push_opt(&mut attrs, "waitUrl", self.wait_url.as_deref());
        push_opt(
            &mut attrs,
            "waitMethod",
            self.wait_method.map(Method::as_str),
        );
        push_opt(&mut attrs, "beep", self.beep.map(Beep::as_str));
        push_bool(&mut attrs, "muted", self.muted);
        push_u32(&mut attrs, "maxParticipants", self.max_participants);
        push_opt(
            &mut attrs,
            "statusCallback",
            self.status_callback.as_deref(),
        );
        if !self.status_callback_event.is_empty() {
            let events: Vec<&str> = self
                .status_callback_event
                .iter()
                .map(|e| e.as_str())
                .collect();
            attrs.push(("statusCallbackEvent", events.join(" ")));
        }
        write_leaf(w, "Conference", &attrs, &self.name)
    }
}

/// `<Number>`: a phone number to dial, with keys to send once it answers.
#[derive(Clone, PartialEq)]
pub struct Number {
    number: String,
    send_digits: Option<String>,
}

impl std::fmt::Debug for Number {
    // The keys sent are a meeting code: never in a debug line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Number")
            .field(
                "send_digits",
                &self.send_digits.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Number {
    /// Dials `number` (E.164).
    pub fn new(number: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            send_digits: None,
        }
    }

    /// Keys to send once the number answers (`0-9`, `*`, `#`, `w` for half a second).
    pub fn send_digits(mut self, digits: impl Into<String>) -> Self {
        self.send_digits = Some(digits.into());
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        push_opt(&mut attrs, "sendDigits", self.send_digits.as_deref());
        write_leaf(w, "Number", &attrs, &self.number)
    }
}

/// What a `<Dial>` connects to.
#[derive(Debug, Clone, PartialEq)]
enum Noun {
    Conference(Conference),
    Number(Number),
}

/// `<Dial>`: connect the caller onward, to a `<Conference>` or a `<Number>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dial {
    noun: Option<Noun>,
    hangup_on_star: Option<bool>,
    action: Option<String>,
    method: Option<Method>,
}

impl Dial {
    /// An empty `<Dial>`.
    pub fn new() -> Self {
        Dial::default()
    }

    /// Sets the conference to connect to (replacing any noun set before).
    pub fn conference(mut self, conference: Conference) -> Self {
        self.noun = Some(Noun::Conference(conference));
        self
    }

    /// Sets the number to dial (replacing any noun set before).
    pub fn number(mut self, number: Number) -> Self {
        self.noun = Some(Noun::Number(number));
        self
    }

    /// Whether `*` takes the caller out of the dial.
    pub fn hangup_on_star(mut self, on: bool) -> Self {
        self.hangup_on_star = Some(on);
        self
    }

    /// Where the carrier goes when the dial ends (`*`, the conference ended, a hang-up).
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    /// The method for `action`.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let mut attrs = Attrs::new();
        if let Some(action) = &self.action {
            attrs.push(("action", action.clone()));
        }
        if let Some(method) = self.method {
            attrs.push(("method", method.as_str().to_owned()));
        }
        push_bool(&mut attrs, "hangupOnStar", self.hangup_on_star);
        write_parent(w, "Dial", &attrs, self.noun.is_some(), |w| {
            match &self.noun {
                Some(Noun::Conference(c)) => c.write(w),
                Some(Noun::Number(n)) => n.write(w),
                None => Ok(()),
            }
        })
    }
}

/// A top-level verb of a `<Response>`.
#[derive(Debug, Clone, PartialEq)]
enum Verb {
    Say(Say),
    Play(Play),
    Pause(Pause),
    Gather(Gather),
    Redirect(Redirect),
    Hangup,
    Reject(Reject),
    Dial(Dial),
}

impl Verb {
    fn write<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        match self {
            Verb::Say(v) => v.write(w),
            Verb::Play(v) => v.write(w),
            Verb::Pause(v) => v.write(w),
            Verb::Gather(v) => v.write(w),
            Verb::Redirect(v) => v.write(w),
            Verb::Hangup => write_leaf(w, "Hangup", &Attrs::new(), ""),
            Verb::Reject(v) => v.write(w),
            Verb::Dial(v) => v.write(w),
        }
    }
}

/// A whole TwiML document: the verbs the carrier runs, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    verbs: Vec<Verb>,
}

impl Response {
    /// An empty `<Response/>`.
    pub fn new() -> Self {
        Response::default()
    }

    /// Appends a `<Say>`.
    pub fn say(mut self, v: Say) -> Self {
        self.verbs.push(Verb::Say(v));
        self
    }

    /// Appends a `<Play>`.
    pub fn play(mut self, v: Play) -> Self {
        self.verbs.push(Verb::Play(v));
        self
    }

    /// Appends a `<Pause>`.
    pub fn pause(mut self, v: Pause) -> Self {
        self.verbs.push(Verb::Pause(v));
        self
    }

    /// Appends a `<Gather>`.
    pub fn gather(mut self, v: Gather) -> Self {
        self.verbs.push(Verb::Gather(v));
        self
    }

    /// Appends a `<Redirect>`.
    pub fn redirect(mut self, v: Redirect) -> Self {
        self.verbs.push(Verb::Redirect(v));
        self
    }

    /// Appends a `<Hangup/>`.
    pub fn hangup(mut self) -> Self {
        self.verbs.push(Verb::Hangup);
        self
    }

    /// Appends a `<Reject>`.
    pub fn reject(mut self, v: Reject) -> Self {
        self.verbs.push(Verb::Reject(v));
        self
    }

    /// Appends a `<Dial>`.
    pub fn dial(mut self, v: Dial) -> Self {
        self.verbs.push(Verb::Dial(v));
        self
    }

    /// The document: an XML declaration, then compact TwiML with no trailing newline.
    pub fn to_xml(&self) -> String {
        match self
            .write_to(Vec::with_capacity(1024))
            .map(String::from_utf8)
        {
            Ok(Ok(xml)) => xml,
            // Unreachable: a Vec never fails a write and only `&str`s are written. Fail
            // closed with a hang-up rather than panic inside a webhook handler.
            _ => FALLBACK_XML.to_owned(),
        }
    }

    fn write_to<W: Write>(&self, out: W) -> io::Result<W> {
        let mut w = Writer::new(out);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        write_parent(
            &mut w,
            "Response",
            &Attrs::new(),
            !self.verbs.is_empty(),
            |w| self.verbs.iter().try_for_each(|v| v.write(w)),
        )?;
        Ok(w.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    fn doc(body: &str) -> String {
        format!("{DECL}{body}")
    }

    #[test]
    fn content_type_is_text_xml() {
        assert_eq!(CONTENT_TYPE, "text/xml");
    }

    #[test]
    fn empty_response_is_self_closing() {
        assert_eq!(Response::new().to_xml(), doc("<Response/>"));
        assert_eq!(Response::default(), Response::new());
    }

    #[test]
    fn hangup() {
        assert_eq!(
            Response::new().hangup().to_xml(),
            doc("<Response><Hangup/></Response>")
        );
    }

    #[test]
    fn say_with_every_attribute() {
        let xml = Response::new()
            .say(
                Say::new("Welcome.")
                    .voice("Polly.Amy")
                    .language("en-GB")
                    .loop_count(2),
            )
            .to_xml();
        assert_eq!(
            xml,
            doc(
                r#"<Response><Say voice="Polly.Amy" language="en-GB" loop="2">Welcome.</Say></Response>"#
            )
        );
    }

    #[test]
    fn attributes_keep_declared_order_whatever_the_call_order() {
        let xml = Response::new()
            .say(
                Say::new("Hi")
                    .loop_count(0)
                    .language("en-US")
                    .voice("alice"),
            )
            .to_xml();
        assert_eq!(
            xml,
            doc(r#"<Response><Say voice="alice" language="en-US" loop="0">Hi</Say></Response>"#)
        );
    }

    #[test]
    fn play_pause_reject() {
        let xml = Response::new()
            .play(Play::new("https://example.com/hold.mp3").loop_count(3))
            .play(Play::new("https://example.com/beep.wav"))
            .pause(Pause::new().length(2))
            .pause(Pause::new())
            .reject(Reject::new().reason(RejectReason::Busy))
            .reject(Reject::new().reason(RejectReason::Rejected))
            .reject(Reject::new())
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response>"#,
                r#"<Play loop="3">https://example.com/hold.mp3</Play>"#,
                r#"<Play>https://example.com/beep.wav</Play>"#,
                r#"<Pause length="2"/>"#,
                r#"<Pause/>"#,
                r#"<Reject reason="busy"/>"#,
                r#"<Reject reason="rejected"/>"#,
                r#"<Reject/>"#,
                r#"</Response>"#
            ))
        );
    }

    #[test]
    fn gather_with_nested_prompts_then_redirect() {
        let xml = Response::new()
            .gather(
                Gather::new()
                    .input("dtmf")
                    .num_digits(6)
                    .timeout(10)
                    .finish_on_key("#")
                    .action("/voice/code?attempt=1&call=CA1")
                    .method(Method::Post)
                    .action_on_empty_result(true)
                    .say(Say::new("Please type the code we just sent you."))
                    .pause(Pause::new().length(1))
                    .play(Play::new("https://example.com/prompt.mp3")),
            )
            .redirect(Redirect::new("/voice/code?attempt=2").method(Method::Get))
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response>"#,
                r##"<Gather input="dtmf" numDigits="6" timeout="10" finishOnKey="#" "##,
                r#"action="/voice/code?attempt=1&amp;call=CA1" method="POST" actionOnEmptyResult="true">"#,
                r#"<Say>Please type the code we just sent you.</Say>"#,
                r#"<Pause length="1"/>"#,
                r#"<Play>https://example.com/prompt.mp3</Play>"#,
                r#"</Gather>"#,
                r#"<Redirect method="GET">/voice/code?attempt=2</Redirect>"#,
                r#"</Response>"#
            ))
        );
    }

    #[test]
    fn gather_without_prompts_is_self_closing_and_false_renders() {
        let xml = Response::new()
            .gather(
                Gather::new()
                    .finish_on_key("")
                    .action_on_empty_result(false),
            )
            .redirect(Redirect::new("/voice"))
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response><Gather finishOnKey="" actionOnEmptyResult="false"/>"#,
                r#"<Redirect>/voice</Redirect></Response>"#
            ))
        );
    }

    #[test]
    fn moderator_conference() {
        let xml = Response::new()
            .say(Say::new("Joining the call."))
            .dial(
                Dial::new().conference(
                    Conference::new("board-call")
                        .start_conference_on_enter(true)
                        .end_conference_on_exit(true)
                        .beep(Beep::OnEnter),
                ),
            )
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response><Say>Joining the call.</Say><Dial>"#,
                r#"<Conference startConferenceOnEnter="true" endConferenceOnExit="true" beep="onEnter">"#,
                r#"board-call</Conference></Dial></Response>"#
            ))
        );
    }

    #[test]
    fn participant_conference_with_every_attribute() {
        let xml = Response::new()
            .dial(
                Dial::new().conference(
                    Conference::new("board-call")
                        .start_conference_on_enter(false)
                        .end_conference_on_exit(false)
                        .wait_url("https://example.com/hold?tone=classical&loop=1")
                        .wait_method(Method::Get)
                        .beep(Beep::False)
                        .muted(true)
                        .max_participants(12)
                        .status_callback("https://example.com/conference/events")
                        .status_callback_event(vec![
                            ConferenceEvent::Start,
                            ConferenceEvent::End,
                            ConferenceEvent::Join,
                            ConferenceEvent::Leave,
                        ]),
                ),
            )
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response><Dial><Conference startConferenceOnEnter="false" "#,
                r#"endConferenceOnExit="false" "#,
                r#"waitUrl="https://example.com/hold?tone=classical&amp;loop=1" waitMethod="GET" "#,
                r#"beep="false" muted="true" maxParticipants="12" "#,
                r#"statusCallback="https://example.com/conference/events" "#,
                r#"statusCallbackEvent="start end join leave">board-call</Conference></Dial></Response>"#
            ))
        );
        let root = parse::parse(&xml).expect("well-formed");
        let conf = &root.children[0].children[0];
        assert_eq!(
            conf.attr("waitUrl"),
            Some("https://example.com/hold?tone=classical&loop=1")
        );
    }

    #[test]
    fn every_enum_value_renders() {
        let beeps = [Beep::True, Beep::False, Beep::OnEnter, Beep::OnExit];
        let rendered: Vec<&str> = beeps.iter().map(|b| b.as_str()).collect();
        assert_eq!(rendered, ["true", "false", "onEnter", "onExit"]);
        let all = vec![
            ConferenceEvent::Start,
            ConferenceEvent::End,
            ConferenceEvent::Join,
            ConferenceEvent::Leave,
            ConferenceEvent::Mute,
            ConferenceEvent::Hold,
            ConferenceEvent::Modify,
            ConferenceEvent::Speaker,
            ConferenceEvent::Announcement,
        ];
        let xml = Response::new()
            .dial(
                Dial::new().conference(
                    Conference::new("c")
                        .beep(Beep::True)
                        .status_callback_event(all),
                ),
            )
            .dial(
                Dial::new().conference(
                    Conference::new("d")
                        .beep(Beep::OnExit)
                        .status_callback_event(vec![]),
                ),
            )
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response><Dial><Conference beep="true" "#,
                r#"statusCallbackEvent="start end join leave mute hold modify speaker announcement">"#,
                r#"c</Conference></Dial>"#,
                r#"<Dial><Conference beep="onExit">d</Conference></Dial></Response>"#
            ))
        );
    }

    #[test]
    fn empty_dial_and_empty_texts_are_self_closing() {
        let xml = Response::new()
            .dial(Dial::new())
            .say(Say::new(""))
            .dial(Dial::new().conference(Conference::new("")))
            .to_xml();
        assert_eq!(
            xml,
            doc("<Response><Dial/><Say/><Dial><Conference/></Dial></Response>")
        );
    }

    const TRICKY: &str = r#"O'Brien & <Sons> "Ltd""#;

    #[test]
    fn say_text_is_escaped_and_reads_back() {
        let text = format!("Thank you, {TRICKY}. Joining {TRICKY}.");
        let xml = Response::new().say(Say::new(text.clone())).to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                "<Response><Say>Thank you, O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;. ",
                "Joining O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;.</Say></Response>"
            ))
        );
        let root = parse::parse(&xml).expect("well-formed");
        assert_eq!(root.children.len(), 1);
        assert_eq!(root.children[0].name, "Say");
        assert_eq!(root.children[0].text, text);
    }

    #[test]
    fn conference_name_and_attributes_are_escaped_and_read_back() {
        let xml = Response::new()
            .dial(Dial::new().conference(Conference::new(TRICKY).status_callback(TRICKY)))
            .to_xml();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Response><Dial><Conference statusCallback="O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;">"#,
                r#"O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;</Conference></Dial></Response>"#
            ))
        );
        let root = parse::parse(&xml).expect("well-formed");
        let conf = &root.children[0].children[0];
        assert_eq!(conf.name, "Conference");
        assert_eq!(conf.text, TRICKY);
        assert_eq!(conf.attr("statusCallback"), Some(TRICKY));
    }

    #[test]
    fn attribute_whitespace_survives_as_character_references() {
        let xml = Response::new()
            .say(Say::new("a\tb\r\nc").voice("x\ty\nz"))
            .to_xml();
        assert_eq!(
            xml,
            doc("<Response><Say voice=\"x&#9;y&#10;z\">a\tb&#13;\nc</Say></Response>")
        );
        let root = parse::parse(&xml).expect("well-formed");
        assert_eq!(root.children[0].attr("voice"), Some("x\ty\nz"));
        assert_eq!(root.children[0].text, "a\tb\r\nc");
    }

    #[test]
    fn builders_compare_and_clone() {
        let a = Gather::new().num_digits(6).say(Say::new("x"));
        assert_eq!(a.clone(), a);
        assert_ne!(a, Gather::new().num_digits(6));
    }

    /// A sink that refuses every write.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("broken"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_errors_propagate() {
        assert!(Response::new().hangup().write_to(Broken).is_err());
    }
}
