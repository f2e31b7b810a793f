//! The console's cookies and tokens: random ids, signed with the console key (derived from
//! the server secret) so that a forged or edited one is refused before the store is asked.

use crate::secret::{hex, hmac};
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION: &str = "bk_session";
/// The browser's pre-sign-in cookie (binds the code form to the number typed before it).
pub const PRE: &str = "bk_pre";

/// A fresh random id: 16 bytes from the OS, in hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("OS random source failed: {e}"));
    hex(&bytes)
}

/// The tag of `value` for `purpose` (hex of a truncated HMAC).
pub fn tag(key: &[u8; 32], purpose: &str, value: &str) -> String {
    let full = hmac(key, format!("{purpose}\0{value}").as_bytes());
    hex(&full[..16])
}

/// `value.tag`.
pub fn sign(key: &[u8; 32], purpose: &str, value: &str) -> String {
    format!("{value}.{}", tag(key, purpose, value))
}

/// The value of a `value.tag`, when the tag is right (compared in constant time).
pub fn open<'a>(key: &[u8; 32], purpose: &str, signed: &'a str) -> Option<&'a str> {
    let (value, given) = signed.rsplit_once('.')?;
    let want = tag(key, purpose, value);
    bool::from(want.as_bytes().ct_eq(given.as_bytes())).then_some(value)
}

/// Whether `given` equals `want`, in constant time.
pub fn same(want: &str, given: &str) -> bool {
    bool::from(want.as_bytes().ct_eq(given.as_bytes()))
}

/// The value of cookie `name` in the request, if any.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/console`, `Secure` when the
/// server is reached over https, and `Max-Age` (0 deletes it).
pub fn set(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let mut out =
        format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={max_age}");
    if secure {
        out.push_str("; Secure");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_open_only_with_their_key_and_purpose() {
        let signed = sign(&[1; 32], "session", "abc");
        assert_eq!(open(&[1; 32], "session", &signed), Some("abc"));
        assert_eq!(open(&[2; 32], "session", &signed), None);
        assert_eq!(open(&[1; 32], "pre", &signed), None);
        assert_eq!(open(&[1; 32], "session", "abd.00"), None);
        assert_eq!(open(&[1; 32], "session", "nodot"), None);
    }

    #[test]
    fn cookies_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; bk_session=x.y; b=2".parse().unwrap());
        assert_eq!(read(&headers, SESSION), Some("x.y"));
        assert_eq!(read(&headers, "c"), None);
        assert!(set(SESSION, "v", 5, true).ends_with("; Secure"));
    }
}
