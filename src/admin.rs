//! The admin token (`BRIDGEKEEPER_ADMIN_TOKEN`): what it opens is checked here, in constant
//! time, and nowhere else.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let expected = token.expose_secret().as_bytes();
    bool::from(given.trim().as_bytes().ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = SecretString::from("s3cret-admin-token".to_owned());
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(bearer_matches(&with("Bearer s3cret-admin-token"), &token));
        assert!(!bearer_matches(&with("Bearer s3cret-admin-toke"), &token));
        assert!(!bearer_matches(&with("Basic s3cret-admin-token"), &token));
        assert!(!bearer_matches(&with("s3cret-admin-token"), &token));
        assert!(!bearer_matches(&HeaderMap::new(), &token));
    }
}
