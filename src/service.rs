//! The call's use case, with no HTTP in it: admit the caller → check the limits → send or
//! check a code → decide the reply. The voice handlers of every carrier call it with a
//! carrier-neutral [`CallEvent`]; it answers with the [`Reply`] to render and the state to
//! carry to the next webhook. The store keys it uses are in [`crate::store::keys`]; its log
//! events (`call.*`, `limit.*`, `verify.*`, `store.failed`) are its own.

use crate::call::Target;
use crate::call::{
    self, CallState, Ending, Keypad, Next, PinKeypad, Prompt, Refusal, Reply, Route,
};
use crate::carrier::{CallEvent, CarrierKind};
use crate::clock::Clock;
use crate::conference::live::Member;
use crate::conference::moderation::Moderation;
use crate::config::ServerLimits;
use crate::directory::{Conference, Participant};
use crate::domain::CallSid;
use crate::domain::Role;
use crate::roster::SharedRoster;
use crate::store::{Key, NumberKey, Store, StoreError};
use crate::token::RoomState;
use crate::token::{CallToken, Sealer, TokenError};
use crate::verify::{CheckOutcome, Delivery, Receipt, Verifier};
use std::sync::Arc;
use std::time::Duration;
use tracing::{Span, info, warn};

/// How long a call's high-water mark is kept: longer than any token lives, the room's state
/// (the keypad menu's, up to 12 hours) included, so that no used state of a long meeting can
/// be replayed once its mark would have expired.
const MARK_TTL: Duration = Duration::from_secs(
    if crate::token::ROOM_MAX_AGE_SECS > crate::token::MAX_AGE_SECS {
        crate::token::ROOM_MAX_AGE_SECS
    } else {
        crate::token::MAX_AGE_SECS
    } + 600,
);
const HOUR: Duration = Duration::from_secs(60 * 60);
const MINUTE: Duration = Duration::from_secs(60);

/// What the carrier's dialect can do, as far as the call's decisions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The carrier the call came in through.
    pub carrier: CarrierKind,
    /// Whether it can join a named conference room (FlexML cannot: it dials bridges).
    pub joins_rooms: bool,
}

/// A reply and, when it asks for input, the state to carry to the next webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// What to tell the carrier.
    pub reply: Reply,
    /// The state for the next webhook, sealed into its URL by the handler.
    pub carry: Option<CallToken>,
}

impl Answer {
    fn done(reply: Reply) -> Self {
        Self { reply, carry: None }
    }
}

/// Why a keypad webhook is not answered with words: the request cannot be the carrier's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The webhook carries no call state.
    #[error("the call state (s) is missing")]
    NoState,
    /// The state is forged, edited, expired or from another call or carrier.
    #[error(transparent)]
    BadState(#[from] TokenError),
    /// The state was already used: replayed or rolled back.
    #[error("this call state was already used (replayed or rolled back)")]
    Stale,
}

/// The call's use case; cheap to clone.
#[derive(Clone)]
pub struct CallService {
    /// Conferences and participants, swapped whole on reload.
    pub roster: Arc<SharedRoster>,
    /// Sends and checks codes.
    pub verifier: Arc<dyn Verifier>,
    /// Marks and counters shared between webhooks and instances.
    pub store: Arc<dyn Store>,
    /// Seals the state carried between webhooks.
    pub sealer: Sealer,
    /// Limits across calls.
    pub limits: ServerLimits,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The live roster and the moderator actions on it.
    pub moderation: Moderation,
    /// With a store that forgets the calls' marks on a restart (in memory): the oldest a
    /// step's state may be, in unix seconds — issued shortly before this process started at
    /// the earliest, so that a capture from before a restart cannot be replayed after it.
    pub restart_floor: Option<u64>,
}

/// How long before a restart a prompt may have been issued and still be answered after it:
/// a prompt's keypad times out within seconds.
pub const RESTART_GRACE_SECS: u64 = 60;

impl CallService {
    /// Seals the state an answer carries for the call `sid`, stamped with the time of this
    /// step (a step's state is answered within seconds; older ones are replays).
    pub fn seal(&self, sid: &CallSid, token: &CallToken) -> String {
        let mut token = token.clone();
        token.stepped = u32::try_from(self.clock.unix_now()).unwrap_or(u32::MAX);
        self.sealer.seal(sid, &token)
    }

