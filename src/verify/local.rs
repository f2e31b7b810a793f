//! bridgekeeper's own verification engine (`builtin`, and `dev`): codes from the OS CSPRNG,
//! never stored in clear, expiring, bound to the number, attempt-limited, delivered by a
//! [`Courier`] (an SMS API, or in development the dev outbox). Its state lives in the
//! [`Store`], so that with a shared store (Redis) a code sent by one instance is accepted by
//! another.
//!
//! A resend while a code is pending must send the same code (as Twilio Verify does), yet the
//! code itself is never stored. So each verification keeps a random nonce from the OS CSPRNG;
//! the code is HMAC-SHA256(key, number, nonce) reduced to six digits, recomputed on resend
//! and on check (compared in constant time). Without the key (derived from the server
//! secret, never stored) nothing in the store tells the code.
//!
//! The receipt handed back for a send is the nonce and the time it was issued. The call
//! carries it in its signed state, so that after a restart with the in-memory store, or on
//! another instance sharing the secret, the same code is still recognised until it expires.

use crate::BoxFuture;
use crate::clock::Clock;
use crate::domain::{Code, PhoneNumber};
use crate::secret::MacKey;
use crate::store::{Key, NumberKey, Store};
use crate::verify::{
    Channel, CheckOutcome, Courier, Delivery, MessageTemplate, Receipt, Verifier, VerifyError,
};
use std::sync::Arc;
use std::time::Duration;

/// The local verifier's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLimits {
    /// How long a code stays valid.
    pub code_ttl: Duration,
    /// Checks allowed against one code.
    pub max_checks: u64,
    /// Sends allowed per number within `send_window`.
    pub max_sends: u64,
    /// The window for `max_sends`, starting at the first send.
    pub send_window: Duration,
}

impl Default for LocalLimits {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(10 * 60),
            max_checks: 5,
            max_sends: 5,
            send_window: Duration::from_secs(10 * 60),
        }
    }
}

/// One verification: the nonce its code derives from, and when it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    nonce: [u8; 16],
    /// Unix seconds.
    issued: u64,
}

impl Pending {
    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = self.nonce.to_vec();
        bytes.extend_from_slice(&self.issued.to_be_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            nonce: bytes.get(..16)?.try_into().ok()?,
            issued: u64::from_be_bytes(bytes.get(16..24)?.try_into().ok()?),
        })
    }

    fn nonce_hex(&self) -> String {
        crate::secret::hex(&self.nonce)
    }
}

/// The built-in engine. Cheap to share behind an `Arc`.
pub struct LocalVerifier {
    key: MacKey,
    store: Arc<dyn Store>,
    courier: Arc<dyn Courier>,
    template: MessageTemplate,
    clock: Arc<dyn Clock>,
    limits: LocalLimits,
}

impl std::fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVerifier")
            .field("store", &self.store.name())
            .field("courier", &self.courier.name())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Fills a buffer from the operating system's CSPRNG.
fn random<const N: usize>() -> Result<[u8; N], VerifyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| VerifyError::Unavailable(format!("OS random source failed: {e}")))?;
    Ok(bytes)
}

fn store_failed(e: crate::store::StoreError) -> VerifyError {
    VerifyError::Unavailable(format!("local verifier {e}"))
}

impl LocalVerifier {
    /// An engine keeping its state in `store` and delivering through `courier` the message
    /// `template` makes, with `key` (derived from the server secret).
    pub fn new(
        key: [u8; 32],
        store: Arc<dyn Store>,
        courier: Arc<dyn Courier>,
        template: MessageTemplate,
        clock: Arc<dyn Clock>,
        limits: LocalLimits,
    ) -> Self {
        Self {
            key: MacKey::new(&key),
            store,
            courier,
            template,
            clock,
            limits,
        }
    }

    /// A store key for a number that does not spell the number out.
    fn number_key(&self, to: &PhoneNumber) -> NumberKey {
        NumberKey::new(crate::secret::number_key(&self.key, to))
    }

    fn code_for(&self, to: &PhoneNumber, nonce: &[u8; 16]) -> Code {
        let prf = self
            .key
            .mac(&[b"code\0", to.as_e164().as_bytes(), b"\0", nonce]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&prf[..8]);
        // 2^64 mod 10^6 is tiny next to 2^64: the bias is below 10^-13.
        Code::from_number((u64::from_be_bytes(first) % 1_000_000) as u32)
    }

