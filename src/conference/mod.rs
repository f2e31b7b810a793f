//! Conferences as the carrier sees them: moderator actions through its REST API.

pub mod control;
