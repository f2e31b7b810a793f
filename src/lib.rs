//! bridgekeeper: an OTP-gated conference line.
//!
//! A caller dials in, the carrier posts a voice webhook, the caller ID is looked up in the
//! participants file, a one-time code goes out by SMS, the caller types it, and only then is
//! the caller joined to the conference. The modules below each own one part of that.

pub mod admin;
pub mod call;
pub mod carrier;
pub mod cli;
pub mod clock;
pub mod conference;
pub mod config;
pub mod console;
pub mod directory;
pub mod domain;
#[cfg(feature = "tools")]
pub mod fake_verify;
#[cfg(feature = "tools")]
pub mod fakes;
#[cfg(feature = "tools")]
pub mod load;
pub mod log_throttle;
pub mod metrics;
pub mod reload;
pub mod roster;
pub mod routes;
pub mod secret;
pub mod server;
pub mod service;
pub mod signature;
#[cfg(feature = "tools")]
pub mod simulator;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod twiml;
pub mod verify;

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future: what the async traits (verifier, store) return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
