//! Domain types parsed at the edge: past the webhook handler no function takes a raw string
//! for a phone number, a code or a call identifier.

mod call_sid;
mod code;
mod phone;
pub mod redact;
mod role;

pub use call_sid::{CallSid, CallSidError};
pub use code::{Code, CodeError};
pub use phone::{PhoneError, PhoneNumber, WITHHELD_SENTINELS, caller_id};
pub use role::Role;
