//! Which verifier sends and checks the codes (`BRIDGEKEEPER_VERIFIER`), and for the built-in
//! engine which sender delivers them (`BRIDGEKEEPER_SENDER`), read from the environment with
//! every credential checked by name. `../shared/CARRIERS.md` ("Verifiers", "Senders") fixes
//! the names.

use crate::verify::{Channel, MessageTemplate, TemplateError};
use secrecy::SecretString;
use url::Url;

/// The default Twilio Verify endpoint.
pub const DEFAULT_VERIFY_BASE_URL: &str = "https://verify.twilio.com";
/// The default Twilio REST endpoint (Messages).
pub const DEFAULT_TWILIO_API_BASE_URL: &str = "https://api.twilio.com";
/// The default Telnyx API endpoint (Verify and messages).
pub const DEFAULT_TELNYX_API_BASE_URL: &str = "https://api.telnyx.com";
/// The default MessageBird endpoint (Verify and messages).
pub const DEFAULT_MESSAGEBIRD_BASE_URL: &str = "https://rest.messagebird.com";

/// Twilio's settings, all from the environment (secrets do not belong on a command line).
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `TWILIO_ACCOUNT_SID`.
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: verifies webhook signatures and authenticates to Verify.
    pub auth_token: SecretString,
    /// `TWILIO_VERIFY_SERVICE_SID`.
    pub verify_service_sid: String,
    /// `TWILIO_VERIFY_BASE_URL`, `https://verify.twilio.com` by default.
    pub verify_base_url: Url,
}

/// Telnyx Verify v2's settings.
#[derive(Debug, Clone)]
pub struct TelnyxVerifySettings {
    /// `TELNYX_API_KEY`.
    pub api_key: SecretString,
    /// `TELNYX_VERIFY_PROFILE_ID`.
    pub profile_id: String,
    /// `TELNYX_API_BASE_URL`, `https://api.telnyx.com` by default.
    pub base_url: Url,
}

/// MessageBird Verify's settings.
#[derive(Debug, Clone)]
pub struct MessageBirdVerifySettings {
    /// `MESSAGEBIRD_ACCESS_KEY`.
    pub access_key: SecretString,
    /// `MESSAGEBIRD_ORIGINATOR`, if set.
    pub originator: Option<String>,
    /// `MESSAGEBIRD_BASE_URL`, `https://rest.messagebird.com` by default.
    pub base_url: Url,
}

/// The SMS API that delivers the built-in engine's codes (`BRIDGEKEEPER_SENDER`).
#[derive(Debug, Clone)]
pub enum SenderSettings {
    /// Twilio's Messages API.
    Twilio {
        /// `TWILIO_ACCOUNT_SID`.
        account_sid: String,
        /// `TWILIO_AUTH_TOKEN`.
        auth_token: SecretString,
        /// `TWILIO_FROM_NUMBER`: a number, or a Messaging Service SID (`MG…`).
        from: String,
        /// `TWILIO_API_BASE_URL`.
        base_url: Url,
    },
    /// Telnyx `POST /v2/messages`.
    Telnyx {
        /// `TELNYX_API_KEY`.
        api_key: SecretString,
        /// `TELNYX_FROM_NUMBER`.
        from: String,
        /// `TELNYX_API_BASE_URL`.
        base_url: Url,
    },
    /// MessageBird `POST /messages`.
    MessageBird {
        /// `MESSAGEBIRD_ACCESS_KEY`.
        access_key: SecretString,
        /// `MESSAGEBIRD_ORIGINATOR`.
        originator: String,
        /// `MESSAGEBIRD_BASE_URL`.
        base_url: Url,
    },
}

impl SenderSettings {
    /// The name `BRIDGEKEEPER_SENDER` takes for it.
    pub fn name(&self) -> &'static str {
        match self {
            SenderSettings::Twilio { .. } => "twilio",
            SenderSettings::Telnyx { .. } => "telnyx",
            SenderSettings::MessageBird { .. } => "messagebird",
        }
    }
}

