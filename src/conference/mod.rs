//! Conferences as the carrier sees them: its conference events, the live roster built from
//! them, and moderator actions through its REST API.

pub mod control;
pub mod events;
pub mod live;
pub mod moderation;
