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

/// What a verifier hands back for a sent code, carried by the call (in its signed state) to
/// the check: lets a verifier without shared storage recognise its own code after a restart
/// or on another instance. Opaque, at most [`Receipt::MAX_LEN`] bytes; empty when unused.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Receipt(Vec<u8>);

impl Receipt {
    /// The longest receipt a call can carry.
    pub const MAX_LEN: usize = 64;

    /// A receipt of these bytes, or `None` when too long.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() <= Self::MAX_LEN).then_some(Self(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Receipt({} bytes)", self.0.len())
    }
}

/// Sends one-time codes to a phone and checks what the caller typed.
pub trait Verifier: Send + Sync + 'static {
    /// Sends a code to `to`, or the same code again while one is pending (`previous` is the
    /// receipt of this call's last send, if any).
    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        previous: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<Receipt, VerifyError>>;
    /// Checks `code` against the code pending for `to` (sent with `receipt`).
    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
        receipt: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>>;
    /// A short name for logs.
    fn name(&self) -> &'static str;
}
