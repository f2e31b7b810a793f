//! The development outbox: what the local verifier "sent", readable at `GET /dev/outbox`.
//! It lives in the store, so that behind a load balancer every instance shows every message.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::store::{Key, Store, StoreError};
use crate::verify::{Channel, Courier, VerifyError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One message the local verifier would have sent by SMS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The recipient in E.164.
    pub to: String,
    /// The SMS text.
    pub body: String,
    /// The code alone, so that tools need not parse the body.
    pub code: String,
    /// How a real provider would have delivered it: absent for SMS (the four fields DESIGN.md
    /// names), `"voice"` for a call speaking it.
    #[serde(default, skip_serializing_if = "is_sms")]
    pub channel: Channel,
    /// When it was sent, RFC 3339 in UTC.
    pub sent_at: String,
}

fn is_sms(channel: &Channel) -> bool {
    *channel == Channel::Sms
}

/// A bounded list of sent messages in the store, oldest first.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("store", &self.store.name())
            .finish()
    }
}

impl Outbox {
    /// The most messages kept; older ones are dropped first.
    pub const CAPACITY: usize = 1000;
    /// How long the outbox is kept after the last message.
    pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// An outbox kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Appends a message, dropping the oldest when full.
    pub async fn push(&self, message: &OutboxMessage) -> Result<(), StoreError> {
        let bytes =
            serde_json::to_vec(message).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.store
            .append(
                &Key::DevOutbox.to_string(),
                &bytes,
                Self::CAPACITY,
                Self::TTL,
            )
            .await
    }

    /// Every kept message, oldest first.
    pub async fn messages(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        Ok(self
            .store
            .recent(&Key::DevOutbox.to_string())
            .await?
            .iter()
            .filter_map(|bytes| serde_json::from_slice(bytes).ok())
            .collect())
    }
}

/// The dev engine's delivery: the message goes to the outbox (and nowhere else), whatever the
/// channel, so that a rehearsal can try every participant's settings.
impl Courier for Outbox {
    fn deliver<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
        code: &'a Code,
        channel: Channel,
    ) -> BoxFuture<'a, Result<(), VerifyError>> {
        Box::pin(async move {
            self.push(&OutboxMessage {
                to: to.as_e164().to_owned(),
                body: text.to_owned(),
                code: code.expose().to_owned(),
                channel,
                sent_at: rfc3339(std::time::SystemTime::now()),
            })
            .await
            .map_err(|e| VerifyError::Unavailable(format!("dev outbox: {e}")))?;
            tracing::info!(
                event = "verify.outbox",
                to = %to.masked(),
                %channel,
                "development mode: no message sent; the code is at GET /dev/outbox"
            );
            Ok(())
        })
    }

    fn name(&self) -> &'static str {
        "outbox"
    }

    fn channels(&self) -> &'static [Channel] {
        &Channel::ALL
    }
}

/// Formats a wall-clock time as RFC 3339 in UTC.
fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn message(n: usize) -> OutboxMessage {
        OutboxMessage {
            to: "+15551230001".into(),
            body: format!("body {n}"),
            code: format!("{n:06}"),
            channel: Channel::Sms,
            sent_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_messages_up_to_capacity() {
        let outbox = Outbox::new(Arc::new(MemoryStore::new(Arc::new(ManualClock::default()))));
        for n in 0..Outbox::CAPACITY + 5 {
            outbox.push(&message(n)).await.unwrap();
        }
        let kept = outbox.messages().await.unwrap();
        assert_eq!(kept.len(), Outbox::CAPACITY);
        assert_eq!(kept[0].body, "body 5");
        assert_eq!(
            kept.last().unwrap().body,
            format!("body {}", Outbox::CAPACITY + 4)
        );
    }
}
