//! What authenticating one webhook costs, per carrier: each scheme verifies a typical
//! entry webhook many times over, through the same code the server runs, and prints the
//! microseconds per verification. `scripts/bench.sh` runs it for BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release --example signatures
//! ```

use axum::http::{HeaderMap, HeaderValue};
use bridgekeeper::carrier::carrierx::CarrierX;
use bridgekeeper::carrier::signalwire::SignalWire;
use bridgekeeper::carrier::telnyx::{self, Telnyx};
use bridgekeeper::carrier::twilio::Twilio;
use bridgekeeper::carrier::{Carrier, Form, Inbound};
use secrecy::SecretString;
use std::time::Instant;
use url::Url;

const BODY: &[u8] = b"CallSid=CA0123456789abcdef0123456789abcdef&AccountSid=AC00000000000000000000000000000000&From=%2B14152000001&Caller=%2B14152000001&To=%2B12025550100&Called=%2B12025550100&CallStatus=ringing&Direction=inbound&ApiVersion=2010-04-01";
const ROUNDS: u32 = 20_000;

fn time(name: &str, carrier: &dyn Carrier, inbound: &Inbound<'_>) {
    assert!(
        carrier.authenticate(inbound).is_ok(),
        "{name}: the sample must verify"
    );
    let started = Instant::now();
    let mut ok = 0u32;
    for _ in 0..ROUNDS {
        ok += u32::from(carrier.authenticate(std::hint::black_box(inbound)).is_ok());
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    assert_eq!(ok, ROUNDS);
    println!("{name:<11} {micros:>7.2} µs per webhook");
}

fn main() {
    let public = Url::parse("https://bk.example.com").unwrap();
    let now = 1_800_000_000;
    let params = Form::decode(BODY).unwrap();
    let hmac_sig = |key: &str, path: &str| {
        bridgekeeper::signature::sign(
            key,
            &format!("https://bk.example.com{path}"),
            params.pairs(),
        )
    };

    let mut twilio_headers = HeaderMap::new();
    twilio_headers.insert(
        "X-Twilio-Signature",
        HeaderValue::from_str(&hmac_sig("token", "/voice")).unwrap(),
    );
    let twilio = Twilio::new(Some(SecretString::from("token".to_owned())), public.clone());
    let inbound = |path, headers| Inbound {
        path_and_query: path,
        headers,
        body: BODY,
        now,
    };
    time("twilio", &twilio, &inbound("/voice", &twilio_headers));

    let mut sw_headers = HeaderMap::new();
    sw_headers.insert(
        "X-SignalWire-Signature",
        HeaderValue::from_str(&hmac_sig("PSKkey", "/signalwire/voice")).unwrap(),
    );
    let signalwire = SignalWire::new(Some(SecretString::from("PSKkey".to_owned())), public);
    time(
        "signalwire",
        &signalwire,
        &inbound("/signalwire/voice", &sw_headers),
    );

    let seed = [7u8; 32];
    let mut tx_headers = HeaderMap::new();
    tx_headers.insert(
        telnyx::SIGNATURE_HEADER,
        HeaderValue::from_str(&telnyx::sign(&seed, now, BODY)).unwrap(),
    );
    tx_headers.insert(telnyx::TIMESTAMP_HEADER, HeaderValue::from(now));
    let key = telnyx::parse_public_key(&telnyx::public_key_of(&seed)).unwrap();
    let telnyx = Telnyx::new(Some(key)).unwrap();
    time("telnyx", &telnyx, &inbound("/telnyx/voice", &tx_headers));

    let carrierx = CarrierX::new(Some(SecretString::from("cx-key-0123456789".to_owned())));
    let empty = HeaderMap::new();
    time(
        "carrierx",
        &carrierx,
        &inbound("/carrierx/voice?key=cx-key-0123456789", &empty),
    );
}
