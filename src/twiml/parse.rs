//! A small TwiML reader: turns a `<Response>` document into a tree of [`Element`]s so the
//! call simulator and tests can follow TwiML the way the carrier does.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

/// The deepest nesting accepted, counting `<Response>` as level 1.
pub const MAX_DEPTH: usize = 16;

/// The largest input accepted, in bytes (1 MiB).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// One element of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The tag name, as written (e.g. `Say`).
    pub name: String,
    /// Attributes in document order, values unescaped and normalized.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (CDATA included, entities decoded), trimmed of surrounding whitespace.
    pub text: String,
    /// Child elements, in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The value of the first attribute called `name`, if any.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input is not well-formed XML (or uses an entity other than the five predefined ones).
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed {
        /// Byte offset in the input near which the problem was found.
        position: u64,
        /// What was wrong.
        reason: String,
    },
    /// The root element is not `<Response>`.
    #[error("root element is <{0}>, expected <Response>")]
    NotResponse(String),
    /// Elements are nested more than [`MAX_DEPTH`] levels deep.
    #[error("elements nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("input is {0} bytes, more than the {MAX_INPUT_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Parses a TwiML document and returns its root, which must be `<Response>`.
///
/// The XML declaration, comments, processing instructions and a doctype are skipped; only the
/// five predefined entities and character references are decoded.
pub fn parse(xml: &str) -> Result<Element, ParseError> {
    if xml.len() > MAX_INPUT_BYTES {
        return Err(ParseError::TooLarge(xml.len()));
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;

    // Open elements, innermost last; each carries its raw (untrimmed) text so far.
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;

    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| ParseError::Malformed {
            position: reader.error_position(),
            reason: e.to_string(),
        })?;
        let malformed = |reason: String| ParseError::Malformed { position, reason };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let name = start.name().into_inner().to_owned();
                return Err(malformed(format!("second root element <{name}>")));
            }
            Event::Start(start) => {
                let element = open_element(&start, open.len(), position)?;
                open.push(element);
            }
            Event::Empty(start) => {
                let element = open_element(&start, open.len(), position)?;
                close_element(element, &mut open, &mut root);
            }
            Event::End(_) => match open.pop() {
                // The reader has already checked that the end tag matches.
                Some(element) => close_element(element, &mut open, &mut root),
                None => return Err(malformed("end tag without a start tag".to_owned())),
            },
            Event::Text(text) => {
                let content = text.xml10_content();
                push_text(&mut open, &content, position)?;
            }
            Event::CData(cdata) => {
                let content = cdata.xml10_content();
                push_text(&mut open, &content, position)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve(&reference).ok_or_else(|| {
                    malformed(format!("unknown or invalid entity &{};", &*reference))
                })?;
                push_text(&mut open, &resolved, position)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }

    if let Some(unclosed) = open.last() {
        return Err(ParseError::Malformed {
            position: reader.buffer_position(),
            reason: format!("unclosed element <{}>", unclosed.name),
        });
    }
    root.ok_or(ParseError::Malformed {
        position: reader.buffer_position(),
        reason: "no root element".to_owned(),
    })
}

/// Builds the element a start tag opens at `depth` (0 for the root), checking depth and root.
fn open_element(
    start: &BytesStart<'_>,
    depth: usize,
    position: u64,
) -> Result<Element, ParseError> {
    let name = start.name().into_inner().to_owned();
    if depth == 0 && name != "Response" {
        return Err(ParseError::NotResponse(name));
    }
    if depth >= MAX_DEPTH {
        return Err(ParseError::TooDeep);
    }
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let malformed = |reason: String| ParseError::Malformed { position, reason };
        let attr = attr.map_err(|e| malformed(e.to_string()))?;
        let key = attr.key.into_inner().to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| malformed(format!("attribute {key}: {e}")))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// Finishes `element`: trims its text and attaches it to its parent, or makes it the root.
fn close_element(mut element: Element, open: &mut [Element], root: &mut Option<Element>) {
    let trimmed = element.text.trim_matches(is_xml_space);
    if trimmed.len() != element.text.len() {
        element.text = trimmed.to_owned();
    }
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Appends text to the innermost open element; outside the root only whitespace is allowed.
fn push_text(open: &mut [Element], text: &str, position: u64) -> Result<(), ParseError> {
    match open.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.chars().all(is_xml_space) => {}
        None => {
            return Err(ParseError::Malformed {
                position,
                reason: "text outside the root element".to_owned(),
            });
        }
    }
    Ok(())
}