/// Which verification provider sends and checks the codes (`BRIDGEKEEPER_VERIFIER`).
#[derive(Debug, Clone)]
pub enum VerifierSettings {
    /// The built-in engine delivering to `GET /dev/outbox` instead of a phone.
    Dev,
    /// Twilio Verify v2.
    Twilio(TwilioSettings),
    /// Telnyx Verify v2.
    Telnyx(TelnyxVerifySettings),
    /// MessageBird Verify.
    MessageBird(MessageBirdVerifySettings),
    /// The built-in engine delivering through an SMS API, with its message.
    Builtin {
        /// The SMS API.
        sender: SenderSettings,
        /// `BRIDGEKEEPER_SMS_TEMPLATE`.
        template: MessageTemplate,
    },
}

impl VerifierSettings {
    /// The name `BRIDGEKEEPER_VERIFIER` takes for it.
    pub fn name(&self) -> &'static str {
        match self {
            VerifierSettings::Dev => "dev",
            VerifierSettings::Twilio(_) => "twilio",
            VerifierSettings::Telnyx(_) => "telnyx",
            VerifierSettings::MessageBird(_) => "messagebird",
            VerifierSettings::Builtin { .. } => "builtin",
        }
    }

    /// The channels it can deliver a code over: every Verify API speaks a code in a call;
    /// the built-in engine's senders are SMS APIs; the dev outbox takes either, so a
    /// rehearsal can try every participant's settings. (The verifiers built from these
    /// settings say the same; a test in `startup` holds them to it.)
    pub fn channels(&self) -> &'static [Channel] {
        match self {
            VerifierSettings::Builtin { .. } => &[Channel::Sms],
            _ => &Channel::ALL,
        }
    }
}

/// Why the verifier settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VerifierConfigError {
    /// Some but not all of the Twilio Verify variables are set.
    #[error(
        "Twilio mode needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID \
         together; {present} set but {missing} missing (unset them all for development mode)"
    )]
    PartialTwilio {
        /// The names that are set.
        present: String,
        /// The names that are missing.
        missing: String,
    },
    /// `BRIDGEKEEPER_VERIFIER` names no verifier this build has.
    #[error(
        "BRIDGEKEEPER_VERIFIER={0} is not a verifier this server has; use twilio, telnyx, \
         messagebird, builtin or dev"
    )]
    UnknownVerifier(String),
    /// `BRIDGEKEEPER_SENDER` names no sender this build has.
    #[error(
        "BRIDGEKEEPER_SENDER={0} is not a sender this server has; use twilio, telnyx or messagebird"
    )]
    UnknownSender(String),
    /// The chosen verifier or sender lacks a credential; the variables are named.
    #[error("{what} needs {missing} (unset or empty)")]
    Missing {
        /// The verifier or sender (`BRIDGEKEEPER_VERIFIER=telnyx`).
        what: String,
        /// The missing variables.
        missing: String,
    },
    /// Unset, the verifier would be several at once.
    #[error(
        "BRIDGEKEEPER_VERIFIER is unset and the credentials of several verifiers are complete \
         ({0}); set BRIDGEKEEPER_VERIFIER to the one to use"
    )]
    Ambiguous(String),
    /// `BRIDGEKEEPER_SENDER` is set but the verifier is not the built-in engine.
    #[error(
        "BRIDGEKEEPER_SENDER is set, but BRIDGEKEEPER_VERIFIER={0} sends its own codes; unset \
         BRIDGEKEEPER_SENDER or use BRIDGEKEEPER_VERIFIER=builtin"
    )]
    SenderWithoutBuiltin(&'static str),
    /// The built-in engine was chosen without a sender.
    #[error(
        "BRIDGEKEEPER_VERIFIER=builtin needs BRIDGEKEEPER_SENDER (twilio, telnyx or messagebird) \
         to deliver its codes (or use BRIDGEKEEPER_VERIFIER=dev to read them at /dev/outbox)"
    )]
    NoSender,
    /// A base URL variable is not an http(s) URL.
    #[error("{name}: {reason}")]
    BadBaseUrl {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A value that cannot be used; the variable is named.
    #[error("{name} {reason}")]
    BadValue {
        /// The variable.
        name: &'static str,
        /// What is wrong (never a secret's value).
        reason: String,
    },
    /// `BRIDGEKEEPER_SMS_TEMPLATE` is unusable.
    #[error("BRIDGEKEEPER_SMS_TEMPLATE {0}")]
    Template(#[from] TemplateError),
}

const TWILIO_VARS: [&str; 3] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_VERIFY_SERVICE_SID",
];