    /// How long a verification issued at `issued` has left, if any.
    fn left(&self, pending: &Pending) -> Option<Duration> {
        let age = self.clock.unix_now().checked_sub(pending.issued)?;
        self.limits
            .code_ttl
            .checked_sub(Duration::from_secs(age))
            .filter(|left| !left.is_zero())
    }

    /// Whether a verification can still be checked: not expired, not used, checks left.
    async fn usable(&self, pending: &Pending) -> Result<bool, VerifyError> {
        if self.left(pending).is_none() {
            return Ok(false);
        }
        let nonce = pending.nonce_hex();
        let used = self
            .store
            .fetch(&Key::LocalUsed(&nonce).to_string())
            .await
            .map_err(store_failed)?
            .is_some();
        let checks = self
            .store
            .get(&Key::LocalChecks(&nonce).to_string())
            .await
            .map_err(store_failed)?;
        Ok(!used && checks < self.limits.max_checks)
    }

    /// The verification pending for `to`: the one in the store, else the call's receipt.
    async fn pending(
        &self,
        to: &PhoneNumber,
        receipt: Option<&Receipt>,
    ) -> Result<Option<Pending>, VerifyError> {
        let stored = self
            .store
            .fetch(&Key::LocalPending(&self.number_key(to)).to_string())
            .await
            .map_err(store_failed)?
            .and_then(|bytes| Pending::from_bytes(&bytes));
        Ok(stored
            .or_else(|| receipt.and_then(|r| Pending::from_bytes(r.as_bytes())))
            .filter(|p| self.left(p).is_some()))
    }

    async fn send_now(
        &self,
        delivery: &Delivery<'_>,
        previous: Option<&Receipt>,
    ) -> Result<Receipt, VerifyError> {
        let to = delivery.to;
        if !self.courier.channels().contains(&delivery.channel) {
            // The participants file is checked against the channels at start-up; this is the
            // backstop, never a code sent some other way than asked.
            return Err(VerifyError::Refused(format!(
                "{} cannot deliver by {}",
                self.courier.name(),
                delivery.channel
            )));
        }
        let number = self.number_key(to);
        let sends = self
            .store
            .incr(
                &Key::LocalSends(&number).to_string(),
                self.limits.send_window,
            )
            .await
            .map_err(store_failed)?;
        if sends > self.limits.max_sends {
            return Err(VerifyError::TooManySends);
        }
        let reusable = match self.pending(to, previous).await? {
            Some(p) if self.usable(&p).await? => Some(p),
            _ => None,
        };
        let pending = match reusable {
            Some(p) => p,
            None => Pending {
                nonce: random()?,
                issued: self.clock.unix_now(),
            },
        };
        let left = self.left(&pending).unwrap_or(self.limits.code_ttl);
        self.store
            .put(
                &Key::LocalPending(&number).to_string(),
                &pending.to_bytes(),
                left,
            )
            .await
            .map_err(store_failed)?;
        let code = self.code_for(to, &pending.nonce);
        let text = self.template.render(&code, delivery.conference);
        self.courier
            .deliver(to, &text, &code, delivery.channel)
            .await?;
        tracing::info!(
            event = "verify.sent",
            to = %to.masked(),
            courier = self.courier.name(),
            channel = %delivery.channel,
            "built-in engine sent a code"
        );
        Ok(Receipt::new(pending.to_bytes()).unwrap_or_default())
    }

    async fn check_now(
        &self,
        to: &PhoneNumber,
        code: &Code,
        receipt: Option<&Receipt>,
    ) -> Result<CheckOutcome, VerifyError> {
        let Some(pending) = self.pending(to, receipt).await? else {
            return Err(VerifyError::NotFound);
        };
        let nonce = pending.nonce_hex();
        let used = self
            .store
            .fetch(&Key::LocalUsed(&nonce).to_string())
            .await
            .map_err(store_failed)?;
        if used.is_some() {
            return Err(VerifyError::NotFound);
        }
        let left = self.left(&pending).ok_or(VerifyError::NotFound)?;
        let checks = self
            .store
            .incr(&Key::LocalChecks(&nonce).to_string(), left)
            .await
            .map_err(store_failed)?;
        if checks > self.limits.max_checks {
            return Err(VerifyError::TooManyChecks);
        }
        if !self.code_for(to, &pending.nonce).ct_eq(code) {
            return Ok(CheckOutcome::Rejected);
        }
        // Only one check may approve a code, even when two race on two instances.
        let first = self
            .store
            .claim(&Key::LocalUsed(&nonce).to_string(), left)
            .await
            .map_err(store_failed)?;
        if !first {
            return Err(VerifyError::NotFound);
        }
        self.store
            .remove(&Key::LocalPending(&self.number_key(to)).to_string())
            .await
            .map_err(store_failed)?;
        Ok(CheckOutcome::Approved)
    }
}

