//! The participants as the server serves them: the loaded directory plus what is derived from
//! it once (the fingerprint index the call state refers to), behind a handle that a reload
//! swaps atomically while webhooks keep reading.

use crate::directory::{Conference, Directory, Participant};
use crate::domain::PhoneNumber;
use crate::secret::MacKey;
use crate::store::NumberKey;
use crate::token::Fingerprint;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;

/// One loaded version of the participants.
#[derive(Debug)]
pub struct Roster {
    directory: Directory,
    by_fingerprint: HashMap<Fingerprint, (usize, usize)>,
    /// Conferences with a guest PIN, by their guest fingerprint.
    guests: HashMap<Fingerprint, usize>,
    key: MacKey,
}

/// The fingerprint a guest's call carries: the conference only (a guest is not listed).
fn guest_fingerprint_with(key: &MacKey, conference: &str) -> Fingerprint {
    let full = key.mac(&[b"guest\0", conference.as_bytes()]);
    let mut fp = [0u8; 12];
    fp.copy_from_slice(&full[..12]);
    fp
}

/// The fingerprint of a caller in a conference under `key`.
fn fingerprint_with(key: &MacKey, conference: &str, phone: &PhoneNumber) -> Fingerprint {
    let full = key.mac(&[
        b"caller\0",
        conference.as_bytes(),
        b"\0",
        phone.as_e164().as_bytes(),
    ]);
    let mut fp = [0u8; 12];
    fp.copy_from_slice(&full[..12]);
    fp
}

impl Roster {
    /// Indexes a directory under `key` (derived from the server secret).
    pub fn new(directory: Directory, key: [u8; 32]) -> Self {
        let key = MacKey::new(&key);
        let mut by_fingerprint = HashMap::new();
        let mut guests = HashMap::new();
        for (ci, conference) in directory.conferences().iter().enumerate() {
            if conference.guest_pin().is_some() {
                guests.insert(guest_fingerprint_with(&key, conference.name()), ci);
            }
            for (pi, participant) in conference.participants().iter().enumerate() {
                let fp = fingerprint_with(&key, conference.name(), &participant.phone);
                by_fingerprint.insert(fp, (ci, pi));
            }
        }
        Self {
            directory,
            by_fingerprint,
            guests,
            key,
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The fingerprint a call carries for this caller in this conference.
    pub fn fingerprint(&self, conference: &Conference, participant: &Participant) -> Fingerprint {
        fingerprint_with(&self.key, conference.name(), &participant.phone)
    }

    /// The fingerprint a guest's call carries for this conference.
    pub fn guest_fingerprint(&self, conference: &Conference) -> Fingerprint {
        guest_fingerprint_with(&self.key, conference.name())
    }

    /// The conference a guest fingerprint stands for, if it still has a guest PIN.
    pub fn find_guest(&self, fingerprint: &Fingerprint) -> Option<&Conference> {
        self.directory
            .conferences()
            .get(*self.guests.get(fingerprint)?)
    }

    /// The conference and participant a fingerprint stands for, if still listed.
    pub fn find(&self, fingerprint: &Fingerprint) -> Option<(&Conference, &Participant)> {
        let (ci, pi) = *self.by_fingerprint.get(fingerprint)?;
        let conference = self.directory.conferences().get(ci)?;
        Some((conference, conference.participants().get(pi)?))
    }

    /// The key per-number counters use for callers whose number is withheld: they share one,
    /// so calling again with a hidden number never buys more tries.
    pub fn withheld_key(&self) -> NumberKey {
        NumberKey::new("withheld".to_owned())
    }

    /// A key for per-number counters that does not spell the number out.
    pub fn number_key(&self, phone: &PhoneNumber) -> NumberKey {
        NumberKey::new(crate::secret::number_key(&self.key, phone))
    }
}

/// The roster being served; replaced whole by a reload.
#[derive(Debug)]
pub struct SharedRoster {
    current: ArcSwap<Roster>,
    key: [u8; 32],
}

impl SharedRoster {
    /// Serves `directory`.
    pub fn new(directory: Directory, key: [u8; 32]) -> Self {
        Self {
            current: ArcSwap::from_pointee(Roster::new(directory, key)),
            key,
        }
    }

    /// The roster now; cheap, and unaffected by a reload while it is held.
    pub fn current(&self) -> Arc<Roster> {
        self.current.load_full()
    }

    /// Serves `directory` from now on.
    pub fn replace(&self, directory: Directory) {
        self.current
            .store(Arc::new(Roster::new(directory, self.key)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[conference]]
name = "A"
numbers = ["+12025550100"]
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"
[[conference]]
name = "B"
numbers = ["+12025550150"]
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
"#;

    #[test]
    fn fingerprints_find_the_caller_in_the_right_conference() {
        let roster = Roster::new(Directory::parse(TOML, "t.toml").unwrap(), [1; 32]);
        let a = &roster.directory().conferences()[0];
        let b = &roster.directory().conferences()[1];
        let fa = roster.fingerprint(a, &a.participants()[0]);
        let fb = roster.fingerprint(b, &b.participants()[0]);
        assert_ne!(fa, fb, "the same person in two rooms");
        assert_eq!(roster.find(&fa).unwrap().0.name(), "A");
        assert_eq!(roster.find(&fb).unwrap().0.name(), "B");
        assert!(roster.find(&[0; 12]).is_none());
        let other_key = Roster::new(Directory::parse(TOML, "t.toml").unwrap(), [2; 32]);
        assert!(other_key.find(&fa).is_none());
    }

    #[test]
    fn a_reload_keeps_fingerprints_of_people_still_listed() {
        let shared = SharedRoster::new(Directory::parse(TOML, "t.toml").unwrap(), [1; 32]);
        let before = shared.current();
        let a = &before.directory().conferences()[0];
        let fp = before.fingerprint(a, &a.participants()[0]);
        // Reordered file: same people, other positions.
        let reordered = TOML.replacen("name = \"A\"", "name = \"Z\"", 1);
        shared.replace(Directory::parse(&reordered, "t.toml").unwrap());
        assert!(shared.current().find(&fp).is_none(), "renamed room: gone");
        shared.replace(Directory::parse(TOML, "t.toml").unwrap());
        assert_eq!(shared.current().find(&fp).unwrap().1.name, "Ada");
        // What was held before the reload still answers.
        assert_eq!(before.find(&fp).unwrap().0.name(), "A");
    }

    #[test]
    fn number_keys_hide_the_number() {
        let roster = Roster::new(Directory::parse(TOML, "t.toml").unwrap(), [1; 32]);
        let key = roster.number_key(&PhoneNumber::parse("+12025550101").unwrap());
        assert_eq!(key.as_str().len(), 20);
        assert!(!key.as_str().contains("2025550101"));
    }
}
