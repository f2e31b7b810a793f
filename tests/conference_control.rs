//! Moderator actions against the fake carriers' REST APIs, in each dialect: the request each
//! action puts on the wire (method, path, auth, body), what it changes, and how every answer
//! and failure maps onto `ControlError`.

use bridgekeeper::conference::control::{
    ConferenceActions, ConferenceControl, ControlConfig, ControlError, ControlFlavor,
};
use bridgekeeper::fakes::Failure;
use bridgekeeper::fakes::conference::{
    FakeConferenceApi, FakeConferenceApiConfig, Flavor, SIGNALWIRE_API_TOKEN,
    SIGNALWIRE_PROJECT_ID, TELNYX_ACCOUNT_SID, TELNYX_API_KEY, TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN, rate_limited,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

const FLAVORS: [Flavor; 3] = [Flavor::Twilio, Flavor::SignalWire, Flavor::Telnyx];
const ROOM: &str = "CF0123456789abcdef0123456789abcdef";
const ADA: &str = "CA0123456789abcdef0123456789abc001";
const GRACE: &str = "CA0123456789abcdef0123456789abc002";

/// The flavor's credentials: the fake's, or a wrong secret.
fn credentials(flavor: Flavor, right: bool) -> ControlFlavor {
    let secret = |s: &str| SecretString::from(if right { s } else { "wrong-secret-value" });
    match flavor {
        Flavor::Twilio => ControlFlavor::Twilio {
            account_sid: TWILIO_ACCOUNT_SID.to_owned(),
            auth_token: secret(TWILIO_AUTH_TOKEN),
        },
        Flavor::SignalWire => ControlFlavor::SignalWire {
            project_id: SIGNALWIRE_PROJECT_ID.to_owned(),
            api_token: secret(SIGNALWIRE_API_TOKEN),
        },
        Flavor::Telnyx => ControlFlavor::Telnyx {
            api_key: secret(TELNYX_API_KEY),
            account_sid: TELNYX_ACCOUNT_SID.to_owned(),
        },
    }
}

fn client(fake: &FakeConferenceApi, flavor: ControlFlavor, timeout: Duration) -> ConferenceControl {
    ConferenceControl::new(ControlConfig {
        flavor,
        base_url: fake.base().clone(),
        timeout,
    })
    .expect("the client builds")
}

async fn rig(flavor: Flavor) -> (FakeConferenceApi, ConferenceControl) {
    let fake = FakeConferenceApi::start(FakeConferenceApiConfig::default())
        .await
        .expect("the fake starts");
    fake.add_participant(ROOM, ADA);
    fake.add_participant(ROOM, GRACE);
    let control = client(&fake, credentials(flavor, true), Duration::from_secs(2));
    (fake, control)
}

/// The path of a conference (`call` None) or a participant, ids already encoded.
fn path(flavor: Flavor, room: &str, call: Option<&str>) -> String {
    let (prefix, account, suffix) = match flavor {
        Flavor::Twilio => ("/2010-04-01/Accounts", TWILIO_ACCOUNT_SID, ".json"),
        Flavor::SignalWire => (
            "/api/laml/2010-04-01/Accounts",
            SIGNALWIRE_PROJECT_ID,
            ".json",
        ),
        Flavor::Telnyx => ("/v2/texml/Accounts", TELNYX_ACCOUNT_SID, ""),
    };
    match call {
        None => format!("{prefix}/{account}/Conferences/{room}{suffix}"),
        Some(call) => {
            format!("{prefix}/{account}/Conferences/{room}/Participants/{call}{suffix}")
        }
    }
}

#[tokio::test]
async fn mute_and_unmute_post_the_muted_flag_to_the_participant() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;

        control.mute(ROOM, ADA, true).await.expect("muted");
        assert_eq!(fake.is_muted(ROOM, ADA), Some(true), "{flavor:?}");
        assert_eq!(fake.is_muted(ROOM, GRACE), Some(false), "{flavor:?}");
        control.mute(ROOM, ADA, false).await.expect("unmuted");
        assert_eq!(fake.is_muted(ROOM, ADA), Some(false), "{flavor:?}");

        let requests = fake.control().requests();
        assert_eq!(requests.len(), 2, "{flavor:?}");
        for (request, body) in requests.iter().zip(["Muted=true", "Muted=false"]) {
            assert_eq!(request.method, "POST");
            assert_eq!(request.path, path(flavor, ROOM, Some(ADA)));
            assert!(request.auth_ok, "{flavor:?}: the fake took the credentials");
            assert_eq!(
                request.content_type.as_deref(),
                Some("application/x-www-form-urlencoded")
            );
            assert_eq!(request.body, body);
        }
    }
}

