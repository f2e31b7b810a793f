//! People enrolled in a conference through an invitation: kept in the store (one map per
//! conference, one field per number key), admitted to calls like listed participants (the
//! call still needs a fresh code), shown to moderators and removable by them, and exported as
//! participants-file entries by `bridgekeeper enrolled --export`.

use crate::directory::Participant;
use crate::domain::{PhoneNumber, Role};
use crate::roster::Roster;
use crate::store::{Key, Store, StoreError};
use crate::verify::Channel;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long an enrolment map lives after its last change: until an operator makes the
/// enrolments permanent (a year and a bit).
pub const ENROLMENT_TTL: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// One enrolled person. The number is kept in E.164, as the participants file keeps it:
/// admission needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The name the moderator gave the invitation.
    pub name: String,
    /// The verified phone, E.164.
    pub phone: String,
    /// How their code reaches them ("sms" or "voice").
    pub channel: String,
    /// When they enrolled (unix seconds).
    pub enrolled_at: u64,
}

impl Enrolled {
    /// The verified phone.
    pub fn phone(&self) -> Option<PhoneNumber> {
        PhoneNumber::parse(&self.phone).ok()
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        if self.channel == "voice" {
            Channel::Voice
        } else {
            Channel::Sms
        }
    }

    /// The participant they stand for: role participant, codes to their own phone.
    pub fn participant(&self) -> Option<Participant> {
        Some(Participant {
            name: self.name.clone(),
            phone: self.phone()?,
            role: Role::Participant,
            channel: self.channel(),
            code_to: None,
            channel_line: 0,
        })
    }

    /// Masked phone, for pages and logs.
    pub fn masked(&self) -> String {
        self.phone().map(|p| p.masked()).unwrap_or_default()
    }

    /// A `[[conference.participant]]` entry for the participants file.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[[conference.participant]]\n");
        out.push_str(&format!("name = {}\n", toml_string(&self.name)));
        out.push_str(&format!("phone = {}\n", toml_string(&self.phone)));
        out.push_str("role = \"participant\"\n");
        if self.channel() == Channel::Voice {
            out.push_str("channel = \"voice\"\n");
        }
        out
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The enrolment of `phone` in `conference`, if any.
pub async fn lookup(
    store: &dyn Store,
    roster: &Roster,
    conference: &str,
    phone: &PhoneNumber,
) -> Result<Option<Enrolled>, StoreError> {
    let field = roster.number_key(phone);
    let raw = store
        .map_get(&Key::Enrolment(conference).to_string(), field.as_str())
        .await?;
    Ok(raw.and_then(|raw| serde_json::from_slice(&raw).ok()))
}

/// Everyone enrolled in `conference`, by number key, oldest first.
pub async fn list(
    store: &dyn Store,
    conference: &str,
) -> Result<Vec<(String, Enrolled)>, StoreError> {
    let mut all: Vec<(String, Enrolled)> = store
        .map_all(&Key::Enrolment(conference).to_string())
        .await?
        .into_iter()
        .filter_map(|(field, raw)| Some((field, serde_json::from_slice(&raw).ok()?)))
        .collect();
    all.sort_by_key(|(_, e)| e.enrolled_at);
    Ok(all)
}

/// Enrols (or re-enrols) a person.
pub async fn add(
    store: &dyn Store,
    roster: &Roster,
    conference: &str,
    enrolled: &Enrolled,
) -> Result<(), StoreError> {
    let phone = enrolled
        .phone()
        .ok_or_else(|| StoreError::Unavailable("not a phone number".into()))?;
    let field = roster.number_key(&phone);
    let key = Key::Enrolment(conference).to_string();
    let value = serde_json::to_vec(enrolled).unwrap_or_default();
    // Read, decide, swap; retry when someone changed the field meanwhile.
    for _ in 0..8 {
        let current = store.map_get(&key, field.as_str()).await?;
        if store
            .map_swap(
                &key,
                field.as_str(),
                current.as_deref(),
                Some(&value),
                ENROLMENT_TTL,
            )
            .await?
        {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable("enrolment kept changing".into()))
}

/// Removes the enrolment under number key `field`; true when there was one.
pub async fn remove(store: &dyn Store, conference: &str, field: &str) -> Result<bool, StoreError> {
    let key = Key::Enrolment(conference).to_string();
    for _ in 0..8 {
        let Some(current) = store.map_get(&key, field).await? else {
            return Ok(false);
        };
        if store
            .map_swap(&key, field, Some(&current), None, ENROLMENT_TTL)
            .await?
        {
            return Ok(true);
        }
    }
    Err(StoreError::Unavailable("enrolment kept changing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_as_a_participants_entry() {
        let e = Enrolled {
            name: "Mary \"Jackson\"".into(),
            phone: "+12025550177".into(),
            channel: "voice".into(),
            enrolled_at: 1,
        };
        let text = e.to_toml();
        assert!(text.starts_with("[[conference.participant]]\n"));
        assert!(text.contains("phone = \"+12025550177\""));
        assert!(text.contains("channel = \"voice\""));
        // It reads back as the same name.
        let parsed: toml::Table = text
            .trim_start_matches("[[conference.participant]]\n")
            .parse()
            .unwrap();
        assert_eq!(parsed["name"].as_str(), Some("Mary \"Jackson\""), "{text}");
        assert_eq!(e.participant().unwrap().role, Role::Participant);
    }
}
