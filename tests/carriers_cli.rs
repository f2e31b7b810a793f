//! Every carrier from the outside: the real server process with all carrier credentials set
//! and the dev verifier, played by `bridgekeeper call --carrier …` with each carrier's key.

mod common;

use base64::Engine;
use bridgekeeper::carrier::telnyx;
use common::process::{ServerProcess, call, example_participants};

const SIGNALWIRE_KEY: &str = "PSK_cli_signing_key_0123456789";
const CARRIERX_KEY: &str = "cx-cli-key-0123456789";
const ADMIN: &str = "admin-token-for-the-cli-tests";
const SEED: [u8; 32] = [9; 32];

#[tokio::test(flavor = "multi_thread")]
async fn call_plays_each_carrier_signed_with_its_own_key() {
    let public = telnyx::public_key_of(&SEED);
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[
            ("SIGNALWIRE_SIGNING_KEY", SIGNALWIRE_KEY),
            ("TELNYX_PUBLIC_KEY", public.as_str()),
            ("BRIDGEKEEPER_CARRIERX_KEY", CARRIERX_KEY),
            ("BRIDGEKEEPER_ADMIN_TOKEN", ADMIN),
        ],
    );
    let base = server.base.clone();
    let seed = base64::engine::general_purpose::STANDARD.encode(SEED);
    let results = tokio::task::spawn_blocking(move || {
        let signed = |carrier: &str, key: &[&str]| {
            let mut args = vec![
                "--carrier",
                carrier,
                "--from",
                "+1 (202) 555-0101",
                "--auto-code",
                "--admin-token",
                ADMIN,
            ];
            args.extend_from_slice(key);
            call(&base, &args)
        };
        vec![
            (
                "signalwire",
                signed("signalwire", &["--signing-key", SIGNALWIRE_KEY]),
            ),
            ("telnyx", signed("telnyx", &["--telnyx-private-key", &seed])),
            // Twilio has no credential on this server: not served.
            (
                "twilio",
                signed("twilio", &["--auth-token", "whatever-token"]),
            ),
            // The wrong key for SignalWire is refused.
            (
                "forged",
                signed("signalwire", &["--signing-key", "the-api-token"]),
            ),
        ]
    })
    .await
    .unwrap();
    for (name, (code, stdout, stderr)) in &results {
        match *name {
            "signalwire" | "telnyx" => {
                assert_eq!(*code, 0, "{name}: {stdout}\n{stderr}");
                assert_eq!(
                    stdout.lines().last(),
                    Some("joined Weekly sync as moderator"),
                    "{name}"
                );
            }
            "twilio" => {
                assert_eq!(*code, 1, "{name}: {stderr}");
                assert!(stderr.contains("404"), "{name}: {stderr}");
            }
            _ => {
                assert_eq!(*code, 1, "{name}: {stderr}");
                assert!(stderr.contains("403"), "{name}: {stderr}");
            }
        }
    }
    let (status, log) = server.stop();
    assert_eq!(status, Some(0));
    for secret in [SIGNALWIRE_KEY, CARRIERX_KEY, ADMIN] {
        assert!(!log.contains(secret), "a key leaked into the log");
    }
}