#[tokio::test]
async fn remove_deletes_the_participant_and_no_one_else() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;

        control.remove(ROOM, ADA).await.expect("removed");

        assert!(!fake.is_present(ROOM, ADA), "{flavor:?}");
        assert!(fake.is_present(ROOM, GRACE), "{flavor:?}");
        assert!(!fake.is_ended(ROOM), "{flavor:?}");
        let request = &fake.control().requests()[0];
        assert_eq!(request.method, "DELETE");
        assert_eq!(request.path, path(flavor, ROOM, Some(ADA)));
        assert!(request.auth_ok);
        assert_eq!(request.body, "");
    }
}

#[tokio::test]
async fn end_completes_the_conference_for_everyone() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;

        control.end(ROOM).await.expect("ended");

        assert!(fake.is_ended(ROOM), "{flavor:?}");
        assert!(!fake.is_present(ROOM, ADA) && !fake.is_present(ROOM, GRACE));
        let request = &fake.control().requests()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, path(flavor, ROOM, None));
        assert!(request.auth_ok);
        assert_eq!(request.body, "Status=completed");
    }
}

#[tokio::test]
async fn a_participant_or_conference_that_is_gone_is_not_found() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;

        assert_eq!(
            control.mute(ROOM, "CAnobody", true).await,
            Err(ControlError::NotFound)
        );
        assert_eq!(control.end("CFnowhere").await, Err(ControlError::NotFound));
        control.remove(ROOM, ADA).await.expect("removed");
        assert_eq!(
            control.remove(ROOM, ADA).await,
            Err(ControlError::NotFound),
            "{flavor:?}: a second remove finds no one"
        );
        control.end(ROOM).await.expect("ended");
        assert_eq!(
            control.mute(ROOM, GRACE, true).await,
            Err(ControlError::NotFound),
            "{flavor:?}: no one is left in an ended conference"
        );
        assert_eq!(fake.control().requests().len(), 6);
    }
}

#[tokio::test]
async fn refused_credentials_need_the_operator() {
    for flavor in FLAVORS {
        let (fake, _) = rig(flavor).await;
        let control = client(&fake, credentials(flavor, false), Duration::from_secs(2));

        let e = control.mute(ROOM, ADA, true).await.unwrap_err();

        assert!(matches!(e, ControlError::Credentials(_)), "{flavor:?}: {e}");
        assert!(e.needs_operator());
        assert!(!e.to_string().contains("wrong-secret-value"), "{e}");
        assert!(!fake.control().requests()[0].auth_ok);
        assert_eq!(fake.is_muted(ROOM, ADA), Some(false));
    }
}

#[tokio::test]
async fn throttling_is_rate_limited() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;
        fake.control().fail_next(rate_limited(flavor));

        let e = control.end(ROOM).await.unwrap_err();

        assert!(matches!(e, ControlError::RateLimited(_)), "{flavor:?}: {e}");
        assert!(!fake.is_ended(ROOM));
    }
}

#[tokio::test]
async fn outages_and_silence_are_unavailable() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;
        for failure in [Failure::Status(500), Failure::Status(503), Failure::NotJson] {
            fake.control().fail_next(failure.clone());
            let e = control.mute(ROOM, ADA, true).await.unwrap_err();
            assert!(
                matches!(e, ControlError::Unavailable(_)),
                "{flavor:?} {failure:?}: {e}"
            );
        }

        let impatient = client(&fake, credentials(flavor, true), Duration::from_millis(200));
        fake.control()
            .fail_next(Failure::Hang(Duration::from_secs(5)));
        let e = impatient.remove(ROOM, ADA).await.unwrap_err();
        assert!(matches!(e, ControlError::Unavailable(_)), "{flavor:?}: {e}");
    }
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let control = ConferenceControl::new(ControlConfig {
        flavor: credentials(Flavor::Twilio, true),
        base_url: base,
        timeout: Duration::from_secs(2),
    })
    .unwrap();

    let e = control.end(ROOM).await.unwrap_err();

    assert!(matches!(e, ControlError::Unavailable(_)), "{e}");
}

#[tokio::test]
async fn a_404_without_the_carriers_body_is_not_taken_for_gone() {
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;
        fake.control().fail_next(Failure::Status(404));

        let e = control.remove(ROOM, ADA).await.unwrap_err();

        assert!(matches!(e, ControlError::Rejected(_)), "{flavor:?}: {e}");
        assert!(fake.is_present(ROOM, ADA));
    }
}

