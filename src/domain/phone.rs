//! Phone numbers in E.164, and the caller IDs that must never match anyone.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// A phone number normalized to E.164 (`+15551230001`).
///
/// `Debug` and `Display` both show the masked form (`+1555•••0001`) so that a number cannot
/// reach a log line in full by accident; [`PhoneNumber::as_e164`] is the deliberate way out.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why text is not a phone number.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing but spaces and punctuation.
    #[error("the number is empty")]
    Empty,
    /// No `+` and country code in front, so the country cannot be known.
    #[error("the number must start with + and the country code, like +1 555 123 0001")]
    NoCountryCode,
    /// The parser could not make a number of it.
    #[error("not a phone number ({0})")]
    Unparseable(String),
}

/// Caller IDs that carriers send when the number is withheld or unknown. Twilio documents
/// these sentinels; none of them may ever match a participant.
pub const WITHHELD_SENTINELS: &[&str] = &[
    "+266696687",
    "+86282452253",
    "+8656696",
    "+2562533",
    "+7378742833",
];

impl PhoneNumber {
    /// Parses a number written in any common format (spaces, dots, dashes, brackets) with its
    /// country code, and normalizes it to E.164.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if !trimmed.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(PhoneError::Empty);
        }
        // "00" is the international prefix in most of the world: read it as "+".
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_digit() || " +-.()/".contains(*c)))
        {
            return Err(PhoneError::Unparseable(format!(
                "unexpected character {bad:?}: use digits, spaces and + - . ( ) only"
            )));
        }
        let international = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None if trimmed.starts_with('+') => trimmed.to_owned(),
            None => return Err(PhoneError::NoCountryCode),
        };
        let parsed = phonenumber::parse(None, &international)
            .map_err(|e| PhoneError::Unparseable(e.to_string()))?;
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        // E.164 allows at most 15 digits; the parser accepts a few longer forms.
        let digits = e164.len().saturating_sub(1);
        if !(7..=15).contains(&digits) {
            return Err(PhoneError::Unparseable(format!(
                "{digits} digits; E.164 numbers have 7 to 15"
            )));
        }
        // The parser drops digits it takes for a national trunk prefix ("+57 (0) 300 …"),
        // which can change the number; only a form that reads back as itself is accepted.
        let again = phonenumber::parse(None, &e164)
            .ok()
            .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
        if again.as_deref() != Some(e164.as_str()) {
            return Err(PhoneError::Unparseable(
                "ambiguous: the digits after the country code read as a trunk prefix; \
                 write the number without it, e.g. +57 300 123 4567"
                    .into(),
            ));
        }
        Ok(Self(e164))
    }

    /// Reads a number from a webhook (`From`, `To`) for looking it up, and reads it exactly as
    /// [`PhoneNumber::parse`] does. Carriers send E.164 (`+14155550123`); such text is taken as
    /// it is, without the full parser (which costs tens of microseconds and takes a global lock
    /// inside the `phonenumber` crate), when [`is_fixed_point`] can tell from the parser's own
    /// metadata that the parser would give it back unchanged: an assigned country calling code
    /// and no national prefix the parser would strip. Anything else goes through
    /// [`PhoneNumber::parse`], so the two never disagree.
    pub fn from_webhook(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if is_fixed_point(trimmed) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Self::parse(trimmed)
        }
    }

    /// The full E.164 form, for the places that must have it (sending a code, matching).
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The masked form for logs and summaries: `+1555•••0001`.
    pub fn masked(&self) -> String {
        crate::domain::redact::mask_number(&self.0)
    }
}

/// What the parser may strip after each country calling code: the national prefixes and the
/// national-prefix-for-parsing patterns of every region sharing the code, compiled once from
/// the `phonenumber` crate's own metadata (anchored, with plain `regex`, lock-free).
struct NationalPrefixes {
    prefixes: Vec<String>,
    patterns: Vec<regex::Regex>,
    /// The same patterns as one set, scanned once per number: most numbers match none (the
    /// NANP code alone has some twenty regions, and one search each was a tenth of the
    /// webhook's CPU), and only those that match are looked at for their groups.
    /// `None` when the set does not compile (each pattern did alone): every number of the
    /// code then goes to the full parser.
    any: Option<regex::RegexSet>,
}