impl Verifier for LocalVerifier {
    fn send<'a>(
        &'a self,
        delivery: &'a Delivery<'a>,
        previous: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<Receipt, VerifyError>> {
        Box::pin(self.send_now(delivery, previous))
    }

    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
        receipt: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
        Box::pin(self.check_now(to, code, receipt))
    }

    fn name(&self) -> &'static str {
        match self.courier.name() {
            "outbox" => "local",
            _ => "builtin",
        }
    }

    fn channels(&self) -> &'static [Channel] {
        self.courier.channels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;
    use crate::verify::Outbox;

    struct Rig {
        clock: Arc<ManualClock>,
        store: Arc<MemoryStore>,
        outbox: Outbox,
    }

    impl Rig {
        fn new() -> Self {
            let clock = Arc::new(ManualClock::default());
            let store = Arc::new(MemoryStore::new(clock.clone()));
            Self {
                outbox: Outbox::new(store.clone()),
                store,
                clock,
            }
        }

        /// A verifier on this rig's store (another instance, when called twice).
        fn verifier(&self, key: u8) -> LocalVerifier {
            LocalVerifier::new(
                [key; 32],
                self.store.clone(),
                Arc::new(self.outbox.clone()),
                MessageTemplate::default(),
                self.clock.clone(),
                LocalLimits::default(),
            )
        }

        /// A verifier with nothing in common but the clock (a restart with the memory store).
        fn restarted(&self, key: u8) -> LocalVerifier {
            LocalVerifier::new(
                [key; 32],
                Arc::new(MemoryStore::new(self.clock.clone())),
                Arc::new(self.outbox.clone()),
                MessageTemplate::default(),
                self.clock.clone(),
                LocalLimits::default(),
            )
        }

        async fn last_code(&self) -> Code {
            let messages = self.outbox.messages().await.unwrap();
            Code::parse(&messages.last().unwrap().code).unwrap()
        }
    }

    fn sms(to: &PhoneNumber) -> Delivery<'_> {
        Delivery {
            to,
            channel: Channel::Sms,
            conference: "Board",
        }
    }

    fn ada() -> PhoneNumber {
        PhoneNumber::parse("+15551230001").unwrap()
    }

    fn wrong(code: &Code) -> Code {
        let n: u32 = code.expose().parse().unwrap();
        Code::from_number((n + 1) % 1_000_000)
    }

    #[tokio::test]
    async fn a_sent_code_is_approved_once() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        v.send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        assert_eq!(
            v.check_now(&ada(), &code, None).await,
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            v.check_now(&ada(), &code, None).await,
            Err(VerifyError::NotFound)
        );
    }

    #[tokio::test]
    async fn the_outbox_message_carries_the_code_and_number() {
        let rig = Rig::new();
        rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let m = rig.outbox.messages().await.unwrap().pop().unwrap();
        assert_eq!(m.to, "+15551230001");
        assert_eq!(m.code.len(), 6);
        assert!(m.body.contains(&m.code));
        assert!(m.sent_at.ends_with('Z'), "{}", m.sent_at);
    }

    #[tokio::test]
    async fn a_resend_within_the_lifetime_sends_the_same_code() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        v.send_now(&sms(&ada()), None).await.unwrap();
        let first = rig.last_code().await;
        rig.clock.advance(Duration::from_secs(300));
        v.send_now(&sms(&ada()), None).await.unwrap();
        assert!(first.ct_eq(&rig.last_code().await));
    }

    #[tokio::test]
    async fn codes_expire_after_ten_minutes() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        v.send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        rig.clock.advance(Duration::from_secs(600));
        assert_eq!(
            v.check_now(&ada(), &code, None).await,
            Err(VerifyError::NotFound)
        );
    }

    #[tokio::test]
    async fn at_most_five_checks_per_code() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        v.send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        for _ in 0..5 {
            assert_eq!(
                v.check_now(&ada(), &wrong(&code), None).await,
                Ok(CheckOutcome::Rejected)
            );
        }
        assert_eq!(
            v.check_now(&ada(), &code, None).await,
            Err(VerifyError::TooManyChecks)
        );
    }

    #[tokio::test]
    async fn at_most_five_sends_per_number_per_ten_minutes() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        for _ in 0..5 {
            v.send_now(&sms(&ada()), None).await.unwrap();
            rig.clock.advance(Duration::from_secs(60));
        }
        assert_eq!(
            v.send_now(&sms(&ada()), None).await,
            Err(VerifyError::TooManySends)
        );
        let other = PhoneNumber::parse("+15551230002").unwrap();
        assert!(v.send_now(&sms(&other), None).await.is_ok());
        // Ten minutes after the first send, the window starts over.
        rig.clock.advance(Duration::from_secs(301));
        assert!(v.send_now(&sms(&ada()), None).await.is_ok());
    }

    #[tokio::test]
    async fn a_new_code_follows_an_exhausted_one() {
        let rig = Rig::new();
        let v = rig.verifier(7);
        v.send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        for _ in 0..5 {
            v.check_now(&ada(), &wrong(&code), None).await.unwrap();
        }
        v.send_now(&sms(&ada()), None).await.unwrap();
        let fresh = rig.last_code().await;
        assert_eq!(
            v.check_now(&ada(), &fresh, None).await,
            Ok(CheckOutcome::Approved)
        );
    }

    #[tokio::test]
    async fn codes_differ_between_sends_after_approval_and_between_keys() {
        // Not a statistical test: it shows the code depends on the key and the nonce.
        let mut seen = std::collections::HashSet::new();
        for key in 0..20u8 {
            let rig = Rig::new();
            rig.verifier(key)
                .send_now(&sms(&ada()), None)
                .await
                .unwrap();
            seen.insert(rig.last_code().await.expose().to_owned());
        }
        assert!(seen.len() > 15, "{} distinct codes of 20", seen.len());
    }

    #[tokio::test]
    async fn a_code_sent_by_one_instance_is_accepted_by_another() {
        let rig = Rig::new();
        rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        let other = rig.verifier(7);
        assert_eq!(
            other.check_now(&ada(), &code, None).await,
            Ok(CheckOutcome::Approved)
        );
        // ... once.
        assert_eq!(
            rig.verifier(7).check_now(&ada(), &code, None).await,
            Err(VerifyError::NotFound)
        );
    }

    #[tokio::test]
    async fn checks_are_counted_across_instances() {
        let rig = Rig::new();
        rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        for i in 0..5u8 {
            let v = rig.verifier(7);
            assert_eq!(
                v.check_now(&ada(), &wrong(&code), None).await,
                Ok(CheckOutcome::Rejected),
                "check {i}"
            );
        }
        assert_eq!(
            rig.verifier(7).check_now(&ada(), &code, None).await,
            Err(VerifyError::TooManyChecks)
        );
    }

    #[tokio::test]
    async fn a_receipt_recognises_its_code_after_a_restart() {
        let rig = Rig::new();
        let receipt = rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        let restarted = rig.restarted(7);
        assert_eq!(
            restarted.check_now(&ada(), &code, None).await,
            Err(VerifyError::NotFound)
        );
        assert_eq!(
            restarted
                .check_now(&ada(), &wrong(&code), Some(&receipt))
                .await,
            Ok(CheckOutcome::Rejected)
        );
        assert_eq!(
            restarted.check_now(&ada(), &code, Some(&receipt)).await,
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            restarted.check_now(&ada(), &code, Some(&receipt)).await,
            Err(VerifyError::NotFound),
            "used up"
        );
        // Another key does not know it.
        let theirs = rig
            .restarted(8)
            .check_now(&ada(), &code, Some(&receipt))
            .await;
        assert_ne!(theirs, Ok(CheckOutcome::Approved));
    }

    #[tokio::test]
    async fn a_receipt_expires_with_its_code_and_a_resend_keeps_the_code() {
        let rig = Rig::new();
        let receipt = rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let code = rig.last_code().await;
        rig.clock.advance(Duration::from_secs(300));
        rig.restarted(7)
            .send_now(&sms(&ada()), Some(&receipt))
            .await
            .unwrap();
        assert!(
            code.ct_eq(&rig.last_code().await),
            "a resend after a restart keeps the code"
        );
        rig.clock.advance(Duration::from_secs(300));
        assert_eq!(
            rig.restarted(7)
                .check_now(&ada(), &code, Some(&receipt))
                .await,
            Err(VerifyError::NotFound)
        );
    }

    #[tokio::test]
    async fn nothing_in_the_store_spells_out_the_number() {
        let rig = Rig::new();
        rig.verifier(7).send_now(&sms(&ada()), None).await.unwrap();
        let dump = format!("{:?}", rig.store);
        assert!(dump.contains("lv:pending:"), "{dump}");
        assert!(!dump.contains("5551230001"), "{dump}");
    }
}