/// The environment, with empty values read as unset.
struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The variables, or a [`VerifierConfigError::Missing`] naming those that are unset.
    fn all<const N: usize>(
        &self,
        what: &str,
        names: [&'static str; N],
    ) -> Result<[String; N], VerifierConfigError> {
        let values = names.map(|name| self.get(name));
        let missing: Vec<&str> = names
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(VerifierConfigError::Missing {
                what: what.to_owned(),
                missing: missing.join(" and "),
            });
        }
        Ok(values.map(Option::unwrap_or_default))
    }

    fn base_url(&self, name: &'static str, default: &str) -> Result<Url, VerifierConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        super::parse_base_url(&raw)
            .map_err(|reason| VerifierConfigError::BadBaseUrl { name, reason })
    }

    /// A sender ID: a number or a name, printable, at most 32 characters.
    fn sender_id(&self, name: &'static str, value: String) -> Result<String, VerifierConfigError> {
        if value.chars().count() > 32 || value.chars().any(char::is_control) {
            return Err(VerifierConfigError::BadValue {
                name,
                reason:
                    "must be a phone number or a sender name of at most 32 printable characters"
                        .to_owned(),
            });
        }
        Ok(value)
    }
}

/// Reads `BRIDGEKEEPER_VERIFIER`, `BRIDGEKEEPER_SENDER` and the providers' variables.
///
/// Unset, the verifier is the built-in engine when `BRIDGEKEEPER_SENDER` is set, else the one
/// whose credentials are complete (Twilio Verify when all three `TWILIO_*` are set, the
/// behaviour users rely on; Telnyx with `TELNYX_API_KEY` and `TELNYX_VERIFY_PROFILE_ID`;
/// MessageBird with `MESSAGEBIRD_ACCESS_KEY`); none is `dev`, several are refused by name.
/// `TWILIO_AUTH_TOKEN` alone is a carrier credential and says nothing about the verifier.
pub fn verifier_settings(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<VerifierSettings, VerifierConfigError> {
    let env = Env(env);
    let sender = env.get("BRIDGEKEEPER_SENDER");
    let chosen = match env.get("BRIDGEKEEPER_VERIFIER") {
        Some(name) => name,
        None if sender.is_some() => "builtin".to_owned(),
        None => {
            let twilio_partial = match TWILIO_VARS.map(|n| env.has(n)) {
                [false, _, false] => None,
                [true, true, true] => Some(true),
                _ => Some(false),
            };
            let mut complete = Vec::new();
            match twilio_partial {
                Some(true) => complete.push("twilio"),
                Some(false) => return Err(partial_twilio(&env)),
                None => {}
            }
            if env.has("TELNYX_VERIFY_PROFILE_ID") {
                complete.push("telnyx");
            }
            // Also the messagebird sender's key; with no BRIDGEKEEPER_SENDER it means Verify.
            if env.has("MESSAGEBIRD_ACCESS_KEY") {
                complete.push("messagebird");
            }
            match complete.as_slice() {
                [] => "dev".to_owned(),
                [one] => (*one).to_owned(),
                several => return Err(VerifierConfigError::Ambiguous(several.join(", "))),
            }
        }
    };
    let settings = match chosen.as_str() {
        "dev" => VerifierSettings::Dev,
        "twilio" => {
            let [account_sid, auth_token, verify_service_sid] =
                match env.all("BRIDGEKEEPER_VERIFIER=twilio", TWILIO_VARS) {
                    Ok(values) => values,
                    Err(_) => return Err(partial_twilio(&env)),
                };
            VerifierSettings::Twilio(TwilioSettings {
                account_sid,
                auth_token: SecretString::from(auth_token),
                verify_service_sid,
                verify_base_url: env.base_url("TWILIO_VERIFY_BASE_URL", DEFAULT_VERIFY_BASE_URL)?,
            })
        }
        "telnyx" => {
            let [api_key, profile_id] = env.all(
                "BRIDGEKEEPER_VERIFIER=telnyx",
                ["TELNYX_API_KEY", "TELNYX_VERIFY_PROFILE_ID"],
            )?;
            VerifierSettings::Telnyx(TelnyxVerifySettings {
                api_key: SecretString::from(api_key),
                profile_id,
                base_url: env.base_url("TELNYX_API_BASE_URL", DEFAULT_TELNYX_API_BASE_URL)?,
            })
        }
        "messagebird" => {
            let [access_key] = env.all(
                "BRIDGEKEEPER_VERIFIER=messagebird",
                ["MESSAGEBIRD_ACCESS_KEY"],
            )?;
            let originator = match env.get("MESSAGEBIRD_ORIGINATOR") {
                Some(o) => Some(env.sender_id("MESSAGEBIRD_ORIGINATOR", o)?),
                None => None,
            };
            VerifierSettings::MessageBird(MessageBirdVerifySettings {
                access_key: SecretString::from(access_key),
                originator,
                base_url: env.base_url("MESSAGEBIRD_BASE_URL", DEFAULT_MESSAGEBIRD_BASE_URL)?,
            })
        }
        "builtin" => {
            let template = match env.get("BRIDGEKEEPER_SMS_TEMPLATE") {
                Some(raw) => MessageTemplate::parse(&raw)?,
                None => MessageTemplate::default(),
            };
            let sender = match sender.as_deref() {
                None => return Err(VerifierConfigError::NoSender),
                Some(name) => sender_settings(&env, name)?,
            };
            return Ok(VerifierSettings::Builtin { sender, template });
        }
        other => return Err(VerifierConfigError::UnknownVerifier(other.to_owned())),
    };
    if sender.is_some() {
        return Err(VerifierConfigError::SenderWithoutBuiltin(settings.name()));
    }
    Ok(settings)
}

fn sender_settings<F: Fn(&str) -> Option<String>>(
    env: &Env<'_, F>,
    name: &str,
) -> Result<SenderSettings, VerifierConfigError> {
    Ok(match name {
        "twilio" => {
            let [account_sid, auth_token, from] = env.all(
                "BRIDGEKEEPER_SENDER=twilio",
                [
                    "TWILIO_ACCOUNT_SID",
                    "TWILIO_AUTH_TOKEN",
                    "TWILIO_FROM_NUMBER",
                ],
            )?;
            SenderSettings::Twilio {
                account_sid,
                auth_token: SecretString::from(auth_token),
                from: env.sender_id("TWILIO_FROM_NUMBER", from)?,
                base_url: env.base_url("TWILIO_API_BASE_URL", DEFAULT_TWILIO_API_BASE_URL)?,
            }
        }
        "telnyx" => {
            let [api_key, from] = env.all(
                "BRIDGEKEEPER_SENDER=telnyx",
                ["TELNYX_API_KEY", "TELNYX_FROM_NUMBER"],
            )?;
            SenderSettings::Telnyx {
                api_key: SecretString::from(api_key),
                from: env.sender_id("TELNYX_FROM_NUMBER", from)?,
                base_url: env.base_url("TELNYX_API_BASE_URL", DEFAULT_TELNYX_API_BASE_URL)?,
            }
        }
        "messagebird" => {
            let [access_key, originator] = env.all(
                "BRIDGEKEEPER_SENDER=messagebird",
                ["MESSAGEBIRD_ACCESS_KEY", "MESSAGEBIRD_ORIGINATOR"],
            )?;
            SenderSettings::MessageBird {
                access_key: SecretString::from(access_key),
                originator: env.sender_id("MESSAGEBIRD_ORIGINATOR", originator)?,
                base_url: env.base_url("MESSAGEBIRD_BASE_URL", DEFAULT_MESSAGEBIRD_BASE_URL)?,
            }
        }
        other => return Err(VerifierConfigError::UnknownSender(other.to_owned())),
    })
}

fn partial_twilio<F: Fn(&str) -> Option<String>>(env: &Env<'_, F>) -> VerifierConfigError {
    let names = |present: bool| {
        let names: Vec<&str> = TWILIO_VARS
            .iter()
            .filter(|n| env.has(n) == present)
            .copied()
            .collect();
        if names.is_empty() {
            "none of them".to_owned()
        } else {
            names.join(" and ")
        }
    };
    VerifierConfigError::PartialTwilio {
        present: names(true),
        missing: names(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<VerifierSettings, VerifierConfigError> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        verifier_settings(&|name: &str| env.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        read(vars).unwrap_err().to_string()
    }

    const TWILIO: [(&str, &str); 3] = [
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_AUTH_TOKEN", "s3cr3t-token"),
        ("TWILIO_VERIFY_SERVICE_SID", "VA123"),
    ];

    #[test]
    fn unset_the_verifier_is_the_one_whose_credentials_are_complete() {
        assert_eq!(read(&[]).unwrap().name(), "dev");
        assert_eq!(read(&TWILIO).unwrap().name(), "twilio");
        let telnyx = read(&[
            ("TELNYX_API_KEY", "KEY0123"),
            (
                "TELNYX_VERIFY_PROFILE_ID",
                "4900017a-0000-0000-0000-000000000000",
            ),
        ])
        .unwrap();
        let VerifierSettings::Telnyx(t) = telnyx else {
            panic!("not telnyx");
        };
        assert_eq!(t.base_url.as_str(), "https://api.telnyx.com/");
        assert_eq!(t.api_key.expose_secret(), "KEY0123");
        assert_eq!(
            read(&[("MESSAGEBIRD_ACCESS_KEY", "live_x")])
                .unwrap()
                .name(),
            "messagebird"
        );
        // The Telnyx API key alone is a REST credential, not a verifier.
        assert_eq!(
            read(&[("TELNYX_API_KEY", "KEY0123")]).unwrap().name(),
            "dev"
        );
        // The auth token alone is a carrier credential.
        assert_eq!(read(&[("TWILIO_AUTH_TOKEN", "t")]).unwrap().name(), "dev");
    }

    #[test]
    fn several_complete_verifiers_are_refused_by_name() {
        let mut vars = TWILIO.to_vec();
        vars.push(("MESSAGEBIRD_ACCESS_KEY", "live_x"));
        let text = error(&vars);
        assert!(text.contains("twilio, messagebird"), "{text}");
        vars.push(("BRIDGEKEEPER_VERIFIER", "messagebird"));
        assert_eq!(read(&vars).unwrap().name(), "messagebird");
    }

    #[test]
    fn incomplete_credentials_are_refused_by_name() {
        let text = error(&[("BRIDGEKEEPER_VERIFIER", "telnyx"), ("TELNYX_API_KEY", "k")]);
        assert!(text.contains("TELNYX_VERIFY_PROFILE_ID"), "{text}");
        let text = error(&[("TELNYX_VERIFY_PROFILE_ID", "p")]);
        assert!(text.contains("TELNYX_API_KEY"), "{text}");
        let text = error(&[("BRIDGEKEEPER_VERIFIER", "messagebird")]);
        assert!(text.contains("MESSAGEBIRD_ACCESS_KEY"), "{text}");
        let text = error(&[("TWILIO_VERIFY_SERVICE_SID", "VA1")]);
        assert!(
            text.contains("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN missing"),
            "{text}"
        );
        let text = error(&[("BRIDGEKEEPER_VERIFIER", "carrier-pigeon")]);
        assert!(text.contains("carrier-pigeon"), "{text}");
    }

    #[test]
    fn the_builtin_engine_needs_a_sender_and_its_credentials() {
        assert!(error(&[("BRIDGEKEEPER_VERIFIER", "builtin")]).contains("BRIDGEKEEPER_SENDER"));
        let text = error(&[
            ("BRIDGEKEEPER_SENDER", "twilio"),
            ("TWILIO_AUTH_TOKEN", "t"),
        ]);
        assert!(
            text.contains("TWILIO_ACCOUNT_SID and TWILIO_FROM_NUMBER"),
            "{text}"
        );
        let text = error(&[
            ("BRIDGEKEEPER_SENDER", "messagebird"),
            ("MESSAGEBIRD_ACCESS_KEY", "k"),
        ]);
        assert!(text.contains("MESSAGEBIRD_ORIGINATOR"), "{text}");
        assert!(error(&[("BRIDGEKEEPER_SENDER", "fax")]).contains("fax"));
        let builtin = read(&[
            ("BRIDGEKEEPER_SENDER", "telnyx"),
            ("TELNYX_API_KEY", "k"),
            ("TELNYX_FROM_NUMBER", "+15550100000"),
            ("TELNYX_API_BASE_URL", "http://127.0.0.1:9"),
            ("BRIDGEKEEPER_SMS_TEMPLATE", "Code {code}"),
        ])
        .unwrap();
        let VerifierSettings::Builtin { sender, template } = &builtin else {
            panic!("not builtin");
        };
        assert_eq!(sender.name(), "telnyx");
        assert_eq!(template, &MessageTemplate::parse("Code {code}").unwrap());
        assert_eq!(builtin.channels(), &[Channel::Sms]);
        // The sender's variables do not make a Verify API: the sender decides.
        let mut vars = TWILIO.to_vec();
        vars.extend([
            ("BRIDGEKEEPER_SENDER", "twilio"),
            ("TWILIO_FROM_NUMBER", "MG1"),
        ]);
        assert_eq!(read(&vars).unwrap().name(), "builtin");
    }

    #[test]
    fn a_sender_with_a_verify_api_or_a_bad_template_is_refused() {
        let mut vars = TWILIO.to_vec();
        vars.extend([
            ("BRIDGEKEEPER_VERIFIER", "twilio"),
            ("BRIDGEKEEPER_SENDER", "twilio"),
        ]);
        assert!(error(&vars).contains("BRIDGEKEEPER_SENDER is set"));
        let text = error(&[
            ("BRIDGEKEEPER_SENDER", "telnyx"),
            ("TELNYX_API_KEY", "k"),
            ("TELNYX_FROM_NUMBER", "+15550100000"),
            ("BRIDGEKEEPER_SMS_TEMPLATE", "no code here"),
        ]);
        assert!(
            text.contains("BRIDGEKEEPER_SMS_TEMPLATE must contain {code}"),
            "{text}"
        );
        let text = error(&[
            ("BRIDGEKEEPER_VERIFIER", "telnyx"),
            ("TELNYX_API_KEY", "k"),
            ("TELNYX_VERIFY_PROFILE_ID", "p"),
            ("TELNYX_API_BASE_URL", "api.telnyx.com"),
        ]);
        assert!(text.starts_with("TELNYX_API_BASE_URL"), "{text}");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let all = read(&[
            ("BRIDGEKEEPER_SENDER", "messagebird"),
            ("MESSAGEBIRD_ACCESS_KEY", "live_supersecretkey"),
            ("MESSAGEBIRD_ORIGINATOR", "Bridge"),
        ])
        .unwrap();
        assert!(!format!("{all:?}").contains("supersecret"));
    }
}
