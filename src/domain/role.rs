//! A person's role in a conference.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a person may do in a conference: moderators start and end it, participants wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Starts the conference on entering and ends it on leaving.
    Moderator,
    /// Waits (with hold music) until a moderator is there.
    #[default]
    Participant,
}

impl Role {
    /// The lowercase name used in the participants file and in the simulator's outcome line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        role: Role,
    }

    #[test]
    fn roles_parse_from_lowercase_names_only() {
        let m: Holder = toml::from_str("role = \"moderator\"").unwrap();
        assert_eq!(m.role, Role::Moderator);
        let p: Holder = toml::from_str("role = \"participant\"").unwrap();
        assert_eq!(p.role, Role::Participant);
        assert!(toml::from_str::<Holder>("role = \"admin\"").is_err());
        assert!(toml::from_str::<Holder>("role = \"Moderator\"").is_err());
    }

    #[test]
    fn default_role_is_participant() {
        assert_eq!(Role::default(), Role::Participant);
        assert_eq!(Role::Moderator.to_string(), "moderator");
    }
}