    /// A call comes in: admit the caller, check the limits, send a code.
    pub async fn incoming(&self, dialect: Dialect, event: &CallEvent) -> Answer {
        if let Some(caller) = &event.caller {
            // Masked, so that refused calls too say who called.
            Span::current().record("caller", caller.masked());
        }
        let roster = self.roster.current();
        let Some(conference) = roster
            .directory()
            .conference_for_line(event.dialed.as_ref())
        else {
            return refuse(Refusal::UnknownLine);
        };
        let admitted = call::admit(
            roster.directory(),
            event.dialed.as_ref(),
            event.caller.as_ref(),
        );
        // Not on the list: enrolled through an invitation is as good (the call still needs
        // a fresh code).
        let enrolled = match (&admitted, event.caller.as_ref()) {
            (Err(Refusal::NotListed), Some(caller)) => match crate::console::enrolment::lookup(
                self.store.as_ref(),
                &roster,
                conference.name(),
                caller,
            )
            .await
            {
                Ok(found) => found.and_then(|e| e.participant()),
                Err(e) => return fault(&e),
            },
            _ => None,
        };
        let listed = match admitted {
            Ok((_, participant)) => Some(participant),
            Err(_) if enrolled.is_some() => enrolled.as_ref(),
            Err(refusal) if conference.guest_pin().is_none() => return refuse(refusal),
            Err(_) => None,
        };
        if !dialect.joins_rooms && conference.bridge().is_none() {
            warn!(
                event = "call.rejected",
                reason = Refusal::NoBridge.as_str(),
                conference = conference.name(),
                carrier = dialect.carrier.as_str(),
                "this carrier dials bridges only and the conference has no [conference.bridge]; \
                 no code sent"
            );
            return Answer::done(Reply::refuse(Refusal::NoBridge));
        }
        let Some(participant) = listed else {
            return self.guest_incoming(dialect, event, conference).await;
        };
        let span = Span::current();
        span.record("conference", conference.name());
        // (A listed caller's number is the one recorded above, unless the caller was
        // enrolled under the number on file.)
        if event.caller.as_ref() != Some(&participant.phone) {
            span.record("caller", participant.phone.masked());
        }
        if let Some(refused) = self
            .room_refusal(dialect, conference, participant.role)
            .await
        {
            return refused;
        }
        let number = roster.number_key(&participant.phone);
        let token = CallToken {
            carrier: dialect.carrier,
            fingerprint: roster.fingerprint(conference, participant),
            seq: 1,
            state: CallState::default(),
            guest: false,
            issued: u32::try_from(self.clock.unix_now()).unwrap_or(u32::MAX),
            stepped: 0,
            receipt: Receipt::default(),
            room: None,
        };
        // The cheap refusals first: a refused call writes nothing for itself.
        match self.number_refusal(&number).await {
            Ok(Some(refused)) => return refused,
            Ok(None) => {}
            Err(e) => return fault(&e),
        }
        if conference.rejoin_minutes() > 0 && dialect.joins_rooms && conference.bridge().is_none() {
            match self
                .moderation
                .live()
                .take_rejoin(conference.name(), number.as_str())
                .await
            {
                Ok(true) => {
                    if let Ok(true) = self.store.advance(&event.call_id, 0, MARK_TTL).await {
                        info!(
                            event = "call.rejoined",
                            role = %participant.role,
                            "dropped call's caller back within rejoin_minutes: no code"
                        );
                        let member = listed_member(participant, dialect.carrier, &number);
                        let reply = Reply::welcome_back(participant, conference);
                        return self.enter_room(&event.call_id, token, &member, reply).await;
                    }
                }
                Ok(false) => {}
                Err(e) => return fault(&e),
            }
        }
        match self.store.advance(&event.call_id, 0, MARK_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                // The carrier posted this call's first webhook again: never a second code.
                info!(
                    event = "call.repeated",
                    "incoming webhook repeated; code already sent"
                );
                return Answer {
                    reply: Reply::ask(
                        Prompt::StillWaiting,
                        conference.name(),
                        &Route::of(participant),
                    ),
                    carry: Some(token),
                };
            }
            Err(e) => return fault(&e),
        }
        let flow = Flow {
            service: self,
            call_id: &event.call_id,
            conference,
            participant,
            number,
            token,
            reserved: false,
            wrong_count: 0,
        };
        flow.first_code().await
    }

    /// A caller not on the list at a conference with a guest PIN: ask for the PIN (no code
    /// is ever sent to a guest).
    async fn guest_incoming(
        &self,
        dialect: Dialect,
        event: &CallEvent,
        conference: &Conference,
    ) -> Answer {
        let roster = self.roster.current();
        Span::current().record("conference", conference.name());
        let number = match &event.caller {
            Some(caller) => {
                Span::current().record("caller", caller.masked());
                roster.number_key(caller)
            }
            None => roster.withheld_key(),
        };
        if let Some(refused) = self
            .room_refusal(dialect, conference, Role::Participant)
            .await
        {
            return refused;
        }
        match self.store.get(&Key::WrongPins(&number).to_string()).await {
            Ok(wrong) if wrong >= self.limits.wrong_per_number => {
                info!(
                    event = "limit.wrong_pins_per_number",
                    "wrong PINs from this number this hour spent"
                );
                return end(Ending::PinsSpent, "per-number wrong PINs spent");
            }
            Ok(_) => {}
            Err(e) => return fault(&e),
        }
        // No per-call mark yet: nothing is sent at this step, and a carrier retry only asks
        // for the PIN again. The first PIN webhook marks the call.
        info!(
            event = "call.guest",
            "caller not on the list: asking for the guest PIN"
        );
        Answer {
            reply: Reply::ask(Prompt::GuestWelcome, conference.name(), &Route::default()),
            carry: Some(CallToken {
                carrier: dialect.carrier,
                fingerprint: roster.guest_fingerprint(conference),
                seq: 1,
                state: CallState::default(),
                guest: true,
                issued: u32::try_from(self.clock.unix_now()).unwrap_or(u32::MAX),
                stepped: 0,
                // The caller's number key rides (signed) with the call, so that the tries of
                // every webhook count against the number the call came from.
                receipt: Receipt::new(number.as_str().as_bytes().to_vec()).unwrap_or_default(),
                room: None,
            }),
        }
    }

    /// A guest typed at the PIN prompt (or nothing). Tries are reserved against the caller's
    /// number and the server's per-minute budget before the PIN is compared, and given back
    /// only for the right PIN, so parallel calls cannot multiply them.
    async fn guest_keypad(
        &self,
        call_id: &CallSid,
        mut token: CallToken,
        digits: Option<&str>,
    ) -> Answer {
        let roster = self.roster.current();
        let Some(conference) = roster.find_guest(&token.fingerprint) else {
            return end(Ending::NoLongerListed, "conference no longer takes guests");
        };
        let Some(pin) = conference.guest_pin() else {
            return end(Ending::NoLongerListed, "conference no longer takes guests");
        };
        Span::current().record("conference", conference.name());
        let limits = self.limits.per_call;
        let keypad = PinKeypad::read(digits);
        let number = NumberKey::new(String::from_utf8_lossy(token.receipt.as_bytes()).into_owned());
        let wrong_key = Key::WrongPins(&number).to_string();
        let next = match token.state.on_pin_silence_or_garbage(&keypad, &limits) {
            Some(next) => {
                if matches!(keypad, PinKeypad::Garbage)
                    && let Err(e) = self.store.incr(&wrong_key, HOUR).await
                {
                    return fault(&e);
                }
                next
            }
            None => {
                let PinKeypad::Pin(typed) = &keypad else {
                    return Answer::done(Reply::end(Ending::Fault));
                };
                let minute = self.clock.unix_now() / 60;
                match self
                    .store
                    .incr(&Key::PinBudget(minute).to_string(), MINUTE * 2)
                    .await
                {
                    Ok(count) if count > self.limits.pin_tries_per_minute => {
                        warn!(
                            event = "limit.pin_budget",
                            "server-wide guest PIN tries for this minute spent"
                        );
                        return end(Ending::Busy, "PIN budget spent");
                    }
                    Ok(_) => {}
                    Err(e) => return fault(&e),
                }
                // Reserve the try first: a wrong PIN is already counted when it is known.
                match self.store.incr(&wrong_key, HOUR).await {
                    Ok(count) if count > self.limits.wrong_per_number => {
                        info!(
                            event = "limit.wrong_pins_per_number",
                            "wrong PINs from this number this hour spent"
                        );
                        return end(Ending::PinsSpent, "per-number wrong PINs spent");
                    }
                    Ok(_) => {}
                    Err(e) => return fault(&e),
                }
                let right = pin.matches(typed);
                if right {
                    if let Err(e) = self.store.release(&wrong_key).await {
                        warn!(event = "store.failed", error = %e, "could not give a PIN try back");
                    }
                } else {
                    info!(
                        event = "call.wrong_pin",
                        wrong = token.state.wrong + 1,
                        "wrong PIN"
                    );
                }
                token.state.after_pin(right, &limits)
            }
        };
        match next {
            Next::Ask(prompt) => {
                token.seq = token.seq.saturating_add(1);
                let reply = match prompt {
                    Prompt::NoInput => Reply::ask_pin_again(),
                    other => Reply::ask(other, conference.name(), &Route::default()),
                };
                Answer {
                    reply,
                    carry: Some(token),
                }
            }
            Next::Join => {
                info!(
                    event = "call.joined",
                    role = "guest",
                    "guest PIN right, joining"
                );
                let member = Member {
                    name: "Guest".to_owned(),
                    role: Role::Participant,
                    phone: String::new(),
                    guest: true,
                    carrier: token.carrier.as_str().to_owned(),
                    // Guests are not known by number: no trusted rejoin.
                    number: None,
                };
                self.enter_room(call_id, token, &member, Reply::join_guest(conference))
                    .await
            }
            Next::End(ending) => end(ending, "call ended without joining"),
            _ => Answer::done(Reply::end(Ending::Fault)),
        }
    }

    /// Opens the state a keypad webhook carries, refusing a forged, expired, foreign or
    /// already used one (the handler answers those with a 4xx).
    pub async fn open(
        &self,
        dialect: Dialect,
        sid: &CallSid,
        state: Option<&str>,
    ) -> Result<Result<CallToken, Answer>, Refused> {
        let text = state.ok_or(Refused::NoState)?;
        let token = self
            .sealer
            .open(dialect.carrier, sid, text, self.clock.unix_now())
            .inspect_err(|e| {
                if crate::log_throttle::allow("webhook.bad_state") {
                    warn!(event = "webhook.bad_state", error = %e, "call state refused");
                }
            })?;
        if self
            .restart_floor
            .is_some_and(|floor| u64::from(token.stepped) < floor)
        {
            if crate::log_throttle::allow("webhook.stale_state") {
                warn!(
                    event = "webhook.stale_state",
                    "call state issued before this server restarted, older than a restart can \
                     explain: refused as a replay"
                );
            }
            return Err(Refused::Stale);
        }
        match self.store.advance(sid, token.seq, MARK_TTL).await {
            Ok(true) => Ok(Ok(token)),
            Ok(false) => {
                if crate::log_throttle::allow("webhook.stale_state") {
                    warn!(
                        event = "webhook.stale_state",
                        seq = token.seq,
                        "call state already used: replayed or rolled back"
                    );
                }
                Err(Refused::Stale)
            }
            Err(e) => Ok(Err(fault(&e))),
        }
    }

    /// What the caller typed at a prompt (or nothing), on an opened state; `call_id` is the
    /// carrier's id of the call.
    pub async fn keypad(
        &self,
        call_id: &CallSid,
        token: CallToken,
        digits: Option<&str>,
    ) -> Answer {
        if let Some(room) = token.room {
            return self.room_keypad(call_id, token, room, digits).await;
        }
        if token.guest {
            return self.guest_keypad(call_id, token, digits).await;
        }
        let roster = self.roster.current();
        let enrolled;
        let (conference, participant) = match roster.find(&token.fingerprint) {
            Some(found) => found,
            None => match self.find_enrolled(&roster, &token.fingerprint).await {
                Ok(Some((conference, participant))) => {
                    enrolled = participant;
                    (conference, &enrolled)
                }
                Ok(None) => return end(Ending::NoLongerListed, "caller no longer listed"),
                Err(e) => return fault(&e),
            },
        };
        let span = Span::current();
        span.record("conference", conference.name());
        span.record("caller", participant.phone.masked());
        let flow = Flow {
            service: self,
            call_id,
            conference,
            participant,
            number: roster.number_key(&participant.phone),
            token,
            reserved: false,
            wrong_count: 0,
        };
        flow.run(Keypad::read(digits)).await
    }

    /// Refuses a caller at a locked or full room before any code is sent (or PIN asked);
    /// moderators always enter. Only rooms have a roster: a bridge is the bridge's business.
    async fn room_refusal(
        &self,
        dialect: Dialect,
        conference: &Conference,
        role: Role,
    ) -> Option<Answer> {
        if role == Role::Moderator || !dialect.joins_rooms || conference.bridge().is_some() {
            return None;
        }
        let view = match self.moderation.live().view(conference.name()).await {
            Ok(view) => view,
            Err(e) => return Some(fault(&e)),
        };
        let refusal = if view.meta.locked {
            Refusal::Locked
        } else if view.count() >= conference.max_participants() as usize {
            Refusal::Full
        } else {
            return None;
        };
        info!(
            event = "call.rejected",
            reason = refusal.as_str(),
            conference = conference.name(),
            "room closed to new participants; no code sent"
        );
        Some(Answer::done(Reply::refuse(refusal)))
    }

    /// Sends a verified caller into the room (or the bridge): remembers who the call is for
    /// the roster, and carries the state that lets `*` open the menu and come back without a
    /// new code.
    async fn enter_room(
        &self,
        call_id: &CallSid,
        mut token: CallToken,
        member: &Member,
        reply: Reply,
    ) -> Answer {
        let Reply::Join {
            target: Target::Room { muted, .. },
            ..
        } = &reply
        else {
            return Answer::done(reply);
        };
        if let Err(e) = self
            .moderation
            .live()
            .remember(call_id.as_str(), member)
            .await
        {
            // The caller still joins; the roster shows them as unknown.
            warn!(event = "store.failed", error = %e, "could not note who joined");
        }
        token.seq = token.seq.saturating_add(1);
        token.room = Some(RoomState {
            muted: *muted,
            menu: false,
        });
        Answer {
            reply,
            carry: Some(token),
        }
    }

    /// A verified caller out of the room: just out (`*`, or the conference ended), or at the
    /// menu pressing a key (or nothing).
    async fn room_keypad(
        &self,
        call_id: &CallSid,
        mut token: CallToken,
        room: RoomState,
        digits: Option<&str>,
    ) -> Answer {
        let roster = self.roster.current();
        let (conference, role) = if token.guest {
            match roster.find_guest(&token.fingerprint) {
                Some(conference) => (conference, Role::Participant),
                None => return end(Ending::NoLongerListed, "conference no longer takes guests"),
            }
        } else {
            match roster.find(&token.fingerprint) {
                Some((conference, participant)) => (conference, participant.role),
                None => match self.find_enrolled(&roster, &token.fingerprint).await {
                    Ok(Some((conference, participant))) => (conference, participant.role),
                    Ok(None) => return end(Ending::NoLongerListed, "caller no longer listed"),
                    Err(e) => return fault(&e),
                },
            }
        };
        Span::current().record("conference", conference.name());
        let live = self.moderation.live();
        let view = match live.view(conference.name()).await {
            Ok(view) => view,
            Err(e) => return fault(&e),
        };
        token.seq = token.seq.saturating_add(1);
        let menu = |first: Option<String>, muted: bool, locked: bool, mut token: CallToken| {
            token.room = Some(RoomState { muted, menu: true });
            Answer {
                reply: Reply::menu(first, role, muted, locked),
                carry: Some(token),
            }
        };
        let back = |muted: bool, mut token: CallToken| {
            info!(event = "menu.back", "back to the room");
            token.room = Some(RoomState { muted, menu: false });
            Answer {
                reply: Reply::rejoin(conference, role, muted),
                carry: Some(token),
            }
        };
        if !room.menu {
            // The room's `<Dial>` ended: `*`, or the conference ended around the caller.
            if view.meta.ended {
                info!(event = "menu.conference_over", "the conference has ended");
                return Answer::done(Reply::End {
                    say: "The conference has ended. Goodbye.".to_owned(),
                });
            }
            info!(event = "menu.opened", "keypad menu");
            return menu(None, room.muted, view.meta.locked, token);
        }
        let moderator = role == Role::Moderator;
        let only_moderators = || "That option is for moderators.".to_owned();
        match digits.map(str::trim) {
            // Silence (or `#`): back to the room.
            None | Some("" | "#") => back(room.muted, token),
            Some("1") => {
                let muted = !room.muted;
                info!(
                    event = "menu.mute_self",
                    muted, "caller toggled their own mute"
                );
                let said = if muted {
                    "You will be muted."
                } else {
                    "You will be unmuted."
                };
                menu(Some(said.to_owned()), muted, view.meta.locked, token)
            }
            Some("2") => {
                let n = view.count();
                let said = match n {
                    0 => "Nobody else is on the call.".to_owned(),
                    1 => "There is 1 other person on the call.".to_owned(),
                    n => format!("There are {n} other people on the call."),
                };
                menu(Some(said), room.muted, view.meta.locked, token)
            }
            Some("3") if !moderator => {
                menu(Some(only_moderators()), room.muted, view.meta.locked, token)
            }
            Some("3") => {
                let locked = !view.meta.locked;
                match self.moderation.lock(conference.name(), locked).await {
                    Ok(_) => {
                        info!(
                            event = "menu.lock",
                            locked, "moderator locked or unlocked the conference"
                        );
                        let said = if locked {
                            "The conference is locked: new participants cannot join."
                        } else {
                            "The conference is unlocked."
                        };
                        menu(Some(said.to_owned()), room.muted, locked, token)
                    }
                    Err(e) => {
                        warn!(event = "menu.action_failed", action = "lock", error = %e);
                        menu(
                            Some("Sorry, that did not work.".to_owned()),
                            room.muted,
                            view.meta.locked,
                            token,
                        )
                    }
                }
            }
            Some("4") if !moderator => {
                menu(Some(only_moderators()), room.muted, view.meta.locked, token)
            }
            Some("4") => match self
                .moderation
                .mute_all(conference.name(), Some(call_id.as_str()))
                .await
            {
                Ok(done) => {
                    info!(
                        event = "menu.mute_all",
                        calls = done.calls,
                        carrier_told = done.carrier_told,
                        "moderator muted everyone else"
                    );
                    menu(
                        Some("Everyone else is muted.".to_owned()),
                        room.muted,
                        view.meta.locked,
                        token,
                    )
                }
                Err(e) => {
                    warn!(event = "menu.action_failed", action = "mute_all", error = %e);
                    menu(
                        Some("Sorry, that did not work.".to_owned()),
                        room.muted,
                        view.meta.locked,
                        token,
                    )
                }
            },
            Some("9") if !moderator => {
                menu(Some(only_moderators()), room.muted, view.meta.locked, token)
            }
            Some("9") => match self.moderation.end(conference.name()).await {
                Ok(done) => {
                    info!(
                        event = "menu.end",
                        calls = done.calls,
                        carrier_told = done.carrier_told,
                        "moderator ended the conference"
                    );
                    Answer::done(Reply::End {
                        say: "The conference has ended for everyone. Goodbye.".to_owned(),
                    })
                }
                Err(e) => {
                    warn!(event = "menu.action_failed", action = "end", error = %e);
                    menu(
                        Some("Sorry, that did not work.".to_owned()),
                        room.muted,
                        view.meta.locked,
                        token,
                    )
                }
            },
            Some(_) => menu(
                Some("That is not an option.".to_owned()),
                room.muted,
                view.meta.locked,
                token,
            ),
        }
    }

    /// The conference and enrolled person a fingerprint stands for, when it is not a listed
    /// participant's: enrolments are few, so each conference's are read and fingerprinted.
    async fn find_enrolled<'r>(
        &self,
        roster: &'r crate::roster::Roster,
        fingerprint: &crate::token::Fingerprint,
    ) -> Result<Option<(&'r Conference, Participant)>, StoreError> {
        for conference in roster.directory().conferences() {
            for (_, enrolled) in
                crate::console::enrolment::list(self.store.as_ref(), conference.name()).await?
            {
                let Some(participant) = enrolled.participant() else {
                    continue;
                };
                if conference.participant(&participant.phone).is_none()
                    && roster.fingerprint(conference, &participant) == *fingerprint
                {
                    return Ok(Some((conference, participant)));
                }
            }
        }
        Ok(None)
    }

    /// Reserves one wrong code against the number's hourly allowance before a code is
    /// checked (the console's sign-in and enrolment use the callers' allowance): the count,
    /// or the ending when it is spent or the store cannot count.
    pub(crate) async fn reserve_wrong(&self, number: &NumberKey) -> Result<u64, Ending> {
        let key = Key::WrongCodes(number).to_string();
        match self.store.incr(&key, HOUR).await {
            Ok(count) if count > self.limits.wrong_per_number => {
                let _ = self.store.release(&key).await;
                info!(
                    event = "limit.wrong_per_number",
                    "wrong codes for this number this hour spent; code not checked"
                );
                Err(Ending::TooManyChecks)
            }
            Ok(count) => Ok(count),
            Err(e) => {
                warn!(event = "store.failed", error = %e, "store unavailable; code not checked");
                Err(Ending::Fault)
            }
        }
    }

    /// Gives back a try reserved by [`CallService::reserve_wrong`] (the code was right).
    pub(crate) async fn release_wrong(&self, number: &NumberKey) {
        let key = Key::WrongCodes(number).to_string();
        if let Err(e) = self.store.release(&key).await {
            warn!(event = "store.failed", error = %e, "could not give a try back");
        }
    }

    /// Reserves a code against the number's hourly allowance, then the server's per-minute
    /// budget; the ending to give when either is spent. The number is checked first and a
    /// refusal never touches the shared budget, so one number cannot spend it for everyone;
    /// a code the shared budget refuses is given back to the number.
    pub(crate) async fn spend_code_budget(&self, number: &NumberKey) -> Option<Ending> {
        let per_number = Key::CodesSent(number).to_string();
        match self.store.incr(&per_number, HOUR).await {
            Ok(count) if count > self.limits.codes_per_number => {
                info!(
                    event = "limit.codes_per_number",
                    "codes for this number this hour spent"
                );
                return Some(Ending::TooManySends);
            }
            Ok(_) => {}
            Err(e) => {
                warn!(event = "store.failed", error = %e, "store unavailable");
                return Some(Ending::Fault);
            }
        }
        let minute = self.clock.unix_now() / 60;
        match self
            .store
            .incr(&Key::CodeBudget(minute).to_string(), MINUTE * 2)
            .await
        {
            Ok(count) if count > self.limits.codes_per_minute => {
                warn!(
                    event = "limit.code_budget",
                    "server-wide code budget for this minute spent"
                );
                let _ = self.store.release(&per_number).await;
                Some(Ending::Busy)
            }
            Ok(_) => None,
            Err(e) => {
                warn!(event = "store.failed", error = %e, "store unavailable");
                Some(Ending::Fault)
            }
        }
    }

    /// The cheap refusals of a listed caller, read before anything is written for the call:
    /// the number's wrong codes and codes this hour.
    pub(crate) async fn number_refusal(
        &self,
        number: &NumberKey,
    ) -> Result<Option<Answer>, StoreError> {
        if self.store.get(&Key::WrongCodes(number).to_string()).await?
            >= self.limits.wrong_per_number
        {
            info!(
                event = "limit.wrong_per_number",
                "wrong codes for this number this hour spent; no code sent"
            );
            return Ok(Some(end(
                Ending::TooManyChecks,
                "per-number wrong codes spent",
            )));
        }
        if self.store.get(&Key::CodesSent(number).to_string()).await?
            >= self.limits.codes_per_number
        {
            info!(
                event = "limit.codes_per_number",
                "codes for this number this hour spent; no code sent"
            );
            return Ok(Some(end(Ending::TooManySends, "per-number codes spent")));
        }
        Ok(None)
    }
}