/// Resolves a predefined entity or a character reference; `None` for anything else.
fn resolve(reference: &BytesRef<'_>) -> Option<String> {
    if reference.is_char_ref() {
        return reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .map(String::from);
    }
    resolve_xml_entity(reference).map(str::to_owned)
}

/// XML's whitespace characters (space, tab, CR, LF).
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twiml::{Conference, Dial, Gather, Method, Pause, Redirect, Response, Say};

    #[test]
    fn round_trips_builder_output() {
        let xml = Response::new()
            .gather(
                Gather::new()
                    .num_digits(6)
                    .action("/voice/code?a=1&b=2")
                    .method(Method::Post)
                    .say(Say::new("Type your code.").voice("alice"))
                    .pause(Pause::new().length(2)),
            )
            .redirect(Redirect::new("/voice"))
            .dial(Dial::new().conference(Conference::new("room").muted(true)))
            .hangup()
            .to_xml();
        let root = parse(&xml).expect("builder output parses");
        let expected = Element {
            name: "Response".into(),
            attrs: vec![],
            text: String::new(),
            children: vec![
                Element {
                    name: "Gather".into(),
                    attrs: vec![
                        ("numDigits".into(), "6".into()),
                        ("action".into(), "/voice/code?a=1&b=2".into()),
                        ("method".into(), "POST".into()),
                    ],
                    text: String::new(),
                    children: vec![
                        Element {
                            name: "Say".into(),
                            attrs: vec![("voice".into(), "alice".into())],
                            text: "Type your code.".into(),
                            children: vec![],
                        },
                        Element {
                            name: "Pause".into(),
                            attrs: vec![("length".into(), "2".into())],
                            ..Element::default()
                        },
                    ],
                },
                Element {
                    name: "Redirect".into(),
                    text: "/voice".into(),
                    ..Element::default()
                },
                Element {
                    name: "Dial".into(),
                    children: vec![Element {
                        name: "Conference".into(),
                        attrs: vec![("muted".into(), "true".into())],
                        text: "room".into(),
                        children: vec![],
                    }],
                    ..Element::default()
                },
                Element {
                    name: "Hangup".into(),
                    ..Element::default()
                },
            ],
        };
        assert_eq!(root, expected);
    }

    #[test]
    fn attr_finds_values() {
        let root = parse(r#"<Response><Pause length="3"/></Response>"#).expect("parses");
        let pause = &root.children[0];
        assert_eq!(pause.attr("length"), Some("3"));
        assert_eq!(pause.attr("Length"), None);
        assert_eq!(root.attr("length"), None);
    }

    #[test]
    fn decodes_entities_char_refs_and_cdata() {
        let xml = concat!(
            "<Response><Say voice=\"a&amp;b &#x41;&#66;\">",
            "&lt;tag&gt; &amp; &quot;q&quot; &apos;a&apos; &#233;&#x2603; ",
            "<![CDATA[raw <b>&amp;</b>]]></Say></Response>"
        );
        let root = parse(xml).expect("parses");
        let say = &root.children[0];
        assert_eq!(say.attr("voice"), Some("a&b AB"));
        assert_eq!(say.text, "<tag> & \"q\" 'a' é☃ raw <b>&amp;</b>");
    }

    #[test]
    fn unknown_entities_are_errors() {
        let err = parse("<Response><Say>&nbsp;</Say></Response>").unwrap_err();
        assert!(matches!(err, ParseError::Malformed { .. }), "{err:?}");
        let err = parse(r#"<Response><Say voice="&foo;">x</Say></Response>"#).unwrap_err();
        assert!(matches!(err, ParseError::Malformed { .. }), "{err:?}");
        let err = parse("<Response><Say>&#0;</Say></Response>").unwrap_err();
        assert!(matches!(err, ParseError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn tolerates_pretty_printed_input() {
        // Shaped like the examples in Twilio's docs: declaration, indentation, CRLF, a comment.
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
            <!-- join the moderated room -->\r\n\
            <Response>\r\n\
            \x20   <Gather input=\"dtmf\" numDigits=\"6\"\r\n\
            \x20           action=\"/voice/code\"   method=\"POST\">\r\n\
            \x20       <Say voice=\"Polly.Amy\">\r\n\
            \x20           Please enter\r\n\
            \x20           your code.\r\n\
            \x20       </Say>\r\n\
            \x20   </Gather>\r\n\
            \x20   <Dial>\r\n\
            \x20       <Conference\r\n\
            \x20           startConferenceOnEnter=\"false\"\r\n\
            \x20           waitUrl=\"http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical&amp;x=1\">\r\n\
            \x20         moderated-conference-room\r\n\
            \x20       </Conference>\r\n\
            \x20   </Dial>\r\n\
            </Response>\r\n";
        let root = parse(xml).expect("parses");
        assert_eq!(root.text, "");
        let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Gather", "Dial"]);
        let gather = &root.children[0];
        assert_eq!(gather.attr("action"), Some("/voice/code"));
        assert_eq!(gather.text, "");
        assert_eq!(
            gather.children[0].text, "Please enter\n            your code.",
            "CRLF becomes LF, inner indentation is kept"
        );
        let conf = &root.children[1].children[0];
        assert_eq!(conf.text, "moderated-conference-room");
        assert_eq!(conf.attr("startConferenceOnEnter"), Some("false"));
        assert_eq!(
            conf.attr("waitUrl"),
            Some("http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical&x=1")
        );
    }

    #[test]
    fn mixed_content_keeps_own_text_only() {
        let root =
            parse("<Response> <Say>Hello <Pause/> world </Say> </Response>").expect("parses");
        assert_eq!(root.text, "");
        assert_eq!(root.children[0].text, "Hello  world");
        assert_eq!(root.children[0].children[0].name, "Pause");
    }

    #[test]
    fn empty_response_parses() {
        for xml in [
            "<Response/>",
            "<Response></Response>",
            "\u{feff}<Response/>",
        ] {
            let root = parse(xml).expect(xml);
            assert_eq!(root.name, "Response");
            assert!(root.children.is_empty());
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let cases = [
            "",
            "   ",
            "not xml at all",
            "<Response>",
            "<Response><Say>hi</Response>",
            "<Response><Say>hi</Say>",
            "<Response></Say>",
            "<Response></Response></Response>",
            "<Response/><Response/>",
            "<Response/>trailing",
            "<Response>a & b</Response>",
            "<Response><Say voice=\"a\" voice=\"b\">x</Say></Response>",
            "<Response><Say voice=a>x</Say></Response>",
            "<Response><Say voice=\"a>x</Say></Response>",
            "<Response><!-- unterminated </Response>",
            "<Response><![CDATA[ unterminated </Response>",
        ];
        for xml in cases {
            match parse(xml) {
                Err(ParseError::Malformed { .. }) => {}
                other => panic!("{xml:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn root_must_be_response() {
        assert_eq!(
            parse("<?xml version=\"1.0\"?><Reponse><Hangup/></Reponse>"),
            Err(ParseError::NotResponse("Reponse".into()))
        );
        assert_eq!(
            parse("<response/>"),
            Err(ParseError::NotResponse("response".into()))
        );
        assert_eq!(
            parse("<Say>hi</Say>"),
            Err(ParseError::NotResponse("Say".into()))
        );
    }

    fn nested(levels: usize) -> String {
        let mut xml = String::from("<Response>");
        for _ in 1..levels {
            xml.push_str("<Gather>");
        }
        xml.push_str("<Pause/>");
        for _ in 1..levels {
            xml.push_str("</Gather>");
        }
        xml.push_str("</Response>");
        xml
    }

    #[test]
    fn depth_limit() {
        // `nested(n)` has n levels of Response/Gather plus a Pause one level below.
        assert!(parse(&nested(MAX_DEPTH - 1)).is_ok());
        assert_eq!(parse(&nested(MAX_DEPTH)), Err(ParseError::TooDeep));
        assert_eq!(parse(&nested(10_000)), Err(ParseError::TooDeep));
        let mut deepest = parse(&nested(MAX_DEPTH - 1)).expect("parses");
        let mut depth = 1;
        while let Some(child) = deepest.children.pop() {
            deepest = child;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH);
    }

    #[test]
    fn size_limit() {
        let body = "x".repeat(MAX_INPUT_BYTES - "<Response></Response>".len());
        let at_limit = format!("<Response>{body}</Response>");
        assert_eq!(at_limit.len(), MAX_INPUT_BYTES);
        assert_eq!(parse(&at_limit).expect("parses").text.len(), body.len());
        let over = format!("<Response>{body}x</Response>");
        assert_eq!(parse(&over), Err(ParseError::TooLarge(MAX_INPUT_BYTES + 1)));
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            ParseError::NotResponse("Say".into()).to_string(),
            "root element is <Say>, expected <Response>"
        );
        assert_eq!(
            ParseError::TooDeep.to_string(),
            "elements nested more than 16 levels deep"
        );
        let err = parse("<Response><Say>hi</Response>").unwrap_err();
        assert!(
            err.to_string().starts_with("malformed XML at byte "),
            "{err}"
        );
    }
}
