//! Builds the verifier the settings name: a provider's Verify API, or the built-in engine
//! delivering through the dev outbox or a sender. The one place that knows every verifier.

use crate::clock::Clock;
use crate::config::{SenderSettings, VerifierSettings};
use crate::store::Store;
use crate::verify::messagebird::{MessageBirdVerify, MessageBirdVerifyConfig};
use crate::verify::sender::messagebird::{MessageBirdMessages, MessageBirdMessagesConfig};
use crate::verify::sender::telnyx::{TelnyxMessages, TelnyxMessagesConfig};
use crate::verify::sender::twilio::{TwilioMessages, TwilioMessagesConfig};
use crate::verify::telnyx::{TelnyxVerify, TelnyxVerifyConfig};
use crate::verify::{
    Courier, LocalLimits, LocalVerifier, MessageTemplate, Outbox, TwilioVerify, TwilioVerifyConfig,
    Verifier,
};
use std::sync::Arc;
use std::time::Duration;

/// What the built-in engine needs besides its courier.
pub struct Engine {
    /// Its key, derived from the server secret.
    pub key: [u8; 32],
    /// Where its state lives (Redis with several instances).
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Its limits.
    pub limits: LocalLimits,
}

/// The verifier, and the dev outbox when it is the `dev` one.
pub struct Built {
    /// The verifier.
    pub verifier: Arc<dyn Verifier>,
    /// `Some` only for `dev`.
    pub outbox: Option<Outbox>,
    /// Where codes go, for the start-up log (no secret in it).
    pub description: String,
}

/// Builds the verifier `settings` name; `timeout` bounds every upstream request.
pub fn build(
    settings: VerifierSettings,
    engine: Engine,
    timeout: Duration,
) -> Result<Built, String> {
    let local = |courier: Arc<dyn Courier>, template: MessageTemplate| -> Arc<dyn Verifier> {
        Arc::new(LocalVerifier::new(
            engine.key,
            engine.store.clone(),
            courier,
            template,
            engine.clock.clone(),
            engine.limits,
        ))
    };
    Ok(match settings {
        VerifierSettings::Dev => {
            let outbox = Outbox::new(engine.store.clone());
            Built {
                verifier: local(Arc::new(outbox.clone()), MessageTemplate::default()),
                outbox: Some(outbox),
                description: "the dev outbox (GET /dev/outbox): no message is sent".to_owned(),
            }
        }
        VerifierSettings::Twilio(twilio) => Built {
            description: format!(
                "Twilio Verify at {} (service {})",
                twilio.verify_base_url, twilio.verify_service_sid
            ),
            verifier: Arc::new(
                TwilioVerify::new(TwilioVerifyConfig {
                    base_url: twilio.verify_base_url,
                    account_sid: twilio.account_sid,
                    auth_token: twilio.auth_token,
                    service_sid: twilio.verify_service_sid,
                    timeout,
                })
                .map_err(|e| e.to_string())?,
            ),
            outbox: None,
        },
        VerifierSettings::Telnyx(telnyx) => Built {
            description: format!(
                "Telnyx Verify at {} (profile {})",
                telnyx.base_url, telnyx.profile_id
            ),
            verifier: Arc::new(
                TelnyxVerify::new(TelnyxVerifyConfig {
                    base_url: telnyx.base_url,
                    api_key: telnyx.api_key,
                    profile_id: telnyx.profile_id,
                    timeout,
                })
                .map_err(|e| e.to_string())?,
            ),
            outbox: None,
        },
        VerifierSettings::MessageBird(bird) => Built {
            description: format!("MessageBird Verify at {}", bird.base_url),
            verifier: Arc::new(
                MessageBirdVerify::new(MessageBirdVerifyConfig {
                    base_url: bird.base_url,
                    access_key: bird.access_key,
                    originator: bird.originator,
                    timeout,
                })
                .map_err(|e| e.to_string())?,
            ),
            outbox: None,
        },
        VerifierSettings::Builtin { sender, template } => {
            let (courier, description): (Arc<dyn Courier>, String) = match sender {
                SenderSettings::Twilio {
                    account_sid,
                    auth_token,
                    from,
                    base_url,
                } => (
                    Arc::new(TwilioMessages::new(TwilioMessagesConfig {
                        base_url: base_url.clone(),
                        account_sid,
                        auth_token,
                        from,
                        timeout,
                    })?),
                    format!("Twilio Messages at {base_url}"),
                ),
                SenderSettings::Telnyx {
                    api_key,
                    from,
                    base_url,
                } => (
                    Arc::new(TelnyxMessages::new(TelnyxMessagesConfig {
                        base_url: base_url.clone(),
                        api_key,
                        from,
                        timeout,
                    })?),
                    format!("Telnyx messages at {base_url}"),
                ),
                SenderSettings::MessageBird {
                    access_key,
                    originator,
                    base_url,
                } => (
                    Arc::new(MessageBirdMessages::new(MessageBirdMessagesConfig {
                        base_url: base_url.clone(),
                        access_key,
                        originator,
                        timeout,
                    })?),
                    format!("MessageBird messages at {base_url}"),
                ),
            };
            Built {
                verifier: local(courier, template),
                outbox: None,
                description: format!("bridgekeeper's own engine, texting through {description}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::{MessageBirdVerifySettings, TelnyxVerifySettings, TwilioSettings};
    use crate::store::MemoryStore;
    use url::Url;

    fn engine() -> Engine {
        let clock = Arc::new(ManualClock::default());
        Engine {
            key: [7; 32],
            store: Arc::new(MemoryStore::new(clock.clone())),
            clock,
            limits: LocalLimits::default(),
        }
    }

    #[test]
    fn every_verifier_delivers_the_channels_its_settings_promise() {
        let base = Url::parse("http://127.0.0.1:9").unwrap();
        let builtin = |sender| VerifierSettings::Builtin {
            sender,
            template: MessageTemplate::default(),
        };
        let all = [
            VerifierSettings::Dev,
            VerifierSettings::Twilio(TwilioSettings {
                account_sid: "AC1".into(),
                auth_token: "t".to_owned().into(),
                verify_service_sid: "VA1".into(),
                verify_base_url: base.clone(),
            }),
            VerifierSettings::Telnyx(TelnyxVerifySettings {
                api_key: "KEY1".to_owned().into(),
                profile_id: "p".into(),
                base_url: base.clone(),
            }),
            VerifierSettings::MessageBird(MessageBirdVerifySettings {
                access_key: "k".to_owned().into(),
                originator: None,
                base_url: base.clone(),
            }),
            builtin(SenderSettings::Twilio {
                account_sid: "AC1".into(),
                auth_token: "t".to_owned().into(),
                from: "+15550100000".into(),
                base_url: base.clone(),
            }),
            builtin(SenderSettings::Telnyx {
                api_key: "KEY1".to_owned().into(),
                from: "+15550100000".into(),
                base_url: base.clone(),
            }),
            builtin(SenderSettings::MessageBird {
                access_key: "k".to_owned().into(),
                originator: "Bridge".into(),
                base_url: base.clone(),
            }),
        ];
        for settings in all {
            let name = settings.name();
            let promised = settings.channels();
            let built = build(settings, engine(), Duration::from_secs(1)).unwrap();
            assert_eq!(built.verifier.channels(), promised, "{name}");
            assert_eq!(built.outbox.is_some(), name == "dev", "{name}");
            assert!(!built.description.contains("KEY1"), "{name}");
        }
    }
}
