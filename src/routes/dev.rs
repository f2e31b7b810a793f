//! `GET /dev/outbox`: what the local verifier "sent", in development mode only.

use crate::domain::PhoneNumber;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `?to=NUMBER` keeps only the messages to that number (any common format). A bare `+` in a
/// query string is a space, so `?to=+12025550101` arrives as ` 12025550101`: see [`to_number`].
#[derive(Debug, Deserialize)]
pub struct Filter {
    to: Option<String>,
}

/// The outbox as a JSON array, oldest first; 503 while the store is unreachable. Open in
/// development mode; once a real carrier can reach the server (any carrier credential set),
/// only with `Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>`, and 404 without a token
/// configured: otherwise whoever spoofs a listed caller ID could read the code.
pub async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let Some(outbox) = state.outbox.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !state.development() {
        match &state.admin_token {
            None => return StatusCode::NOT_FOUND.into_response(),
            Some(token) if !crate::admin::bearer_matches(&headers, token) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    "the outbox needs Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>\n",
                )
                    .into_response();
            }
            Some(_) => {}
        }
    }
    let to = match filter.to.as_deref().map(to_number) {
        None => None,
        Some(Ok(number)) => Some(number),
        Some(Err(e)) => {
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "to: {e} (in a query string write the number's + as %2B, and a space as %20)\n"
                ),
            )
                .into_response();
        }
    };
    match outbox.messages().await {
        Ok(mut messages) => {
            if let Some(to) = to {
                messages.retain(|m| m.to == to.as_e164());
            }
            Json(messages).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The `to` filter as a number. Nobody means a space in front of a number: a value that starts
/// with a space and then a digit is read with `+` there, as it was typed (`?to=+12025550101`).
fn to_number(raw: &str) -> Result<PhoneNumber, crate::domain::PhoneError> {
    let typed = match raw.strip_prefix(' ') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("+{rest}"),
        _ => raw.to_owned(),
    };
    PhoneNumber::parse(&typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_that_arrived_as_a_space_is_read_as_a_plus() {
        let plus = to_number(" 12025550101").unwrap();
        assert_eq!(plus.as_e164(), "+12025550101");
        assert_eq!(
            to_number(" 1 202 555 0101").unwrap().as_e164(),
            "+12025550101"
        );
        assert_eq!(to_number("+12025550101").unwrap(), plus);
        assert!(to_number(" nonsense").is_err());
    }
}