#[tokio::test]
async fn ids_with_odd_characters_stay_one_segment() {
    let room = "room/1?x=#y %z";
    let call = "v3:a/b?c#d%e f";
    for flavor in FLAVORS {
        let (fake, control) = rig(flavor).await;
        fake.add_participant(room, call);

        control.mute(room, call, true).await.expect("muted");
        control.remove(room, call).await.expect("removed");

        assert!(!fake.is_present(room, call));
        let encoded_room = "room%2F1%3Fx=%23y%20%25z";
        let encoded_call = "v3:a%2Fb%3Fc%23d%25e%20f";
        for request in fake.control().requests() {
            assert_eq!(
                request.path,
                path(flavor, encoded_room, Some(encoded_call)),
                "{flavor:?}"
            );
        }
        assert!(fake.is_ended(room), "its last participant left");
    }
}

#[tokio::test]
async fn ids_that_cannot_be_a_segment_are_refused_before_sending() {
    let (fake, control) = rig(Flavor::Twilio).await;

    for (room, call) in [("..", ADA), (ROOM, "."), ("", ADA), (ROOM, "")] {
        let e = control.mute(room, call, true).await.unwrap_err();
        assert!(
            matches!(e, ControlError::Rejected(_)),
            "{room:?} {call:?}: {e}"
        );
    }
    assert!(matches!(
        control.end(".").await,
        Err(ControlError::Rejected(_))
    ));

    assert!(fake.control().requests().is_empty());
}

#[tokio::test]
async fn the_client_speaks_through_the_trait_too() {
    let (fake, control) = rig(Flavor::Telnyx).await;
    let actions: Arc<dyn ConferenceActions> = Arc::new(control);

    actions.mute(ROOM, GRACE, true).await.unwrap();
    actions.remove(ROOM, ADA).await.unwrap();

    assert_eq!(actions.carrier(), "telnyx");
    assert_eq!(fake.is_muted(ROOM, GRACE), Some(true));
    actions.end(ROOM).await.unwrap();
    assert!(fake.is_ended(ROOM));
}

#[test]
fn each_flavor_names_its_carrier() {
    let names: Vec<&str> = FLAVORS
        .iter()
        .map(|f| credentials(*f, true).carrier())
        .collect();
    assert_eq!(names, ["twilio", "signalwire", "telnyx"]);
}

#[tokio::test]
async fn no_secret_shows_in_debug() {
    let (fake, _) = rig(Flavor::Twilio).await;
    for (flavor, secret) in [
        (Flavor::Twilio, TWILIO_AUTH_TOKEN),
        (Flavor::SignalWire, SIGNALWIRE_API_TOKEN),
        (Flavor::Telnyx, TELNYX_API_KEY),
    ] {
        let config = ControlConfig {
            flavor: credentials(flavor, true),
            base_url: fake.base().clone(),
            timeout: Duration::from_secs(2),
        };
        let config_debug = format!("{config:?}");
        let control = ConferenceControl::new(config).unwrap();
        let control_debug = format!("{control:?}");
        for text in [&config_debug, &control_debug] {
            assert!(!text.contains(secret), "{flavor:?}: {text}");
        }
        assert!(control_debug.contains(control.carrier()), "{control_debug}");
    }
}

#[test]
fn configurations_that_could_not_work_are_refused() {
    let good = || ControlConfig {
        flavor: credentials(Flavor::Twilio, true),
        base_url: Url::parse("https://api.twilio.com").unwrap(),
        timeout: Duration::from_secs(5),
    };
    assert!(ConferenceControl::new(good()).is_ok());
    let refused = |change: &dyn Fn(&mut ControlConfig)| {
        let mut config = good();
        change(&mut config);
        ConferenceControl::new(config).unwrap_err()
    };
    refused(&|c| c.base_url = Url::parse("http://api.twilio.com").unwrap());
    refused(&|c| c.base_url = Url::parse("https://example.signalwire.com/api/laml").unwrap());
    refused(&|c| c.timeout = Duration::ZERO);
    refused(&|c| {
        c.flavor = ControlFlavor::Twilio {
            account_sid: String::new(),
            auth_token: SecretString::from(TWILIO_AUTH_TOKEN),
        }
    });
    refused(&|c| {
        c.flavor = ControlFlavor::SignalWire {
            project_id: SIGNALWIRE_PROJECT_ID.to_owned(),
            api_token: SecretString::from(""),
        }
    });
    let e = refused(&|c| {
        c.flavor = ControlFlavor::Telnyx {
            api_key: SecretString::from("KEY with spaces"),
            account_sid: TELNYX_ACCOUNT_SID.to_owned(),
        }
    });
    assert!(!e.contains("KEY with spaces"), "{e}");
}
