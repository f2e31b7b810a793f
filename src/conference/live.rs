//! The live roster: who is on each conference right now, built from the carriers' conference
//! events and kept in the store (Redis when several instances serve the line).
//!
//! One map per conference name: the field `meta` holds the conference's state (its carrier id,
//! started, locked), and one field per call holds that call's entry. Every update reads a
//! field, decides here, and swaps from what it read, so that events arriving late, twice, or
//! on two instances at once are applied in `SequenceNumber` order and never roll the roster
//! back. The map lives 12 hours from its last event, 10 minutes after the conference ends.

use crate::clock::Clock;
use crate::conference::events::{ConferenceEvent, EventKind};
use crate::domain::Role;
use crate::store::{Key, Store, StoreError};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::sync::Arc;
use std::time::Duration;

/// How long a roster lives after its last event.
pub const ROSTER_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a roster lives after its conference ended.
pub const ENDED_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the server remembers who a call sent into a conference is.
pub const MEMBER_TTL: Duration = ROSTER_TTL;

const META: &str = "meta";
/// Swaps tried before giving up on a field many writers fight over.
const MAX_TRIES: usize = 32;

/// Who a call in a conference is, as the server knew when it sent the call in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The participant's name (or "Guest").
    pub name: String,
    /// Moderator or participant.
    pub role: Role,
    /// The caller's number, masked.
    pub phone: String,
    /// Whether a guest with the PIN.
    #[serde(default)]
    pub guest: bool,
    /// The carrier the call came through (`twilio`, `signalwire`, `telnyx`): whose REST API
    /// acts on it.
    #[serde(default)]
    pub carrier: String,
    /// The caller's number as a keyed hash (never the number): for a trusted rejoin.
    #[serde(default)]
    pub number: Option<String>,
}

/// One call on a conference's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The conference's carrier id the entry belongs to.
    pub sid: String,
    /// The sequence number of the last event applied.
    pub seq: u64,
    /// Who it is.
    pub member: Member,
    /// Unix seconds when it joined.
    pub joined_at: u64,
    /// Muted.
    pub muted: bool,
    /// On hold.
    pub hold: bool,
    /// On the call now (false after it left).
    pub present: bool,
    /// Whether it left because it was removed (not by hanging up).
    #[serde(default)]
    pub removed: bool,
}

/// A conference's own state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The carrier's id of the conference now (or last) running under this name.
    pub sid: Option<String>,
    /// The sequence number of the last conference event applied.
    pub seq: u64,
    /// Started (a moderator is or was on it).
    pub started: bool,
    /// Ended.
    pub ended: bool,
    /// Locked: only moderators may join.
    pub locked: bool,
}

/// A conference's roster as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The conference's state.
    pub meta: Meta,
    /// The calls on it now, by call id, oldest first.
    pub present: Vec<(String, Entry)>,
}

impl View {
    /// How many are on the call.
    pub fn count(&self) -> usize {
        self.present.len()
    }

    /// Whether a moderator is on the call.
    pub fn moderator_present(&self) -> bool {
        self.present
            .iter()
            .any(|(_, e)| e.member.role == Role::Moderator)
    }

    /// The entry of a call on it.
    pub fn entry(&self, call_id: &str) -> Option<&Entry> {
        self.present
            .iter()
            .find(|(id, _)| id == call_id)
            .map(|(_, e)| e)
    }
}

/// The live roster of every conference.
#[derive(Clone)]
pub struct LiveRoster {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LiveRoster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRoster")
            .field("store", &self.store.name())
            .finish()
    }
}

