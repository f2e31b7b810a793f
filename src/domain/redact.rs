//! The one masking rule for phone numbers and codes, wherever text may reach a log line, an
//! error or a terminal: a run of nine or more digits is a phone number and keeps its first
//! four and last four digits (`+1555•••0001`); a run of six to eight digits could be a code
//! or a short number and becomes `•••`; shorter runs (line numbers, error codes) stay.

/// Masks a phone number given in E.164 (or any digits): `+1555•••0001`.
pub fn mask_number(text: &str) -> String {
    // The usual case, E.164 text (on every webhook's log lines): by slicing.
    if let Some(digits) = text.strip_prefix('+')
        && digits.len() >= 9
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let mut out = String::with_capacity(18);
        out.push('+');
        out.push_str(&digits[..4]);
        out.push_str("•••");
        out.push_str(&digits[digits.len() - 4..]);
        return out;
    }
    let plus = text.trim_start().starts_with('+');
    let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
    masked_run(plus, &digits).unwrap_or_else(|| text.to_owned())
}

/// The masked form of one run of digits, or `None` when the run is short enough to keep.
fn masked_run(plus: bool, digits: &[char]) -> Option<String> {
    match digits.len() {
        0..=5 => None,
        6..=8 => Some("•••".to_owned()),
        n => {
            let mut out = String::with_capacity(16);
            if plus {
                out.push('+');
            }
            out.extend(&digits[..4]);
            out.push_str("•••");
            out.extend(&digits[n - 4..]);
            Some(out)
        }
    }
}

/// Masks every number-like run in free text (digits with at most two separators such as
/// spaces, dots, dashes or brackets between them, and a leading `+`) by [`mask_number`]'s
/// rule, and turns control characters into spaces.
pub fn redact(text: &str) -> String {
    /// One or two separators followed by a digit: their length.
    fn separator_gap(rest: &[char]) -> Option<usize> {
        let is_separator = |c: &char| matches!(c, ' ' | '-' | '.' | '(' | ')' | '/');
        let gap = rest.iter().take(2).take_while(|c| is_separator(c)).count();
        (gap > 0 && rest.get(gap).is_some_and(char::is_ascii_digit)).then_some(gap)
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_run = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_run {
            out.push(if chars[i].is_control() { ' ' } else { chars[i] });
            i += 1;
            continue;
        }
        let start = i;
        let plus = chars[i] == '+';
        if plus {
            i += 1;
        }
        let mut digits = Vec::new();
        while i < chars.len() {
            if chars[i].is_ascii_digit() {
                digits.push(chars[i]);
                i += 1;
            } else if let Some(gap) = separator_gap(&chars[i..]) {
                i += gap;
            } else {
                break;
            }
        }
        match masked_run(plus, &digits) {
            Some(masked) => out.push_str(&masked),
            None => out.extend(&chars[start..i]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e164_shortcut_masks_as_the_general_rule() {
        for n in 1..=16 {
            let digits: String = (0..n)
                .map(|i| char::from(b'0' + (i * 7 % 10) as u8))
                .collect();
            for text in [format!("+{digits}"), digits.clone(), format!(" +{digits}")] {
                let chars: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
                let general = masked_run(text.trim_start().starts_with('+'), &chars)
                    .unwrap_or_else(|| text.clone());
                assert_eq!(mask_number(&text), general, "{text}");
            }
        }
    }

    #[test]
    fn numbers_keep_four_and_four_and_codes_vanish() {
        assert_eq!(mask_number("+15551230001"), "+1555•••0001");
        assert_eq!(mask_number("+442079460958"), "+4420•••0958");
        assert_eq!(mask_number("+1234567"), "•••");
        assert_eq!(
            redact("Invalid parameter `To`: +15551230001"),
            "Invalid parameter `To`: +1555•••0001"
        );
        assert_eq!(redact("code 123456 is wrong"), "code ••• is wrong");
        assert_eq!(
            redact("call +1 (555) 123-0001 now"),
            "call +1555•••0001 now"
        );
        assert_eq!(redact("+1 (202) 555-0100 and 5"), "+1202•••0100 and 5");
        assert_eq!(
            redact("line 12, 3 keys, error 60200"),
            "line 12, 3 keys, error 60200"
        );
        assert_eq!(redact("call 5550100 now"), "call ••• now");
        assert_eq!(redact("a\u{1b}[2Jb"), "a [2Jb");
    }
}
