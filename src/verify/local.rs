//! The built-in verifier for development: codes from the OS CSPRNG, kept only as a keyed
//! hash, expiring, attempt-limited, "sent" to the log and the dev outbox.
//!
//! A resend while a code is pending must send the same code (as Twilio Verify does), yet the
//! code itself is never stored. So each verification keeps a random nonce from the OS CSPRNG;
//! the code is HMAC-SHA256(key, nonce) reduced to six digits, recomputed on resend. The
//! stored hash is a second HMAC over the code, compared in constant time on check. Without
//! the key (random per process, never written anywhere) neither the nonce nor the hash tells
//! the code.

use crate::BoxFuture;
use crate::clock::Clock;
use crate::domain::{Code, PhoneNumber};
use crate::verify::{CheckOutcome, Outbox, OutboxMessage, Verifier, VerifyError};
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
    hash: [u8; 32],
    expires: Instant,
    checks: u32,
}

/// The development verifier. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LocalVerifier {
    key: [u8; 32],
    pending: DashMap<PhoneNumber, Pending>,
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
    /// A verifier writing to `outbox`, with a fresh random key.
    pub fn new(
        outbox: Outbox,
        clock: Arc<dyn Clock>,
        limits: LocalLimits,
    ) -> Result<Self, VerifyError> {
        Ok(Self {
            key: random()?,
            pending: DashMap::new(),
            sends: DashMap::new(),
            outbox,
            clock,
            limits,
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

    fn send_now(&self, to: &PhoneNumber) -> Result<(), VerifyError> {
        let now = self.clock.now();
        self.admit_send(to, now)?;
        let code = {
            let mut entry = self.pending.entry(to.clone()).or_insert(Pending {
                nonce: [0; 16],
                hash: [0; 32],
                expires: now,
                checks: self.limits.max_checks,
            });
            let usable = entry.expires > now && entry.checks < self.limits.max_checks;
            if !usable {
                let nonce = random()?;
                let code = self.code_for(to, &nonce);
                *entry = Pending {
                    nonce,
                    hash: self.hash_of(to, &code),
                    expires: now + self.limits.code_ttl,
                    checks: 0,
                };
            }
            self.code_for(to, &entry.nonce)
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
        Ok(())
    }

    fn check_now(&self, to: &PhoneNumber, code: &Code) -> Result<CheckOutcome, VerifyError> {
        let now = self.clock.now();
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
        drop(entry);
        if matches {
            self.pending.remove(to);
            Ok(CheckOutcome::Approved)
        } else {
            Ok(CheckOutcome::Rejected)
        }
    }

    /// Drops expired codes and empty send windows; called now and then so memory stays bounded.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.pending.retain(|_, p| p.expires > now);
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
    fn send<'a>(&'a self, to: &'a PhoneNumber) -> BoxFuture<'a, Result<(), VerifyError>> {
        Box::pin(async move { self.send_now(to) })
    }

    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
        Box::pin(async move { self.check_now(to, code) })
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
        let v = LocalVerifier::new(outbox.clone(), clock.clone(), LocalLimits::default()).unwrap();
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
        v.send_now(&ada()).unwrap();
        let code = last_code(&outbox);
        assert_eq!(v.check_now(&ada(), &code), Ok(CheckOutcome::Approved));
        assert_eq!(v.check_now(&ada(), &code), Err(VerifyError::NotFound));
    }

    #[test]
    fn the_outbox_message_carries_the_code_and_number() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada()).unwrap();
        let m = outbox.messages().pop().unwrap();
        assert_eq!(m.to, "+15551230001");
        assert_eq!(m.code.len(), 6);
        assert!(m.body.contains(&m.code));
        assert!(m.sent_at.ends_with('Z'), "{}", m.sent_at);
    }

    #[test]
    fn a_resend_within_the_lifetime_sends_the_same_code() {
        let (v, outbox, clock) = verifier();
        v.send_now(&ada()).unwrap();
        let first = last_code(&outbox);
        clock.advance(Duration::from_secs(300));
        v.send_now(&ada()).unwrap();
        assert!(first.ct_eq(&last_code(&outbox)));
    }

    #[test]
    fn codes_expire_after_ten_minutes() {
        let (v, outbox, clock) = verifier();
        v.send_now(&ada()).unwrap();
        let code = last_code(&outbox);
        clock.advance(Duration::from_secs(600));
        assert_eq!(v.check_now(&ada(), &code), Err(VerifyError::NotFound));
    }

    #[test]
    fn at_most_five_checks_per_code() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada()).unwrap();
        let code = last_code(&outbox);
        for _ in 0..5 {
            assert_eq!(
                v.check_now(&ada(), &wrong(&code)),
                Ok(CheckOutcome::Rejected)
            );
        }
        assert_eq!(v.check_now(&ada(), &code), Err(VerifyError::TooManyChecks));
    }

    #[test]
    fn at_most_five_sends_per_number_per_ten_minutes() {
        let (v, _, clock) = verifier();
        for _ in 0..5 {
            v.send_now(&ada()).unwrap();
            clock.advance(Duration::from_secs(60));
        }
        assert_eq!(v.send_now(&ada()), Err(VerifyError::TooManySends));
        let other = PhoneNumber::parse("+15551230002").unwrap();
        assert_eq!(v.send_now(&other), Ok(()));
        // The first send leaves the window ten minutes after it was made.
        clock.advance(Duration::from_secs(301));
        assert_eq!(v.send_now(&ada()), Ok(()));
    }

    #[test]
    fn a_new_code_follows_an_exhausted_one() {
        let (v, outbox, _) = verifier();
        v.send_now(&ada()).unwrap();
        let code = last_code(&outbox);
        for _ in 0..5 {
            v.check_now(&ada(), &wrong(&code)).unwrap();
        }
        v.send_now(&ada()).unwrap();
        let fresh = last_code(&outbox);
        assert_eq!(v.check_now(&ada(), &fresh), Ok(CheckOutcome::Approved));
    }

    #[test]
    fn codes_differ_between_numbers_and_verifiers() {
        // Not a statistical test: it shows the code depends on the key and the nonce.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let (v, outbox, _) = verifier();
            v.send_now(&ada()).unwrap();
            seen.insert(last_code(&outbox).expose().to_owned());
        }
        assert!(seen.len() > 15, "{} distinct codes of 20", seen.len());
    }

    #[test]
    fn sweep_drops_expired_codes() {
        let (v, _, clock) = verifier();
        v.send_now(&ada()).unwrap();
        assert_eq!(v.pending_count(), 1);
        clock.advance(Duration::from_secs(601));
        v.sweep();
        assert_eq!(v.pending_count(), 0);
        assert!(v.sends.is_empty());
    }
}
