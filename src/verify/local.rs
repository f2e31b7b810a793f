//! The built-in verifier for development: codes from the OS CSPRNG, kept only as a keyed
//! hash, expiring, attempt-limited, "sent" to the log and the dev outbox.
//!
//! A resend while a code is pending must send the same code (as Twilio Verify does), yet the
//! code itself is never stored. So each verification keeps a random nonce from the OS CSPRNG;
//! the code is HMAC-SHA256(key, nonce) reduced to six digits, recomputed on resend. The
//! stored hash is a second HMAC over the code, compared in constant time on check. Without
//! the key (derived from the server secret, never written anywhere by this module) neither
//! the nonce nor the hash tells the code.
//!
//! The receipt handed back for a send is the nonce and the time it was issued. The call
//! carries it in its signed state, so that after a restart, or on another instance sharing
//! the secret, the same code is still recognised until it expires.

use crate::BoxFuture;
use crate::clock::Clock;
use crate::domain::{Code, PhoneNumber};
use crate::verify::{CheckOutcome, Outbox, OutboxMessage, Receipt, Verifier, VerifyError};
use dashmap::DashMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The local verifier's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLimits {
    /// How long a code stays valid.
    pub code_ttl: Duration,
    /// Checks allowed against one code.
    pub max_checks: u32,
    /// Sends allowed per number within `send_window`.
    pub max_sends: usize,
    /// The sliding window for `max_sends`.
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

#[derive(Debug)]
struct Pending {
    nonce: [u8; 16],
    /// Unix seconds when the code was first issued.
    issued: u64,
    hash: [u8; 32],
    expires: Instant,
    checks: u32,
}

/// The development verifier. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LocalVerifier {
    key: [u8; 32],
    pending: DashMap<PhoneNumber, Pending>,
    /// Nonces of approved codes, until they would have expired: an approved code stays used.
    used: DashMap<[u8; 16], Instant>,
    sends: DashMap<PhoneNumber, VecDeque<Instant>>,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    limits: LocalLimits,
}

/// Fills a buffer from the operating system's CSPRNG.
fn random<const N: usize>() -> Result<[u8; N], VerifyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| VerifyError::Unavailable(format!("OS random source failed: {e}")))?;
    Ok(bytes)
}

impl LocalVerifier {
    /// A verifier writing to `outbox`, with `key` (derived from the server secret).
    pub fn new(key: [u8; 32], outbox: Outbox, clock: Arc<dyn Clock>, limits: LocalLimits) -> Self {
        Self {
            key,
            pending: DashMap::new(),
            used: DashMap::new(),
            sends: DashMap::new(),
            outbox,
            clock,
            limits,
        }
    }

    fn unix_now(&self) -> u64 {
        self.clock
            .wall()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// A receipt for a nonce issued at `issued`.
    fn receipt(nonce: &[u8; 16], issued: u64) -> Receipt {
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&issued.to_be_bytes());
        Receipt::new(bytes).unwrap_or_default()
    }

    /// The pending verification a receipt stands for, if it has not expired or been used.
    fn recover(&self, to: &PhoneNumber, receipt: Option<&Receipt>) -> Option<Pending> {
        let bytes = receipt?.as_bytes();
        let nonce: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        let issued = u64::from_be_bytes(bytes.get(16..24)?.try_into().ok()?);
        let age = self.unix_now().checked_sub(issued)?;
        let left = self.limits.code_ttl.checked_sub(Duration::from_secs(age))?;
        if left.is_zero() || self.used.contains_key(&nonce) {
            return None;
        }
        let code = self.code_for(to, &nonce);
        Some(Pending {
            nonce,
            issued,
            hash: self.hash_of(to, &code),
            expires: self.clock.now() + left,
            checks: 0,
        })
    }

