//! Every key the server writes into the store, named in one place: each kind has its own
//! prefix, so two features cannot collide on a key, and no key spells out a phone number
//! (numbers appear only as [`NumberKey`]s, keyed hashes) or a code.

use std::fmt;

/// A keyed hash standing for one phone number in store keys (see `Roster::number_key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberKey(String);

impl NumberKey {
    /// Wraps the hex text of a keyed hash.
    pub fn new(hex: String) -> Self {
        Self(hex)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NumberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Wrong codes entered for a number this hour (a counter).
    WrongCodes(&'a NumberKey),
    /// Codes sent to a number this hour (a counter).
    CodesSent(&'a NumberKey),
    /// Codes sent by the whole server in one minute (a counter; the minute since the epoch).
    CodeBudget(u64),
    /// Wrong guest PINs entered from a number this hour (a counter).
    WrongPins(&'a NumberKey),
    /// Guest PIN tries on the whole server in one minute (a counter).
    PinBudget(u64),
    /// The local verifier's sends to a number in its window (a counter).
    LocalSends(&'a NumberKey),
    /// The local verifier's pending verification for a number (a value).
    LocalPending(&'a NumberKey),
    /// A local verification nonce that was approved (a claim).
    LocalUsed(&'a str),
    /// Checks made against a local verification nonce (a counter).
    LocalChecks(&'a str),
    /// The development outbox (a list).
    DevOutbox,
    /// The live roster of a conference (a map: the conference's state, and one field per
    /// call), by conference name.
    Roster(&'a str),
    /// Who a call that was sent into a conference is (name, role, masked number), by the
    /// carrier's call id, for the roster's join event.
    Member(&'a str),
    /// A dropped call's caller, who may rejoin without a new code: by conference and number.
    Rejoin(&'a str, &'a NumberKey),
    /// A web console session (a value), by its random id.
    Session(&'a str),
    /// A console sign-in or enrolment in progress (a value: the number and the verifier's
    /// receipt), by the browser's random pre-sign-in id.
    Pending(&'a str),
    /// An invitation to enrol in a conference (a value), by its random id.
    Invitation(&'a str),
    /// An invitation that was used (a claim), by the invitation's id.
    InvitationUsed(&'a str),
    /// The people enrolled in a conference through invitations (a map: one field per number
    /// key), by conference name.
    Enrolment(&'a str),
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::WrongCodes(n) => write!(f, "wrong:{n}"),
            Key::CodesSent(n) => write!(f, "codes:{n}"),
            Key::CodeBudget(minute) => write!(f, "codes:minute:{minute}"),
            Key::WrongPins(n) => write!(f, "pin:wrong:{n}"),
            Key::PinBudget(minute) => write!(f, "pin:minute:{minute}"),
            Key::LocalSends(n) => write!(f, "lv:sends:{n}"),
            Key::LocalPending(n) => write!(f, "lv:pending:{n}"),
            Key::LocalUsed(nonce) => write!(f, "lv:used:{nonce}"),
            Key::LocalChecks(nonce) => write!(f, "lv:checks:{nonce}"),
            Key::DevOutbox => f.write_str("dev:outbox"),
            Key::Roster(name) => write!(f, "roster:{name}"),
            Key::Member(call) => write!(f, "member:{call}"),
            Key::Rejoin(conference, n) => write!(f, "rejoin:{n}:{conference}"),
            Key::Session(id) => write!(f, "session:{id}"),
            Key::Pending(id) => write!(f, "pending:{id}"),
            Key::Invitation(id) => write!(f, "invite:{id}"),
            Key::InvitationUsed(id) => write!(f, "invite:used:{id}"),
            Key::Enrolment(conference) => write!(f, "enrolled:{conference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_key_has_its_own_prefix() {
        let n = NumberKey::new("00ff".into());
        let keys = [
            Key::WrongCodes(&n),
            Key::CodesSent(&n),
            Key::CodeBudget(7),
            Key::WrongPins(&n),
            Key::PinBudget(7),
            Key::LocalSends(&n),
            Key::LocalPending(&n),
            Key::LocalUsed("00ff"),
            Key::LocalChecks("00ff"),
            Key::DevOutbox,
            Key::Roster("Weekly"),
            Key::Member("CA1"),
            Key::Rejoin("Weekly", &n),
            Key::Session("00ff"),
            Key::Pending("00ff"),
            Key::Invitation("00ff"),
            Key::InvitationUsed("00ff"),
            Key::Enrolment("Weekly"),
        ];
        let rendered: Vec<String> = keys.iter().map(ToString::to_string).collect();
        for (i, a) in rendered.iter().enumerate() {
            for b in &rendered[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // A number key can never make one kind's key read as another's.
        assert_eq!(Key::CodesSent(&n).to_string(), "codes:00ff");
        assert_eq!(Key::CodeBudget(7).to_string(), "codes:minute:7");
    }
}
