//! Sending and checking one-time codes, behind one trait: a provider's Verify API (Twilio,
//! Telnyx, MessageBird) that makes and checks the code itself, or bridgekeeper's own engine
//! ([`LocalVerifier`]) that makes the code and hands its text to a [`Courier`]: the dev outbox
//! or a [`sender`] (an SMS API).

pub mod build;
pub mod courier;
pub mod local;
pub mod messagebird;
pub mod outbox;
pub mod sender;
pub mod telnyx;
pub mod twilio;
pub mod upstream;

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};

pub use courier::{Courier, MessageTemplate, TemplateError};
pub use local::{LocalLimits, LocalVerifier};
pub use outbox::{Outbox, OutboxMessage};
pub use twilio::{TwilioVerify, TwilioVerifyConfig, TwilioVerifyError};

/// How a code reaches a participant (`channel` in the participants file).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message.
    #[default]
    Sms,
    /// A phone call that speaks the code.
    Voice,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Voice];

    /// The name the participants file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one send asks for: the phone that receives the code (the caller ID, or the
/// participant's `code_to`), how, and for which conference (the built-in engine's message
/// names it).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The phone the code goes to; the check is made for the same number.
    pub to: &'a PhoneNumber,
    /// SMS or a voice call.
    pub channel: Channel,
    /// The conference's name.
    pub conference: &'a str,
}

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
    /// Sends a code to `delivery.to` over `delivery.channel`, or the same code again while
    /// one is pending (`previous` is the receipt of this call's last send, if any). Only
    /// called with a channel in [`channels`](Self::channels): the participants file is
    /// checked against it at start-up.
    fn send<'a>(
        &'a self,
        delivery: &'a Delivery<'a>,
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
    /// The channels it can deliver a code over.
    fn channels(&self) -> &'static [Channel];
}