/// Who a listed caller sent into a room is, for the live roster.
fn listed_member(participant: &Participant, carrier: CarrierKind, number: &NumberKey) -> Member {
    Member {
        name: participant.name.clone(),
        role: participant.role,
        phone: participant.phone.masked(),
        guest: false,
        carrier: carrier.as_str().to_owned(),
        number: Some(number.as_str().to_owned()),
    }
}

/// One webhook's work for a listed caller: the state machine's steps and the verifier and
/// store calls they ask for. The token is the one copy of the call's state.
struct Flow<'a> {
    service: &'a CallService,
    call_id: &'a CallSid,
    conference: &'a Conference,
    participant: &'a Participant,
    number: NumberKey,
    token: CallToken,
    /// Whether this webhook's wrong guess is already counted (reserved before its check).
    reserved: bool,
    /// The number's wrong codes this hour, as the reservation counted them.
    wrong_count: u64,
}

impl<'a> Flow<'a> {
    /// Where and how this participant's code goes.
    fn delivery(&self) -> Delivery<'a> {
        Delivery {
            to: self.participant.code_phone(),
            channel: self.participant.channel,
            conference: self.conference.name(),
        }
    }

    /// Sends the first code of a call and asks for it.
    async fn first_code(mut self) -> Answer {
        if let Some(ending) = self.service.spend_code_budget(&self.number).await {
            return end(ending, "code budget spent");
        }
        let sent = self.service.verifier.send(&self.delivery(), None).await;
        match sent {
            Ok(receipt) => {
                self.token.receipt = receipt;
                info!(
                    event = "call.code_sent",
                    role = %self.participant.role,
                    verifier = self.service.verifier.name(),
                    channel = self.participant.channel.as_str(),
                    "code sent, asking for it"
                );
                Answer {
                    reply: Reply::ask(
                        Prompt::Welcome,
                        self.conference.name(),
                        &Route::of(self.participant),
                    ),
                    carry: Some(self.token),
                }
            }
            Err(e) => {
                warn!(event = "verify.send_failed", verifier = self.service.verifier.name(), error = %e);
                match CallState::default().after_send(Err::<(), _>(e), Prompt::Welcome) {
                    Next::End(ending) => end(ending, "code could not be sent"),
                    _ => end(Ending::Unavailable, "code could not be sent"),
                }
            }
        }
    }

    async fn run(mut self, keypad: Keypad) -> Answer {
        let limits = self.service.limits.per_call;
        let wrong_before = self.token.state.wrong;
        let mut next = self.token.state.on_keypad(keypad, &limits);
        loop {
            next = match next {
                Next::Check(code) => match self.reserve_guess().await {
                    Err(ending) => Next::End(ending),
                    Ok(()) => {
                        let checked = self
                            .service
                            .verifier
                            .check(
                                self.participant.code_phone(),
                                &code,
                                Some(&self.token.receipt),
                            )
                            .await;
                        if let Err(e) = &checked {
                            warn!(event = "verify.check_failed", verifier = self.service.verifier.name(), error = %e);
                        }
                        if !matches!(checked, Ok(CheckOutcome::Rejected)) {
                            // Not a wrong guess: the try is given back.
                            self.reserved = false;
                            let key = Key::WrongCodes(&self.number).to_string();
                            if let Err(e) = self.service.store.release(&key).await {
                                warn!(event = "store.failed", error = %e, "could not give a try back");
                            }
                        }
                        self.token.state.after_check(checked, &limits)
                    }
                },
                Next::Send(prompt) => match self.service.spend_code_budget(&self.number).await {
                    Some(ending) => Next::End(ending),
                    None => {
                        let sent = self
                            .service
                            .verifier
                            .send(&self.delivery(), Some(&self.token.receipt))
                            .await;
                        match &sent {
                            Ok(receipt) => {
                                self.token.receipt = receipt.clone();
                                info!(
                                    event = "call.code_sent",
                                    reason = ?prompt,
                                    verifier = self.service.verifier.name(),
                                    channel = self.participant.channel.as_str(),
                                    "code sent again"
                                );
                            }
                            Err(e) => {
                                warn!(event = "verify.send_failed", verifier = self.service.verifier.name(), error = %e);
                            }
                        }
                        self.token.state.after_send(sent, prompt)
                    }
                },
                other => break self.finish(other, wrong_before).await,
            };
        }
    }

    /// Reserves one wrong guess against the number's hourly allowance before the verifier is
    /// asked, atomically (one store round trip), so that parallel calls cannot multiply the
    /// allowance; refused when it is spent, and failing closed when the store cannot count.
    async fn reserve_guess(&mut self) -> Result<(), Ending> {
        let key = Key::WrongCodes(&self.number).to_string();
        match self.service.store.incr(&key, HOUR).await {
            Ok(count) if count > self.service.limits.wrong_per_number => {
                let _ = self.service.store.release(&key).await;
                info!(
                    event = "limit.wrong_per_number",
                    "wrong codes for this number this hour spent; code not checked"
                );
                Err(Ending::TooManyChecks)
            }
            Ok(count) => {
                self.reserved = true;
                self.wrong_count = count;
                Ok(())
            }
            Err(e) => {
                warn!(event = "store.failed", error = %e, "store unavailable; code not checked");
                Err(Ending::Fault)
            }
        }
    }

    /// The last step: count a wrong try against the number (unless its check reserved it
    /// already), then ask, join or end.
    async fn finish(mut self, mut next: Next, wrong_before: u8) -> Answer {
        if self.token.state.wrong > wrong_before {
            info!(
                event = "call.wrong_code",
                wrong = self.token.state.wrong,
                "wrong code"
            );
            let counted = if self.reserved {
                Ok(self.wrong_count)
            } else {
                self.service
                    .store
                    .incr(&Key::WrongCodes(&self.number).to_string(), HOUR)
                    .await
            };
            match counted {
                Ok(count) if count >= self.service.limits.wrong_per_number => {
                    info!(
                        event = "limit.wrong_per_number",
                        "wrong codes for this number this hour spent"
                    );
                    if matches!(next, Next::Ask(_)) {
                        next = Next::End(Ending::TooManyChecks);
                    }
                }
                Ok(_) => {}
                Err(e) => return fault(&e),
            }
        }
        match next {
            Next::Ask(prompt) => {
                if prompt == Prompt::NoInput {
                    info!(
                        event = "call.no_input",
                        silences = self.token.state.silences,
                        "no input, asking again"
                    );
                }
                self.token.seq = self.token.seq.saturating_add(1);
                Answer {
                    reply: Reply::ask(prompt, self.conference.name(), &Route::of(self.participant)),
                    carry: Some(self.token),
                }
            }
            Next::Join => {
                info!(
                    event = "call.joined",
                    role = %self.participant.role,
                    "code approved, joining"
                );
                let member = listed_member(self.participant, self.token.carrier, &self.number);
                let reply = Reply::join(self.participant, self.conference);
                self.service
                    .enter_room(self.call_id, self.token, &member, reply)
                    .await
            }
            Next::End(ending) => end(ending, "call ended without joining"),
            other => {
                // Unreachable by the state machine's construction; answer safely all the same.
                warn!(event = "call.ended", reason = "internal", next = ?other, "unexpected step");
                Answer::done(Reply::end(Ending::Fault))
            }
        }
    }
}

