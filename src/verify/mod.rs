//! Sending and checking one-time codes, behind one trait: the built-in local verifier now,
//! Twilio Verify and others later.

pub mod local;
pub mod outbox;
pub mod twilio;

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};

pub use local::{LocalLimits, LocalVerifier};
pub use outbox::{Outbox, OutboxMessage};
pub use twilio::{TwilioVerify, TwilioVerifyConfig, TwilioVerifyError};

/// What a check of a code said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The code is right; the pending verification is used up.
    Approved,
    /// The code is wrong; the verification is still pending.
    Rejected,
}

/// Why a verifier could not send or check a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Too many codes were requested for this number lately.
    #[error("too many codes were requested for this number")]
    TooManySends,
    /// Too many checks were made against the pending code.
    #[error("too many wrong codes were entered for the pending code")]
    TooManyChecks,
    /// No code is pending for this number: it expired, was used up or was never sent.
    #[error("no pending code for this number (expired, used up or never sent)")]
    NotFound,
    /// The service will not send codes to this number (not a mobile, blocked as fraud, not a
    /// valid number for it); the text is for the log only.
    #[error("verification service refused this number: {0}")]
    Refused(String),
    /// The service could not be reached or failed; the text is for the log only.
    #[error("verification service unavailable: {0}")]
    Unavailable(String),
}

/// Sends one-time codes to a phone and checks what the caller typed.
pub trait Verifier: Send + Sync + 'static {
    /// Sends a code to `to`, or the same code again while one is pending.
    fn send<'a>(&'a self, to: &'a PhoneNumber) -> BoxFuture<'a, Result<(), VerifyError>>;
    /// Checks `code` against the code pending for `to`.
    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>>;
    /// A short name for logs.
    fn name(&self) -> &'static str;
}
