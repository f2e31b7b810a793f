//! A six-digit one-time code as typed on the keypad.

use std::fmt;
use subtle::ConstantTimeEq;

/// A six-digit one-time code. Its `Debug` never shows the digits; `Display` is deliberately
/// not implemented so that a code cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Code([u8; Code::LEN]);

/// Why keypad input is not a code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    /// Fewer or more than six characters.
    #[error("a code has exactly {expected} digits, got {got} characters")]
    WrongLength {
        /// Always [`Code::LEN`].
        expected: usize,
        /// How many characters were given.
        got: usize,
    },
    /// Something other than the digits 0-9.
    #[error("a code has only the digits 0-9")]
    NotDigits,
}

impl Code {
    /// Number of digits in a code.
    pub const LEN: usize = 6;

    /// Parses keypad input; anything but exactly six ASCII digits is refused.
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let bytes = raw.as_bytes();
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CodeError::NotDigits);
        }
        let digits: [u8; Self::LEN] = bytes.try_into().map_err(|_| CodeError::WrongLength {
            expected: Self::LEN,
            got: raw.chars().count(),
        })?;
        Ok(Self(digits))
    }

    /// Turns a number below one million into a zero-padded code.
    pub fn from_number(n: u32) -> Self {
        let n = n % 1_000_000;
        let text = format!("{n:06}");
        let mut digits = [0u8; Self::LEN];
        digits.copy_from_slice(text.as_bytes());
        Self(digits)
    }

    /// The digits, for the one place that must send them (an SMS, the dev outbox).
    pub fn expose(&self) -> &str {
        // The array holds only ASCII digits, checked in `parse` and `from_number`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Compares two codes in constant time.
    pub fn ct_eq(&self, other: &Code) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(••••••)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_parse() {
        assert_eq!(Code::parse("012345").unwrap().expose(), "012345");
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            Code::parse("12345"),
            Err(CodeError::WrongLength {
                expected: 6,
                got: 5
            })
        );
        assert_eq!(
            Code::parse("1234567"),
            Err(CodeError::WrongLength {
                expected: 6,
                got: 7
            })
        );
        for bad in [
            "12345a",
            "12 345",
            "*12345",
            "12345#",
            "١٢٣٤٥٦",
            "12\n345",
            "",
        ] {
            assert!(Code::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn from_number_pads_with_zeros() {
        assert_eq!(Code::from_number(42).expose(), "000042");
        assert_eq!(Code::from_number(999_999).expose(), "999999");
    }

    #[test]
    fn debug_never_shows_the_digits() {
        let code = Code::parse("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let a = Code::parse("111111").unwrap();
        let b = Code::parse("111112").unwrap();
        assert!(a.ct_eq(&a.clone()));
        assert!(!a.ct_eq(&b));
    }
}
