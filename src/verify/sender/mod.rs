//! Senders: the SMS APIs that deliver the built-in engine's codes (`BRIDGEKEEPER_SENDER`).
//! Each is a [`Courier`](crate::verify::Courier) that posts one message and maps every answer
//! onto a [`VerifyError`], so that a sender that fails sounds to the caller like a Verify API
//! that fails: a spoken apology, never a 5xx.

pub mod messagebird;
pub mod telnyx;
pub mod twilio;

use crate::domain::PhoneNumber;
use crate::verify::VerifyError;

/// Logs one sender call the way every sender does: `verify.request` at debug, and
/// `verify.upstream_error` (error when only the operator can fix it, warn otherwise). The
/// number is masked; the message text (which holds the code) is never logged.
pub fn log_call(
    sender: &'static str,
    to: &PhoneNumber,
    http_status: Option<u16>,
    elapsed_ms: u64,
    result: &Result<(), VerifyError>,
    needs_operator: bool,
) {
    tracing::debug!(
        event = "verify.request",
        operation = "send",
        sender,
        http_status,
        elapsed_ms,
        to = %to,
        ok = result.is_ok(),
        "sender call"
    );
    if let Err(error) = result {
        if needs_operator {
            tracing::error!(
                event = "verify.upstream_error",
                operation = "send",
                sender,
                http_status,
                elapsed_ms,
                to = %to,
                %error,
                "sender call failed; the operator must fix the configuration"
            );
        } else {
            tracing::warn!(
                event = "verify.upstream_error",
                operation = "send",
                sender,
                http_status,
                elapsed_ms,
                to = %to,
                %error,
                "sender call failed"
            );
        }
    }
}
