//! Moderator actions, shared by the keypad menu and the admin API: lock and unlock (the
//! roster's own), and mute, remove, end through the REST API of the carrier a call came
//! through. Without that carrier's REST credentials (development mode, say) an action changes
//! the roster only, and says so.

use crate::carrier::CarrierKind;
use crate::conference::control::{ConferenceActions, ControlError};
use crate::conference::live::{LiveRoster, View};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Arc;

/// Why an action could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such call on the conference's roster, or the conference is not running.
    #[error("{0}")]
    NotFound(&'static str),
    /// The carrier refused or failed.
    #[error("the carrier refused or failed: {0}")]
    Carrier(#[from] ControlError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Whether a carrier's REST API was told (false: the roster only).
    pub carrier_told: bool,
    /// How many calls it touched (mute everyone: each one).
    pub calls: usize,
}

/// The moderator actions.
#[derive(Clone)]
pub struct Moderation {
    live: LiveRoster,
    controls: HashMap<CarrierKind, Arc<dyn ConferenceActions>>,
}

impl std::fmt::Debug for Moderation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderation")
            .field("carriers", &self.controls.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Moderation {
    /// Actions on `live`, through `controls` (the carriers whose REST credentials are set).
    pub fn new(
        live: LiveRoster,
        controls: HashMap<CarrierKind, Arc<dyn ConferenceActions>>,
    ) -> Self {
        Self { live, controls }
    }

    /// The live roster.
    pub fn live(&self) -> &LiveRoster {
        &self.live
    }

    /// Whether a carrier's REST API is configured.
    pub fn controls(&self, carrier: CarrierKind) -> bool {
        self.controls.contains_key(&carrier)
    }

    fn control_for(&self, carrier: &str) -> Option<&Arc<dyn ConferenceActions>> {
        let kind = CarrierKind::ALL
            .into_iter()
            .find(|k| k.as_str() == carrier)?;
        self.controls.get(&kind)
    }

    /// Locks or unlocks; true when that changed it.
    pub async fn lock(&self, conference: &str, locked: bool) -> Result<bool, ActionError> {
        Ok(self.live.set_locked(conference, locked).await?)
    }

    /// Mutes or unmutes one call on the conference.
    pub async fn mute(
        &self,
        conference: &str,
        call_id: &str,
        muted: bool,
    ) -> Result<Done, ActionError> {
        let view = self.live.view(conference).await?;
        let (sid, entry) = on_call(&view, call_id)?;
        let carrier_told = match self.control_for(&entry.member.carrier) {
            Some(control) => match control.mute(&sid, call_id, muted).await {
                Ok(()) => true,
                // The call left meanwhile: nothing to mute.
                Err(ControlError::NotFound) => {
                    return Err(ActionError::NotFound("that call has left"));
                }
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        self.live.set_muted(conference, call_id, muted).await?;
        Ok(Done {
            carrier_told,
            calls: 1,
        })
    }

    /// Mutes every call on the conference but `except` (the moderator asking).
    pub async fn mute_all(
        &self,
        conference: &str,
        except: Option<&str>,
    ) -> Result<Done, ActionError> {
        let view = self.live.view(conference).await?;
        let sid = view
            .meta
            .sid
            .clone()
            .ok_or(ActionError::NotFound("the conference is not running"))?;
        let mut done = Done {
            carrier_told: false,
            calls: 0,
        };
        for (call_id, entry) in &view.present {
            if Some(call_id.as_str()) == except || entry.muted {
                continue;
            }
            if let Some(control) = self.control_for(&entry.member.carrier) {
                match control.mute(&sid, call_id, true).await {
                    Ok(()) => done.carrier_told = true,
                    Err(ControlError::NotFound) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            self.live.set_muted(conference, call_id, true).await?;
            done.calls += 1;
        }
        Ok(done)
    }

    /// Removes one call from the conference.
    pub async fn remove(&self, conference: &str, call_id: &str) -> Result<Done, ActionError> {
        let view = self.live.view(conference).await?;
        let (sid, entry) = on_call(&view, call_id)?;
        let carrier_told = match self.control_for(&entry.member.carrier) {
            Some(control) => match control.remove(&sid, call_id).await {
                Ok(()) | Err(ControlError::NotFound) => true,
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        self.live.mark_removed(conference, call_id).await?;
        Ok(Done {
            carrier_told,
            calls: 1,
        })
    }

    /// Ends the conference for everyone.
    pub async fn end(&self, conference: &str) -> Result<Done, ActionError> {
        let view = self.live.view(conference).await?;
        let sid = view
            .meta
            .sid
            .clone()
            .filter(|_| !view.meta.ended)
            .ok_or(ActionError::NotFound("the conference is not running"))?;
        let carrier = view
            .present
            .first()
            .map(|(_, e)| e.member.carrier.clone())
            .unwrap_or_default();
        let carrier_told = match self.control_for(&carrier) {
            Some(control) => match control.end(&sid).await {
                Ok(()) | Err(ControlError::NotFound) => true,
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        let calls = view.count();
        self.live.mark_ended(conference).await?;
        Ok(Done {
            carrier_told,
            calls,
        })
    }
}

/// The conference's carrier id and the call's entry, when the call is on it.
fn on_call<'v>(
    view: &'v View,
    call_id: &str,
) -> Result<(String, &'v crate::conference::live::Entry), ActionError> {
    let sid = view
        .meta
        .sid
        .clone()
        .ok_or(ActionError::NotFound("the conference is not running"))?;
    let entry = view
        .entry(call_id)
        .ok_or(ActionError::NotFound("no such call on the conference"))?;
    Ok((sid, entry))
}