fn refuse(refusal: Refusal) -> Answer {
    info!(
        event = "call.rejected",
        reason = refusal.as_str(),
        "call refused, no code sent"
    );
    Answer::done(Reply::refuse(refusal))
}

fn end(ending: Ending, message: &str) -> Answer {
    info!(event = "call.ended", reason = ending.as_str(), "{message}");
    Answer::done(Reply::end(ending))
}

/// A store failure: apologise and end the call (fail closed).
fn fault(error: &StoreError) -> Answer {
    warn!(event = "store.failed", error = %error, "store unavailable");
    end(Ending::Fault, "call ended on a fault")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use crate::call::{Expect, Target};
    use crate::clock::ManualClock;
    use crate::directory::Directory;
    use crate::domain::{Code, PhoneNumber};
    use crate::store::{MapFields, MemoryStore};
    use crate::verify::VerifyError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TOML: &str = r#"
[[conference]]
name = "Weekly"
numbers = ["+12025550100"]
guest_pin = "48291735"
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"
[[conference.participant]]
name = "Grace"
phone = "+12025550107"
code_to = "+12025550199"
channel = "voice"
"#;
    const RIGHT: &str = "123456";

    /// A verifier whose code is always 123456, counting what it is asked.
    #[derive(Default)]
    struct FakeVerifier {
        sends: AtomicUsize,
        checks: AtomicUsize,
        /// Where each send went and how, and which number each check was for.
        log: std::sync::Mutex<Vec<String>>,
    }

    impl Verifier for FakeVerifier {
        fn send<'a>(
            &'a self,
            delivery: &'a Delivery<'a>,
            _previous: Option<&'a Receipt>,
        ) -> BoxFuture<'a, Result<Receipt, VerifyError>> {
            self.sends.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push(format!(
                "send {} {} {}",
                delivery.to.as_e164(),
                delivery.channel,
                delivery.conference
            ));
            Box::pin(async { Ok(Receipt::default()) })
        }

        fn check<'a>(
            &'a self,
            to: &'a PhoneNumber,
            code: &'a Code,
            _receipt: Option<&'a Receipt>,
        ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            self.log
                .lock()
                .unwrap()
                .push(format!("check {}", to.as_e164()));
            let right = *code == Code::parse(RIGHT).unwrap();
            Box::pin(async move {
                Ok(if right {
                    CheckOutcome::Approved
                } else {
                    CheckOutcome::Rejected
                })
            })
        }

        fn name(&self) -> &'static str {
            "fake"
        }

        fn channels(&self) -> &'static [crate::verify::Channel] {
            &crate::verify::Channel::ALL
        }
    }

    struct Rig {
        service: CallService,
        verifier: Arc<FakeVerifier>,
        clock: Arc<ManualClock>,
        memory: Arc<MemoryStore>,
    }

    fn rig() -> Rig {
        let clock = Arc::new(ManualClock::default());
        let verifier = Arc::new(FakeVerifier::default());
        let memory = Arc::new(MemoryStore::new(clock.clone()));
        let service = CallService {
            roster: Arc::new(SharedRoster::new(
                Directory::parse(TOML, "t.toml").unwrap(),
                [1; 32],
            )),
            verifier: verifier.clone(),
            store: memory.clone(),
            sealer: Sealer::new([2; 32]),
            limits: ServerLimits::default(),
            clock: clock.clone(),
            moderation: Moderation::new(
                crate::conference::live::LiveRoster::new(memory.clone(), clock.clone()),
                Default::default(),
            ),
            restart_floor: None,
        };
        Rig {
            service,
            verifier,
            clock,
            memory,
        }
    }

    const TWIML: Dialect = Dialect {
        carrier: CarrierKind::Twilio,
        joins_rooms: true,
    };
    const FLEXML: Dialect = Dialect {
        carrier: CarrierKind::CarrierX,
        joins_rooms: false,
    };

    fn event(sid: u8, from: Option<&str>) -> CallEvent {
        CallEvent {
            call_id: CallSid::parse(&format!("CA{sid:032x}")).unwrap(),
            caller: from.map(|f| PhoneNumber::parse(f).unwrap()),
            dialed: Some(PhoneNumber::parse("+12025550100").unwrap()),
            digits: None,
            state: None,
        }
    }

    /// Seals what an answer carries and opens it as the next webhook would.
    async fn next(rig: &Rig, event: &CallEvent, answer: &Answer) -> CallToken {
        let token = answer.carry.as_ref().expect("a state to carry");
        let text = rig.service.seal(&event.call_id, token);
        rig.service
            .open(TWIML, &event.call_id, Some(&text))
            .await
            .expect("accepted")
            .expect("no fault")
    }

    #[tokio::test]
    async fn a_listed_caller_gets_one_code_and_joins_with_it() {
        let rig = rig();
        let call = event(1, Some("+12025550101"));
        let asked = rig.service.incoming(TWIML, &call).await;
        assert!(matches!(
            asked.reply,
            Reply::Ask {
                expect: Expect::Code,
                ..
            }
        ));
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 1);
        // The carrier retries the first webhook: no second code.
        let again = rig.service.incoming(TWIML, &call).await;
        assert!(matches!(again.reply, Reply::Ask { .. }));
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 1);
        let token = next(&rig, &call, &asked).await;
        let joined = rig.service.keypad(&call.call_id, token, Some(RIGHT)).await;
        let Reply::Join {
            target: Target::Room { role, .. },
            ..
        } = joined.reply
        else {
            panic!("{joined:?}")
        };
        assert_eq!(role, crate::domain::Role::Moderator);
    }

    fn words(reply: &Reply) -> String {
        match reply {
            Reply::Ask { say, .. } => say.join(" "),
            other => panic!("not a question: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_code_to_another_phone_goes_there_by_its_channel_and_is_checked_for_it() {
        let rig = rig();
        let call = event(40, Some("+12025550107"));
        let asked = rig.service.incoming(TWIML, &call).await;
        assert!(
            words(&asked.reply)
                .contains("We are calling your phone ending in 99 with a six-digit code."),
            "{asked:?}"
        );
        let token = next(&rig, &call, &asked).await;
        let again = rig.service.keypad(&call.call_id, token, Some("*")).await;
        assert!(
            words(&again.reply).contains("We are calling your phone ending in 99 again"),
            "{again:?}"
        );
        let token = next(&rig, &call, &again).await;
        let joined = rig.service.keypad(&call.call_id, token, Some(RIGHT)).await;
        assert!(matches!(joined.reply, Reply::Join { .. }), "{joined:?}");
        assert_eq!(
            *rig.verifier.log.lock().unwrap(),
            [
                "send +12025550199 voice Weekly",
                "send +12025550199 voice Weekly",
                "check +12025550199",
            ]
        );
    }

    #[tokio::test]
    async fn a_caller_without_code_to_hears_their_own_phone_and_the_text_message() {
        let rig = rig();
        let call = event(41, Some("+12025550101"));
        let asked = rig.service.incoming(TWIML, &call).await;
        assert!(
            words(&asked.reply)
                .contains("We have sent a six-digit code by text message to your phone. "),
            "{asked:?}"
        );
        assert_eq!(
            *rig.verifier.log.lock().unwrap(),
            ["send +12025550101 sms Weekly"]
        );
    }

    #[tokio::test]
    async fn wrong_codes_end_the_call_and_spend_the_number_s_hour() {
        let rig = rig();
        let call = event(2, Some("+12025550101"));
        let mut answer = rig.service.incoming(TWIML, &call).await;
        for _ in 0..3 {
            let token = next(&rig, &call, &answer).await;
            answer = rig
                .service
                .keypad(&call.call_id, token, Some("000000"))
                .await;
        }
        assert!(matches!(answer.reply, Reply::End { .. }), "{answer:?}");
        assert_eq!(rig.verifier.checks.load(Ordering::SeqCst), 3);
        // A new call within the hour sends no code.
        let later = rig
            .service
            .incoming(TWIML, &event(3, Some("+12025550101")))
            .await;
        assert!(matches!(later.reply, Reply::End { .. }));
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 1);
        // An hour later the number may try again.
        rig.clock.advance(Duration::from_secs(3601));
        let next_hour = rig
            .service
            .incoming(TWIML, &event(4, Some("+12025550101")))
            .await;
        assert!(matches!(next_hour.reply, Reply::Ask { .. }));
    }

    #[tokio::test]
    async fn a_replayed_or_expired_state_is_refused() {
        let rig = rig();
        let call = event(5, Some("+12025550101"));
        let asked = rig.service.incoming(TWIML, &call).await;
        let text = rig
            .service
            .seal(&call.call_id, asked.carry.as_ref().unwrap());
        assert!(
            rig.service
                .open(TWIML, &call.call_id, Some(&text))
                .await
                .is_ok()
        );
        assert_eq!(
            rig.service.open(TWIML, &call.call_id, Some(&text)).await,
            Err(Refused::Stale)
        );
        let fresh = event(6, Some("+12025550101"));
        let asked = rig.service.incoming(TWIML, &fresh).await;
        let text = rig
            .service
            .seal(&fresh.call_id, asked.carry.as_ref().unwrap());
        rig.clock.advance(Duration::from_secs(3 * 3600));
        assert!(matches!(
            rig.service.open(TWIML, &fresh.call_id, Some(&text)).await,
            Err(Refused::BadState(TokenError::Expired))
        ));
        assert_eq!(
            rig.service.open(TWIML, &fresh.call_id, None).await,
            Err(Refused::NoState)
        );
    }

    #[tokio::test]
    async fn strangers_and_withheld_callers_get_the_pin_prompt_and_no_code() {
        let rig = rig();
        for (sid, from) in [(7, Some("+12025550199")), (8, None)] {
            let call = event(sid, from);
            let asked = rig.service.incoming(TWIML, &call).await;
            assert!(
                matches!(
                    asked.reply,
                    Reply::Ask {
                        expect: Expect::Pin,
                        ..
                    }
                ),
                "{asked:?}"
            );
            let token = next(&rig, &call, &asked).await;
            assert!(token.guest);
            let joined = rig
                .service
                .keypad(&call.call_id, token, Some("48291735"))
                .await;
            let Reply::Join {
                target: Target::Room { role, .. },
                ..
            } = joined.reply
            else {
                panic!("{joined:?}")
            };
            assert_eq!(role, crate::domain::Role::Participant);
        }
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn refused_calls_write_nothing_for_themselves() {
        let rig = rig();
        // Spend the number's codes for the hour.
        for sid in 0..10 {
            rig.service
                .incoming(TWIML, &event(100 + sid, Some("+12025550101")))
                .await;
        }
        let held = rig.memory.len();
        for sid in 0..200u32 {
            let call = CallEvent {
                call_id: CallSid::parse(&format!("CA{:032x}", 1000 + sid)).unwrap(),
                ..event(0, Some("+12025550101"))
            };
            let answer = rig.service.incoming(TWIML, &call).await;
            assert!(matches!(answer.reply, Reply::End { .. }));
            // Strangers and guests at the prompt write nothing either.
            let stranger = CallEvent {
                call_id: CallSid::parse(&format!("CA{:032x}", 5000 + sid)).unwrap(),
                ..event(0, Some("+12025550199"))
            };
            rig.service.incoming(TWIML, &stranger).await;
        }
        assert_eq!(rig.memory.len(), held, "refused calls grew the store");
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 10);
    }

    /// A store whose counters fail (Redis flapping) while everything else works.
    struct CountersDown(Arc<MemoryStore>);

    impl Store for CountersDown {
        fn advance<'a>(
            &'a self,
            sid: &'a CallSid,
            seq: u8,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.0.advance(sid, seq, ttl)
        }
        fn incr<'a>(&'a self, _: &'a str, _: Duration) -> BoxFuture<'a, Result<u64, StoreError>> {
            Box::pin(async { Err(StoreError::Unavailable("flapping".into())) })
        }
        fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.release(key)
        }
        fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
            self.0.get(key)
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            value: &'a [u8],
            ttl: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.put(key, value, ttl)
        }
        fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            self.0.fetch(key)
        }
        fn claim<'a>(
            &'a self,
            key: &'a str,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.0.claim(key, ttl)
        }
        fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.remove(key)
        }
        fn append<'a>(
            &'a self,
            key: &'a str,
            value: &'a [u8],
            keep: usize,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.append(key, value, keep, ttl)
        }
        fn recent<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, StoreError>> {
            self.0.recent(key)
        }
        fn map_all<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MapFields, StoreError>> {
            self.0.map_all(key)
        }
        fn map_get<'a>(
            &'a self,
            key: &'a str,
            field: &'a str,
        ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            self.0.map_get(key, field)
        }
        fn map_swap<'a>(
            &'a self,
            key: &'a str,
            field: &'a str,
            expected: Option<&'a [u8]>,
            value: Option<&'a [u8]>,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.0.map_swap(key, field, expected, value, ttl)
        }
        fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            self.0.health()
        }
        fn name(&self) -> &'static str {
            "counters-down"
        }
    }

    #[tokio::test]
    async fn no_code_is_checked_while_the_store_cannot_count_it() {
        let mut rig = rig();
        let call = event(20, Some("+12025550101"));
        let asked = rig.service.incoming(TWIML, &call).await;
        let token = next(&rig, &call, &asked).await;
        // The counters go down between the prompt and the digits.
        rig.service.store = Arc::new(CountersDown(rig.memory.clone()));
        for guess in ["000000", RIGHT] {
            let answer = rig
                .service
                .keypad(&call.call_id, token.clone(), Some(guess))
                .await;
            assert_eq!(answer.reply, Reply::end(Ending::Fault), "{guess}");
        }
        assert_eq!(
            rig.verifier.checks.load(Ordering::SeqCst),
            0,
            "nothing went uncounted"
        );
    }

    #[tokio::test]
    async fn a_flexml_call_to_a_room_without_a_bridge_is_refused_before_any_code() {
        let rig = rig();
        let answer = rig
            .service
            .incoming(FLEXML, &event(9, Some("+12025550101")))
            .await;
        assert_eq!(answer.reply, Reply::refuse(Refusal::NoBridge));
        assert_eq!(rig.verifier.sends.load(Ordering::SeqCst), 0);
    }
}
