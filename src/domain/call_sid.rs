//! The carrier's identifier of one call.

use std::fmt;

/// The carrier's identifier for one call (`CallSid`), checked to be short and plain ASCII so
/// that it is safe as a map key and in a log line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallSid(String);

/// Why a `CallSid` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallSidError {
    /// The parameter was missing or empty.
    #[error("CallSid is missing")]
    Missing,
    /// Longer than any carrier's call identifier.
    #[error("CallSid is longer than {max} characters")]
    TooLong {
        /// The longest accepted identifier.
        max: usize,
    },
    /// Contains something other than letters, digits, `-`, `_`, `:` or `.`.
    #[error("CallSid has characters other than letters, digits, '-', '_', ':' and '.'")]
    BadCharacter,
    /// Not the shape of the carrier's call ids.
    #[error("CallSid is not {0}")]
    Shape(&'static str),
}

impl CallSid {
    /// The longest identifier accepted. Twilio's are 34 characters, UUIDs 36; Telnyx's
    /// `v3:` call-control ids are longer.
    pub const MAX_LEN: usize = 128;

    /// Parses a raw `CallSid` parameter.
    pub fn parse(raw: &str) -> Result<Self, CallSidError> {
        if raw.is_empty() {
            return Err(CallSidError::Missing);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(CallSidError::TooLong { max: Self::MAX_LEN });
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        {
            return Err(CallSidError::BadCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The identifier as the carrier sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallSid({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_call_sids_parse() {
        let sid = CallSid::parse("CA1234567890abcdef1234567890abcdef").unwrap();
        assert_eq!(sid.as_str(), "CA1234567890abcdef1234567890abcdef");
        assert!(CallSid::parse("v3:abc-DEF_1.2").is_ok());
    }

    #[test]
    fn empty_long_and_odd_call_sids_are_refused() {
        assert_eq!(CallSid::parse(""), Err(CallSidError::Missing));
        assert_eq!(
            CallSid::parse(&"A".repeat(129)),
            Err(CallSidError::TooLong { max: 128 })
        );
        for bad in ["CA 1", "CA\n1", "CA<1>", "CA/../1", "CAé"] {
            assert_eq!(
                CallSid::parse(bad),
                Err(CallSidError::BadCharacter),
                "{bad:?}"
            );
        }
    }
}
