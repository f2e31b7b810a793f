//! The floor for benchmarks of `POST /voice`: a bare axum server that decodes the same
//! form-encoded webhook body Twilio sends, reads `CallSid`, `From` and `To`, and answers with
//! a fixed TwiML Gather document of the same shape bridgekeeper answers a listed caller with.
//! No directory, no signature, no verifier, no store, no logs per request: what the hardware
//! allows for an axum handler doing the same parsing and answering.
//!
//! ```sh
//! cargo build --release --example floor
//! ./target/release/examples/floor --listen 127.0.0.1:5001
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bridgekeeper::routes::{Form, MAX_BODY_BYTES};
use bridgekeeper::twiml::{self, Gather, Method, Redirect, Say};
use std::process::ExitCode;

/// Where it listens unless `--listen` says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:5001";

/// A stand-in for the signed call state bridgekeeper puts in its URLs, of the same length.
const STATE: &str =
    "Ab1Fel9K1tRqdnjAXwEAAAAAawRiMRheJ0TpHEgHXrJW63w2Z1mYAAAAAGsEYjEs7ciICj4x7qlHCvsbWwWk";

const USAGE: &str = "usage: floor [--listen ADDR]   (default 127.0.0.1:5001)";

#[tokio::main]
async fn main() -> ExitCode {
    let listen = match listen_arg(std::env::args().skip(1)) {
        Ok(Some(listen)) => listen,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("floor: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("floor: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let document = Bytes::from(gather_document(&format!("http://{addr}")));
    let app = Router::new()
        .route("/voice", post(voice))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(document);
    println!("floor listening on http://{addr}; POST /voice");
    match axum::serve(listener, app)
        .with_graceful_shutdown(bridgekeeper::startup::shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--listen ADDR` or `--listen=ADDR`; `None` for `--help`.
fn listen_arg(mut args: impl Iterator<Item = String>) -> Result<Option<String>, String> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            other => match other.strip_prefix("--listen=") {
                Some(value) => listen = value.to_owned(),
                None => return Err(format!("unexpected argument {other:?}")),
            },
        }
    }
    Ok(Some(listen))
}

/// The document bridgekeeper answers a listed caller's first webhook with, written by the
/// same TwiML builder, with a fixed state and conference name.
fn gather_document(base: &str) -> String {
    let action = format!("{base}/voice/code?s={STATE}");
    let gather = Gather::new()
        .input("dtmf")
        .num_digits(6)
        .timeout(15)
        .finish_on_key("#")
        .action(action.as_str())
        .method(Method::Post)
        .say(Say::new(
            "Welcome to Weekly sync. We have sent a six-digit code by text message to your phone.",
        ))
        .say(Say::new(
            "Please enter the six-digit code from the text message, then press the pound key. \
             To get a new code, press star.",
        ));
    twiml::Response::new()
        .gather(gather)
        .redirect(Redirect::new(action).method(Method::Post))
        .to_xml()
}

/// `POST /voice`: decode the form as bridgekeeper does, read the call's parameters, answer.
async fn voice(State(document): State<Bytes>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.get(..33)
                .is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
    if !is_form {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not a form\n").into_response();
    }
    let form = match Form::decode(&body) {
        Ok(form) => form,
        Err(e) => return e.into_response(),
    };
    let (call_sid, from) = match (form.required("CallSid"), form.required("From")) {
        (Ok(call_sid), Ok(from)) => (call_sid, from),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    // Keep the reads from being optimised away.
    std::hint::black_box((call_sid, from, form.get("To")));
    ([(header::CONTENT_TYPE, twiml::CONTENT_TYPE)], document).into_response()
}