    fn mac(&self, label: &[u8], to: &PhoneNumber, data: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length; a 32-byte key cannot be refused.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(label);
        mac.update(to.as_e164().as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn code_for(&self, to: &PhoneNumber, nonce: &[u8; 16]) -> Code {
        let prf = self.mac(b"code\0", to, nonce);
        let mut first = [0u8; 8];
        first.copy_from_slice(&prf[..8]);
        // 2^64 mod 10^6 is tiny next to 2^64: the bias is below 10^-13.
        Code::from_number((u64::from_be_bytes(first) % 1_000_000) as u32)
    }

    fn hash_of(&self, to: &PhoneNumber, code: &Code) -> [u8; 32] {
        self.mac(b"hash\0", to, code.expose().as_bytes())
    }

    /// Counts a send against the number's window, or refuses it.
    fn admit_send(&self, to: &PhoneNumber, now: Instant) -> Result<(), VerifyError> {
        let mut sent = self.sends.entry(to.clone()).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.limits.send_window)
        {
            sent.pop_front();
        }
        if sent.len() >= self.limits.max_sends {
            return Err(VerifyError::TooManySends);
        }
        sent.push_back(now);
        Ok(())
    }

    fn send_now(
        &self,
        to: &PhoneNumber,
        previous: Option<&Receipt>,
    ) -> Result<Receipt, VerifyError> {
        let now = self.clock.now();
        self.admit_send(to, now)?;
        let recovered = self.recover(to, previous);
        let (code, receipt) = {
            let mut entry = self.pending.entry(to.clone()).or_insert(Pending {
                nonce: [0; 16],
                issued: 0,
                hash: [0; 32],
                expires: now,
                checks: self.limits.max_checks,
            });
            let usable = entry.expires > now && entry.checks < self.limits.max_checks;
            if !usable {
                *entry = match recovered {
                    Some(pending) => pending,
                    None => {
                        let nonce = random()?;
                        let code = self.code_for(to, &nonce);
                        Pending {
                            nonce,
                            issued: self.unix_now(),
                            hash: self.hash_of(to, &code),
                            expires: now + self.limits.code_ttl,
                            checks: 0,
                        }
                    }
                };
            }
            (
                self.code_for(to, &entry.nonce),
                Self::receipt(&entry.nonce, entry.issued),
            )
        };
        let minutes = self.limits.code_ttl.as_secs().div_ceil(60);
        self.outbox.push(OutboxMessage {
            to: to.as_e164().to_owned(),
            body: format!(
                "Your bridgekeeper code is {}. It expires in {minutes} minutes. Never share it.",
                code.expose()
            ),
            code: code.expose().to_owned(),
            sent_at: rfc3339(self.clock.wall()),
        });
        tracing::info!(
            event = "verify.sent",
            to = %to.masked(),
            "local verifier sent a code (development mode: no SMS, see GET /dev/outbox)"
        );
        Ok(receipt)
    }

    fn check_now(
        &self,
        to: &PhoneNumber,
        code: &Code,
        receipt: Option<&Receipt>,
    ) -> Result<CheckOutcome, VerifyError> {
        let now = self.clock.now();
        if !self.pending.contains_key(to) {
            // Not known here (a restart, another instance): the call's receipt says which
            // code it was sent.
            let recovered = self.recover(to, receipt).ok_or(VerifyError::NotFound)?;
            self.pending.entry(to.clone()).or_insert(recovered);
        }
        let Some(mut entry) = self.pending.get_mut(to) else {
            return Err(VerifyError::NotFound);
        };
        if entry.expires <= now {
            drop(entry);
            self.pending.remove(to);
            return Err(VerifyError::NotFound);
        }
        if entry.checks >= self.limits.max_checks {
            return Err(VerifyError::TooManyChecks);
        }
        entry.checks += 1;
        let matches: bool = self.hash_of(to, code).ct_eq(&entry.hash).into();
        let (nonce, expires) = (entry.nonce, entry.expires);
        drop(entry);
        if matches {
            self.pending.remove(to);
            self.used.insert(nonce, expires);
            Ok(CheckOutcome::Approved)
        } else {
            Ok(CheckOutcome::Rejected)
        }
    }

    /// Drops expired codes and empty send windows; called now and then so memory stays bounded.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.pending.retain(|_, p| p.expires > now);
        self.used.retain(|_, expires| *expires > now);
        let window = self.limits.send_window;
        self.sends
            .retain(|_, sent| sent.back().is_some_and(|t| now.duration_since(*t) < window));
    }

    /// Numbers with a pending code (for tests and metrics).
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }
}