fn field(call_id: &str) -> String {
    format!("call:{call_id}")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Whether an event numbered `seq` of conference `sid` comes after what a field holds.
fn newer(held_sid: Option<&str>, held_seq: u64, sid: &str, seq: Option<u64>) -> bool {
    held_sid != Some(sid) || seq.is_none_or(|seq| seq > held_seq)
}

impl LiveRoster {
    /// A roster kept in `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Remembers who `call_id` is, as it is sent into a conference, for its join event.
    pub async fn remember(&self, call_id: &str, member: &Member) -> Result<(), StoreError> {
        self.store
            .put(
                &Key::Member(call_id).to_string(),
                &encode(member),
                MEMBER_TTL,
            )
            .await
    }

    /// Reads, changes and swaps one field until the swap holds; `change` returns `None` to
    /// leave the field as it is. Returns the value written, if any.
    async fn update<T, F>(
        &self,
        key: &str,
        field: &str,
        ttl: Duration,
        change: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> Option<T>,
    {
        for _ in 0..MAX_TRIES {
            let held = self.store.map_get(key, field).await?;
            let Some(next) = change(held.as_deref().and_then(decode)) else {
                return Ok(None);
            };
            let bytes = encode(&next);
            if self
                .store
                .map_swap(key, field, held.as_deref(), Some(&bytes), ttl)
                .await?
            {
                return Ok(Some(next));
            }
        }
        Err(StoreError::Unavailable(
            "the roster changed under every try".to_owned(),
        ))
    }

    /// Applies a carrier event; true when it changed the roster (false: late or repeated).
    pub async fn apply(&self, event: &ConferenceEvent) -> Result<bool, StoreError> {
        let key = Key::Roster(&event.name).to_string();
        let sid = event.conference_sid.as_str();
        let seq = event.sequence;
        match event.kind {
            EventKind::Other => Ok(false),
            EventKind::Start | EventKind::End => {
                let ending = event.kind == EventKind::End;
                let ttl = if ending { ENDED_TTL } else { ROSTER_TTL };
                let applied = self
                    .update(&key, META, ttl, |held: Option<Meta>| {
                        let held = held.unwrap_or_default();
                        if !newer(held.sid.as_deref(), held.seq, sid, seq) {
                            return None;
                        }
                        let same = held.sid.as_deref() == Some(sid);
                        Some(Meta {
                            sid: Some(sid.to_owned()),
                            seq: seq.unwrap_or(held.seq),
                            started: !ending,
                            ended: ending,
                            // A lock lasts while its conference runs.
                            locked: same && held.locked && !ending,
                        })
                    })
                    .await?
                    .is_some();
                if applied && ending {
                    self.empty(&key, sid).await?;
                }
                Ok(applied)
            }
            _ => {
                let Some(call_id) = event.call_id.as_deref() else {
                    return Ok(false);
                };
                let member: Option<Member> = self
                    .store
                    .fetch(&Key::Member(call_id).to_string())
                    .await?
                    .and_then(|bytes| decode(&bytes));
                let now = self.clock.unix_now();
                let kind = event.kind;
                let applied = self
                    .update(&key, &field(call_id), ROSTER_TTL, |held: Option<Entry>| {
                        if let Some(h) = &held
                            && !newer(Some(h.sid.as_str()), h.seq, sid, seq)
                        {
                            return None;
                        }
                        let same = held.as_ref().is_some_and(|h| h.sid == sid);
                        let mut entry = match held {
                            Some(h) if same => h,
                            _ => Entry {
                                sid: sid.to_owned(),
                                seq: 0,
                                member: member.clone().unwrap_or_else(|| Member {
                                    name: "Unknown caller".to_owned(),
                                    role: Role::Participant,
                                    phone: String::new(),
                                    guest: false,
                                    carrier: String::new(),
                                    number: None,
                                }),
                                joined_at: now,
                                muted: false,
                                hold: false,
                                present: false,
                                removed: false,
                            },
                        };
                        entry.seq = seq.unwrap_or(entry.seq);
                        match kind {
                            EventKind::Join => {
                                if !entry.present {
                                    entry.joined_at = now;
                                }
                                entry.present = true;
                                entry.removed = false;
                            }
                            EventKind::Leave => {
                                entry.present = false;
                                entry.removed = event.removed;
                            }
                            EventKind::Mute => entry.muted = true,
                            EventKind::Unmute => entry.muted = false,
                            EventKind::Hold => entry.hold = true,
                            EventKind::Unhold => entry.hold = false,
                            _ => {}
                        }
                        if let Some(muted) = event.muted {
                            entry.muted = muted;
                        }
                        if let Some(hold) = event.hold {
                            entry.hold = hold;
                        }
                        Some(entry)
                    })
                    .await?;
                let Some(entry) = applied else {
                    return Ok(false);
                };
                if kind == EventKind::Join {
                    // A join is news of the conference itself when its start was missed (or
                    // the carrier sends none).
                    let moderator = entry.member.role == Role::Moderator;
                    self.update(&key, META, ROSTER_TTL, |held: Option<Meta>| {
                        let held = held.unwrap_or_default();
                        let same = held.sid.as_deref() == Some(sid);
                        if same && (held.started || !moderator) && !held.ended {
                            return None;
                        }
                        if same && held.ended {
                            return None;
                        }
                        Some(Meta {
                            sid: Some(sid.to_owned()),
                            seq: if same { held.seq } else { 0 },
                            started: (same && held.started) || moderator,
                            ended: false,
                            locked: same && held.locked,
                        })
                    })
                    .await?;
                }
                Ok(true)
            }
        }
    }

    /// Marks every call of the conference `sid` as gone.
    async fn empty(&self, key: &str, sid: &str) -> Result<(), StoreError> {
        for (name, bytes) in self.store.map_all(key).await? {
            if !name.starts_with("call:") {
                continue;
            }
            let Some(entry) = decode::<Entry>(&bytes) else {
                continue;
            };
            if entry.sid != sid || !entry.present {
                continue;
            }
            self.update(key, &name, ENDED_TTL, |held: Option<Entry>| {
                held.filter(|e| e.sid == sid && e.present).map(|mut e| {
                    e.present = false;
                    e
                })
            })
            .await?;
        }
        Ok(())
    }

    /// The conference's roster now.
    pub async fn view(&self, conference: &str) -> Result<View, StoreError> {
        let mut view = View::default();
        let mut calls = Vec::new();
        for (name, bytes) in self
            .store
            .map_all(&Key::Roster(conference).to_string())
            .await?
        {
            if name == META {
                view.meta = decode(&bytes).unwrap_or_default();
            } else if let Some(call) = name.strip_prefix("call:")
                && let Some(entry) = decode::<Entry>(&bytes)
            {
                calls.push((call.to_owned(), entry));
            }
        }
        let sid = view.meta.sid.clone();
        calls.retain(|(_, e)| {
            e.present && !view.meta.ended && sid.as_deref().is_none_or(|s| s == e.sid)
        });
        calls.sort_by(|a, b| a.1.joined_at.cmp(&b.1.joined_at).then(a.0.cmp(&b.0)));
        view.present = calls;
        Ok(view)
    }

    /// Who a call sent into a conference is, if the server remembers.
    pub async fn member(&self, call_id: &str) -> Result<Option<Member>, StoreError> {
        Ok(self
            .store
            .fetch(&Key::Member(call_id).to_string())
            .await?
            .and_then(|bytes| decode(&bytes)))
    }

    /// Lets the caller whose number key is `number` back into `conference` without a code
    /// until `until` (unix seconds): their call dropped.
    pub async fn grant_rejoin(
        &self,
        conference: &str,
        number: &str,
        until: u64,
    ) -> Result<(), StoreError> {
        self.update(
            &Key::Roster(conference).to_string(),
            &format!("rejoin:{number}"),
            ROSTER_TTL,
            |_: Option<u64>| Some(until),
        )
        .await
        .map(|_| ())
    }

    /// Takes a rejoin granted to `number` at `conference`, once: true when there was one
    /// still valid (and it is now spent).
    pub async fn take_rejoin(&self, conference: &str, number: &str) -> Result<bool, StoreError> {
        let key = Key::Roster(conference).to_string();
        let field = format!("rejoin:{number}");
        let Some(held) = self.store.map_get(&key, &field).await? else {
            return Ok(false);
        };
        let valid = decode::<u64>(&held).is_some_and(|until| until > self.clock.unix_now());
        // Spent either way; only one call takes it, even when two race.
        let taken = self
            .store
            .map_swap(&key, &field, Some(&held), None, ROSTER_TTL)
            .await?;
        Ok(valid && taken)
    }

    /// Locks or unlocks a conference; true when that changed it.
    pub async fn set_locked(&self, conference: &str, locked: bool) -> Result<bool, StoreError> {
        Ok(self
            .update(
                &Key::Roster(conference).to_string(),
                META,
                ROSTER_TTL,
                |held: Option<Meta>| {
                    let held = held.unwrap_or_default();
                    (held.locked != locked).then_some(Meta { locked, ..held })
                },
            )
            .await?
            .is_some())
    }

    /// Records a call's muted state set by a moderator action (the carrier's own event
    /// follows, when it sends one).
    pub async fn set_muted(
        &self,
        conference: &str,
        call_id: &str,
        muted: bool,
    ) -> Result<bool, StoreError> {
        Ok(self
            .update(
                &Key::Roster(conference).to_string(),
                &field(call_id),
                ROSTER_TTL,
                |held: Option<Entry>| {
                    held.filter(|e| e.present && e.muted != muted)
                        .map(|e| Entry { muted, ..e })
                },
            )
            .await?
            .is_some())
    }

    /// Takes a removed call off the roster.
    pub async fn mark_removed(&self, conference: &str, call_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .update(
                &Key::Roster(conference).to_string(),
                &field(call_id),
                ROSTER_TTL,
                |held: Option<Entry>| {
                    held.filter(|e| e.present).map(|e| Entry {
                        present: false,
                        removed: true,
                        ..e
                    })
                },
            )
            .await?
            .is_some())
    }

    /// Marks a conference ended (a moderator action, when no carrier event will say so).
    pub async fn mark_ended(&self, conference: &str) -> Result<(), StoreError> {
        let key = Key::Roster(conference).to_string();
        let ended = self
            .update(&key, META, ENDED_TTL, |held: Option<Meta>| {
                let held = held.unwrap_or_default();
                (!held.ended).then_some(Meta {
                    started: false,
                    ended: true,
                    locked: false,
                    ..held
                })
            })
            .await?;
        if let Some(meta) = ended
            && let Some(sid) = meta.sid
        {
            self.empty(&key, &sid).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn roster() -> LiveRoster {
        let clock = Arc::new(ManualClock::default());
        LiveRoster::new(Arc::new(MemoryStore::new(clock.clone())), clock)
    }

    fn event(kind: EventKind, call: Option<&str>, seq: u64) -> ConferenceEvent {
        ConferenceEvent {
            conference_sid: "CF1".into(),
            name: "Weekly".into(),
            kind,
            call_id: call.map(str::to_owned),
            muted: None,
            hold: None,
            sequence: Some(seq),
            removed: false,
        }
    }

    fn ada() -> Member {
        Member {
            name: "Ada".into(),
            role: Role::Moderator,
            phone: "+1202•••0101".into(),
            guest: false,
            carrier: "twilio".into(),
            number: Some("00ff".into()),
        }
    }

    #[tokio::test]
    async fn joins_fill_it_leaves_empty_it_and_the_end_clears_it() {
        let r = roster();
        r.remember("CA1", &ada()).await.unwrap();
        assert!(r.apply(&event(EventKind::Start, None, 1)).await.unwrap());
        assert!(
            r.apply(&event(EventKind::Join, Some("CA1"), 2))
                .await
                .unwrap()
        );
        assert!(
            r.apply(&event(EventKind::Join, Some("CA2"), 3))
                .await
                .unwrap()
        );
        let v = r.view("Weekly").await.unwrap();
        assert_eq!(v.count(), 2);
        assert!(v.meta.started && v.moderator_present());
        assert_eq!(v.entry("CA1").unwrap().member, ada());
        assert_eq!(v.entry("CA2").unwrap().member.name, "Unknown caller");
        assert!(
            r.apply(&event(EventKind::Leave, Some("CA2"), 4))
                .await
                .unwrap()
        );
        assert_eq!(r.view("Weekly").await.unwrap().count(), 1);
        assert!(r.apply(&event(EventKind::End, None, 5)).await.unwrap());
        let v = r.view("Weekly").await.unwrap();
        assert_eq!(v.count(), 0);
        assert!(v.meta.ended && !v.meta.started);
    }

    #[tokio::test]
    async fn late_and_repeated_events_never_roll_it_back() {
        let r = roster();
        r.apply(&event(EventKind::Join, Some("CA1"), 2))
            .await
            .unwrap();
        r.apply(&event(EventKind::Leave, Some("CA1"), 5))
            .await
            .unwrap();
        // The join again, late, and the leave again, repeated.
        assert!(
            !r.apply(&event(EventKind::Join, Some("CA1"), 2))
                .await
                .unwrap()
        );
        assert!(
            !r.apply(&event(EventKind::Leave, Some("CA1"), 5))
                .await
                .unwrap()
        );
        assert_eq!(r.view("Weekly").await.unwrap().count(), 0);
        r.apply(&event(EventKind::Mute, Some("CA3"), 9))
            .await
            .unwrap();
        r.apply(&event(EventKind::Join, Some("CA3"), 7))
            .await
            .unwrap();
        // A mute before its own join (out of order) leaves the call muted and absent.
        let v = r.view("Weekly").await.unwrap();
        assert_eq!(v.count(), 0);
    }

    #[tokio::test]
    async fn a_lock_lasts_while_its_conference_runs() {
        let r = roster();
        r.apply(&event(EventKind::Start, None, 1)).await.unwrap();
        assert!(r.set_locked("Weekly", true).await.unwrap());
        assert!(!r.set_locked("Weekly", true).await.unwrap());
        assert!(r.view("Weekly").await.unwrap().meta.locked);
        r.apply(&event(EventKind::End, None, 9)).await.unwrap();
        assert!(!r.view("Weekly").await.unwrap().meta.locked);
    }

    #[tokio::test]
    async fn racing_events_all_land() {
        let r = roster();
        let joins: Vec<_> = (0..40u64)
            .map(|i| {
                let r = r.clone();
                tokio::spawn(async move {
                    r.apply(&event(EventKind::Join, Some(&format!("CA{i}")), i + 1))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for j in joins {
            assert!(j.await.unwrap());
        }
        assert_eq!(r.view("Weekly").await.unwrap().count(), 40);
    }
}