/// The metadata the fast path needs, by country calling code (built on first use).
fn national_prefixes() -> &'static HashMap<u16, NationalPrefixes> {
    static TABLE: OnceLock<HashMap<u16, NationalPrefixes>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<u16, NationalPrefixes> = HashMap::new();
        for meta in phonenumber::metadata::DATABASE.iter() {
            let entry = table
                .entry(meta.country_code())
                .or_insert_with(|| NationalPrefixes {
                    prefixes: Vec::new(),
                    patterns: Vec::new(),
                    any: None,
                });
            if let Some(prefix) = meta.national_prefix() {
                entry.prefixes.push(prefix.to_owned());
            }
            if let Some(pattern) = meta.national_prefix_for_parsing() {
                let pattern = anchored(pattern.as_str());
                if !entry
                    .patterns
                    .iter()
                    .any(|p| p.as_str() == pattern.as_str())
                {
                    entry.patterns.push(pattern);
                }
            }
        }
        for entry in table.values_mut() {
            entry.any = regex::RegexSet::new(entry.patterns.iter().map(regex::Regex::as_str)).ok();
        }
        table
    })
}

/// A national-prefix pattern anchored at the start. One that does not compile here matches
/// every number (a non-empty match), so that its numbers all go to the full parser.
fn anchored(pattern: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{pattern})"))
        .unwrap_or_else(|_| regex::Regex::new("^.").expect("a valid pattern"))
}