/// Formats a wall-clock time as RFC 3339 in UTC.
fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Verifier for LocalVerifier {
    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        previous: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<Receipt, VerifyError>> {
        Box::pin(async move { self.send_now(to, previous) })
    }

    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
        receipt: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
        Box::pin(async move { self.check_now(to, code, receipt) })
    }

    fn name(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn verifier() -> (LocalVerifier, Outbox, Arc<ManualClock>) {
        let outbox = Outbox::default();
        let clock = Arc::new(ManualClock::default());
        let v = LocalVerifier::new(
            [7; 32],
            outbox.clone(),
            clock.clone(),
            LocalLimits::default(),
        );
        (v, outbox, clock)
    }

    fn ada() -> PhoneNumber {
        PhoneNumber::parse("+15551230001").unwrap()
    }

    fn last_code(outbox: &Outbox) -> Code {
        Code::parse(&outbox.messages().last().unwrap().code).unwrap()
    }

    fn wrong(code: &Code) -> Code {
        let n: u32 = code.expose().parse().unwrap();
        Code::from_number((n + 1) % 1_000_000)
    }

    #[test]
    fn a_sent_code_is_approved_once() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        assert_eq!(v.check_now(&ada(), &code, None), Ok(CheckOutcome::Approved));
        assert_eq!(v.check_now(&ada(), &code, None), Err(VerifyError::NotFound));
    }

    #[test]
    fn the_outbox_message_carries_the_code_and_number() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada(), None).unwrap();
        let m = outbox.messages().pop().unwrap();
        assert_eq!(m.to, "+15551230001");
        assert_eq!(m.code.len(), 6);
        assert!(m.body.contains(&m.code));
        assert!(m.sent_at.ends_with('Z'), "{}", m.sent_at);
    }

    #[test]
    fn a_resend_within_the_lifetime_sends_the_same_code() {
        let (v, outbox, clock) = verifier();
        v.send_now(&ada(), None).unwrap();
        let first = last_code(&outbox);
        clock.advance(Duration::from_secs(300));
        v.send_now(&ada(), None).unwrap();
        assert!(first.ct_eq(&last_code(&outbox)));
    }

    #[test]
    fn codes_expire_after_ten_minutes() {
        let (v, outbox, clock) = verifier();
        v.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        clock.advance(Duration::from_secs(600));
        assert_eq!(v.check_now(&ada(), &code, None), Err(VerifyError::NotFound));
    }

    #[test]
    fn at_most_five_checks_per_code() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        for _ in 0..5 {
            assert_eq!(
                v.check_now(&ada(), &wrong(&code), None),
                Ok(CheckOutcome::Rejected)
            );
        }
        assert_eq!(
            v.check_now(&ada(), &code, None),
            Err(VerifyError::TooManyChecks)
        );
    }

    #[test]
    fn at_most_five_sends_per_number_per_ten_minutes() {
        let (v, _, clock) = verifier();
        for _ in 0..5 {
            v.send_now(&ada(), None).unwrap();
            clock.advance(Duration::from_secs(60));
        }
        assert_eq!(v.send_now(&ada(), None), Err(VerifyError::TooManySends));
        let other = PhoneNumber::parse("+15551230002").unwrap();
        assert!(v.send_now(&other, None).is_ok());
        // The first send leaves the window ten minutes after it was made.
        clock.advance(Duration::from_secs(301));
        assert!(v.send_now(&ada(), None).is_ok());
    }

    #[test]
    fn a_new_code_follows_an_exhausted_one() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        for _ in 0..5 {
            v.check_now(&ada(), &wrong(&code), None).unwrap();
        }
        v.send_now(&ada(), None).unwrap();
        let fresh = last_code(&outbox);
        assert_eq!(
            v.check_now(&ada(), &fresh, None),
            Ok(CheckOutcome::Approved)
        );
    }

    #[test]
    fn codes_differ_between_numbers_and_verifiers() {
        // Not a statistical test: it shows the code depends on the key and the nonce.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let (v, outbox, _) = verifier();
            v.send_now(&ada(), None).unwrap();
            seen.insert(last_code(&outbox).expose().to_owned());
        }
        assert!(seen.len() > 15, "{} distinct codes of 20", seen.len());
    }

    #[test]
    fn a_receipt_recognises_its_code_on_a_verifier_that_never_saw_it() {
        let outbox = Outbox::default();
        let clock = Arc::new(ManualClock::default());
        let first = LocalVerifier::new(
            [7; 32],
            outbox.clone(),
            clock.clone(),
            LocalLimits::default(),
        );
        let receipt = first.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        // A restart: same key, nothing in memory.
        let second = LocalVerifier::new(
            [7; 32],
            Outbox::default(),
            clock.clone(),
            LocalLimits::default(),
        );
        assert_eq!(
            second.check_now(&ada(), &code, None),
            Err(VerifyError::NotFound)
        );
        assert_eq!(
            second.check_now(&ada(), &wrong(&code), Some(&receipt)),
            Ok(CheckOutcome::Rejected)
        );
        assert_eq!(
            second.check_now(&ada(), &code, Some(&receipt)),
            Ok(CheckOutcome::Approved)
        );
        // Used up, even with the receipt.
        assert_eq!(
            second.check_now(&ada(), &code, Some(&receipt)),
            Err(VerifyError::NotFound)
        );
        // Another key does not know it.
        let other = LocalVerifier::new(
            [8; 32],
            Outbox::default(),
            clock.clone(),
            LocalLimits::default(),
        );
        let theirs = other.check_now(&ada(), &code, Some(&receipt));
        assert_ne!(theirs, Ok(CheckOutcome::Approved));
    }

    #[test]
    fn a_receipt_expires_with_its_code_and_resends_keep_the_code() {
        let outbox = Outbox::default();
        let clock = Arc::new(ManualClock::default());
        let first = LocalVerifier::new(
            [7; 32],
            outbox.clone(),
            clock.clone(),
            LocalLimits::default(),
        );
        let receipt = first.send_now(&ada(), None).unwrap();
        let code = last_code(&outbox);
        let second = LocalVerifier::new(
            [7; 32],
            outbox.clone(),
            clock.clone(),
            LocalLimits::default(),
        );
        clock.advance(Duration::from_secs(300));
        second.send_now(&ada(), Some(&receipt)).unwrap();
        assert!(
            code.ct_eq(&last_code(&outbox)),
            "a resend after a restart keeps the code"
        );
        clock.advance(Duration::from_secs(300));
        let third = LocalVerifier::new([7; 32], outbox, clock, LocalLimits::default());
        assert_eq!(
            third.check_now(&ada(), &code, Some(&receipt)),
            Err(VerifyError::NotFound)
        );
    }

    #[test]
    fn sweep_drops_expired_codes() {
        let (v, _, clock) = verifier();
        v.send_now(&ada(), None).unwrap();
        assert_eq!(v.pending_count(), 1);
        clock.advance(Duration::from_secs(601));
        v.sweep();
        assert_eq!(v.pending_count(), 0);
        assert!(v.sends.is_empty());
    }
}
