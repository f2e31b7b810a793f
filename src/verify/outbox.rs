//! The development outbox: what the local verifier "sent", readable at `GET /dev/outbox`.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One message the local verifier would have sent by SMS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The recipient in E.164.
    pub to: String,
    /// The SMS text.
    pub body: String,
    /// The code alone, so that tools need not parse the body.
    pub code: String,
    /// When it was sent, RFC 3339 in UTC.
    pub sent_at: String,
}

/// A bounded, shared list of sent messages, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Outbox(Arc<Mutex<VecDeque<OutboxMessage>>>);

impl Outbox {
    /// The most messages kept; older ones are dropped first.
    pub const CAPACITY: usize = 1000;

    /// Appends a message, dropping the oldest when full.
    pub fn push(&self, message: OutboxMessage) {
        let mut messages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if messages.len() == Self::CAPACITY {
            messages.pop_front();
        }
        messages.push_back(message);
    }

    /// A copy of every kept message, oldest first.
    pub fn messages(&self) -> Vec<OutboxMessage> {
        let messages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        messages.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize) -> OutboxMessage {
        OutboxMessage {
            to: "+15551230001".into(),
            body: format!("body {n}"),
            code: format!("{n:06}"),
            sent_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn keeps_the_newest_messages_up_to_capacity() {
        let outbox = Outbox::default();
        for n in 0..Outbox::CAPACITY + 5 {
            outbox.push(message(n));
        }
        let kept = outbox.messages();
        assert_eq!(kept.len(), Outbox::CAPACITY);
        assert_eq!(kept[0].body, "body 5");
        assert_eq!(
            kept.last().unwrap().body,
            format!("body {}", Outbox::CAPACITY + 4)
        );
    }
}