/// Whether `text` is `+` and 7 to 15 digits that [`PhoneNumber::parse`] returns unchanged. Only
/// a sufficient test: `false` means "ask the full parser", not "invalid". The parser takes the
/// first 1, 2 or 3 digits that form an assigned country code (so "+8010000" is refused there:
/// 8, 80 and 801 are all unassigned), then may strip a national prefix from the rest; the
/// number comes back unchanged when no region sharing the code has a prefix that applies.
fn is_fixed_point(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    if !(7..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return false;
    }
    let table = national_prefixes();
    let Some((rules, national)) = (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        table.get(&code).map(|rules| (rules, &digits[len..]))
    }) else {
        return false;
    };
    // Leading zeros are kept apart by the parser (Italy); leave them to it.
    if national.starts_with('0') {
        return false;
    }
    let stripped_prefix = rules
        .prefixes
        .iter()
        .any(|p| national.starts_with(p.as_str()));
    // The parser acts on a pattern's match only when it starts the number; an empty match
    // with no group taking part changes nothing, anything else may.
    let Some(any) = &rules.any else {
        return false;
    };
    let stripped_pattern = any.matches(national).iter().any(|i| {
        rules.patterns.get(i).is_none_or(|pattern| {
            pattern.captures(national).is_some_and(|caps| {
                caps.get(0).is_some_and(|m| !m.as_str().is_empty())
                    || caps.iter().skip(1).any(|group| group.is_some())
            })
        })
    });
    !stripped_prefix && !stripped_pattern
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// Reads a webhook's caller ID (`From`): `None` when it is withheld (empty, `anonymous`,
/// `restricted`, a carrier sentinel) or not a number at all, so that it never matches anyone.
pub fn caller_id(raw: &str) -> Option<PhoneNumber> {
    let trimmed = raw.trim();
    let lowered = trimmed.to_ascii_lowercase();
    if matches!(
        lowered.as_str(),
        "" | "anonymous" | "restricted" | "unknown" | "private" | "unavailable"
    ) {
        return None;
    }
    let number = PhoneNumber::from_webhook(trimmed).ok()?;
    if WITHHELD_SENTINELS.contains(&number.as_e164()) {
        return None;
    }
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_formats_normalize_to_e164() {
        for raw in [
            "+1 (555) 123-0001",
            "+15551230001",
            "+1.555.123.0001",
            " +1 555 123 0001 ",
            "001 555 123 0001",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).unwrap().as_e164(),
                "+15551230001",
                "{raw}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_e164(),
            "+442079460958"
        );
        assert_eq!(
            PhoneNumber::parse("+57 300 123 4567").unwrap().as_e164(),
            "+573001234567"
        );
        assert_eq!(
            PhoneNumber::parse("+1 202/555-0101").unwrap().as_e164(),
            "+12025550101"
        );
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse(" - "), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("555 123 0001"),
            Err(PhoneError::NoCountryCode)
        );
        for raw in [
            "+1 call me",
            "+12",
            "+1234567890123456789",
            "+abc",
            "+1 800 FLOWERS",
            "+1*202*555*0101",
            // The parser would drop the (0) as a trunk prefix and then change the number again.
            "005705005707",
            "+57 (0) 300 123 4567",
        ] {
            assert!(
                matches!(PhoneNumber::parse(raw), Err(PhoneError::Unparseable(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn webhook_numbers_in_e164_skip_the_parser_and_others_do_not() {
        assert_eq!(
            PhoneNumber::from_webhook("+14155550123").unwrap().as_e164(),
            "+14155550123"
        );
        assert_eq!(
            PhoneNumber::from_webhook("+1 (415) 555-0123")
                .unwrap()
                .as_e164(),
            "+14155550123"
        );
        assert!(PhoneNumber::from_webhook("+0123456789").is_err());
        // Unassigned country calling codes: E.164-shaped, but the parser refuses them, and so
        // must the fast path (proptest found "+8010000": 8, 80 and 801 are all unassigned).
        for raw in [
            "+8010000",
            "+80100000000",
            "+2100000000",
            "+8099999999",
            "+9991234567",
        ] {
            assert!(!is_fixed_point(raw), "{raw}");
            assert!(PhoneNumber::parse(raw).is_err(), "{raw}");
            assert!(PhoneNumber::from_webhook(raw).is_err(), "{raw}");
            assert_eq!(caller_id(raw), None, "{raw}");
        }
        // A national prefix the parser strips ("+44 0 20…" reads as +44 20…): not a fixed point,
        // so both paths give the parser's answer.
        for raw in ["+4402079460958", "+112025550101"] {
            assert!(!is_fixed_point(raw), "{raw}");
            assert_eq!(
                PhoneNumber::from_webhook(raw),
                PhoneNumber::parse(raw),
                "{raw}"
            );
        }
        assert!(PhoneNumber::from_webhook("anonymous").is_err());
        assert!(PhoneNumber::from_webhook("+1234").is_err());
        // Whatever the full parser accepts, the fast path reads the same way.
        for raw in [
            "+12025550101",
            "+442079460958",
            "+573001234567",
            "+8613812345678",
        ] {
            assert_eq!(
                PhoneNumber::from_webhook(raw).unwrap(),
                PhoneNumber::parse(raw).unwrap(),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_fast_path_accepts_only_what_the_parser_gives_back_unchanged() {
        // Every country calling code there is, and every unassigned one up to 999, with
        // national numbers of each leading digit and the shortest, a middle and a usual length.
        let mut fast = 0;
        let table = national_prefixes();
        for code in 1..=999u32 {
            // "+1 23…" reads as +1 whatever follows: only codes that start a number are tried.
            let text = code.to_string();
            if (1..text.len()).any(|len| table.contains_key(&text[..len].parse::<u16>().unwrap())) {
                continue;
            }
            for lead in 1..=9u32 {
                for len in [4usize, 7, 10] {
                    let national: String = std::iter::once(char::from_digit(lead, 10).unwrap())
                        .chain("2345678901234".chars().cycle().skip(lead as usize))
                        .take(len)
                        .collect();
                    let raw = format!("+{code}{national}");
                    if raw.len() > 16 {
                        continue;
                    }
                    if is_fixed_point(&raw) {
                        fast += 1;
                        assert_eq!(
                            PhoneNumber::parse(&raw).map(|n| n.as_e164().to_owned()),
                            Ok(raw.clone()),
                            "{raw}"
                        );
                    }
                }
            }
        }
        // The fast path still takes the ordinary numbers carriers send.
        assert!(fast > 3_000, "only {fast} numbers took the fast path");
        for raw in [
            "+12025550101",
            "+442079460958",
            "+573001234567",
            "+8613812345678",
        ] {
            assert!(is_fixed_point(raw), "{raw}");
        }
    }

    #[test]
    fn display_and_debug_mask_the_number() {
        let n = PhoneNumber::parse("+15551230001").unwrap();
        assert_eq!(n.masked(), "+1555•••0001");
        assert_eq!(n.to_string(), "+1555•••0001");
        assert!(!format!("{n:?}").contains("5551230001"));
    }

    #[test]
    fn withheld_caller_ids_never_become_numbers() {
        for raw in [
            "",
            "  ",
            "anonymous",
            "Anonymous",
            "ANONYMOUS",
            "restricted",
            "+266696687",
            "+86282452253",
            "+8656696",
            "+2562533",
            "+7378742833",
            "client:alice",
            "sip:alice@example.com",
        ] {
            assert_eq!(caller_id(raw), None, "{raw:?}");
        }
        assert_eq!(caller_id("+15551230001").unwrap().as_e164(), "+15551230001");
    }
}
