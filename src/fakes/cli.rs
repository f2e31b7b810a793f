//! `bridgekeeper fake-verify --provider telnyx|messagebird`: the Telnyx and MessageBird fakes
//! served on their own for rehearsals and benchmarks, like the Twilio one. The first line
//! names the environment to give `bridgekeeper serve` (for the provider's Verify API, or
//! with `--sender` for the built-in engine texting through its SMS API); then a line per
//! code delivered, with the code in full (the fake's codes are not secrets: nothing is sent).

use crate::fake_verify::{FakeVerifyArgs, Provider};
use crate::fakes::messagebird::{self as bird, FakeMessageBird, FakeMessageBirdConfig};
use crate::fakes::telnyx::{self as telnyx, FakeTelnyx, FakeTelnyxConfig};
use crate::fakes::{Control, SentCode};
use std::io;
use std::process::ExitCode;
use std::time::Duration;

/// The sender number (or name) the printed environment gives the server.
pub const FROM_NUMBER: &str = "+15550100000";

/// A running Telnyx or MessageBird fake.
enum Running {
    Telnyx(FakeTelnyx),
    Bird(FakeMessageBird),
}

impl Running {
    fn control(&self) -> &Control {
        match self {
            Running::Telnyx(f) => f.control(),
            Running::Bird(f) => f.control(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Running::Telnyx(_) => "Telnyx",
            Running::Bird(_) => "MessageBird",
        }
    }

    async fn stop(self) -> io::Result<()> {
        match self {
            Running::Telnyx(f) => f.stop().await,
            Running::Bird(f) => f.stop().await,
        }
    }
}

/// The environment for `serve`, as `NAME=value` words.
pub fn environment(provider: Provider, origin: &str, sender: bool) -> Vec<(String, String)> {
    let pairs: Vec<(&str, &str)> = match (provider, sender) {
        (Provider::Telnyx, false) => vec![
            ("BRIDGEKEEPER_VERIFIER", "telnyx"),
            ("TELNYX_API_BASE_URL", origin),
            ("TELNYX_API_KEY", telnyx::DEFAULT_API_KEY),
            ("TELNYX_VERIFY_PROFILE_ID", telnyx::DEFAULT_PROFILE_ID),
        ],
        (Provider::Telnyx, true) => vec![
            ("BRIDGEKEEPER_SENDER", "telnyx"),
            ("TELNYX_API_BASE_URL", origin),
            ("TELNYX_API_KEY", telnyx::DEFAULT_API_KEY),
            ("TELNYX_FROM_NUMBER", FROM_NUMBER),
        ],
        (Provider::MessageBird, false) => vec![
            ("BRIDGEKEEPER_VERIFIER", "messagebird"),
            ("MESSAGEBIRD_BASE_URL", origin),
            ("MESSAGEBIRD_ACCESS_KEY", bird::DEFAULT_ACCESS_KEY),
        ],
        (Provider::MessageBird, true) => vec![
            ("BRIDGEKEEPER_SENDER", "messagebird"),
            ("MESSAGEBIRD_BASE_URL", origin),
            ("MESSAGEBIRD_ACCESS_KEY", bird::DEFAULT_ACCESS_KEY),
            ("MESSAGEBIRD_ORIGINATOR", FROM_NUMBER),
        ],
        (Provider::Twilio, _) => Vec::new(),
    };
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The line printed for a delivered code: the number masked, the code in full.
pub fn sent_line(sent: &SentCode) -> String {
    let how = if sent.channel == "voice" {
        " (voice call)"
    } else {
        ""
    };
    format!(
        "code {} sent to {}{how}",
        sent.code,
        crate::domain::redact::mask_number(&sent.to)
    )
}

/// Runs the Telnyx or MessageBird fake until Ctrl-C or SIGTERM.
pub async fn run(args: FakeVerifyArgs) -> ExitCode {
    let started = match args.provider {
        Provider::Telnyx => FakeTelnyx::start(FakeTelnyxConfig {
            listen: args.listen.clone(),
            latency: args.latency,
            fixed_code: args.code.clone(),
            limits: !args.no_limits,
            history: 0,
            ..FakeTelnyxConfig::default()
        })
        .await
        .map(Running::Telnyx),
        Provider::MessageBird => FakeMessageBird::start(FakeMessageBirdConfig {
            listen: args.listen.clone(),
            latency: args.latency,
            fixed_code: args.code.clone(),
            limits: !args.no_limits,
            history: 0,
            ..FakeMessageBirdConfig::default()
        })
        .await
        .map(Running::Bird),
        Provider::Twilio => return crate::fake_verify::run(args).await,
    };
    let fake = match started {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!(
                "bridgekeeper fake-verify: cannot listen on {}: {e}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let origin = match &fake {
        Running::Telnyx(f) => f.origin(),
        Running::Bird(f) => f.origin(),
    };
    let env: Vec<String> = environment(args.provider, &origin, args.sender)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", crate::fake_verify::shell_word(&v)))
        .collect();
    let what = if args.sender {
        "SMS API"
    } else {
        "Verify and SMS APIs"
    };
    let latency = if args.latency.is_zero() {
        "no latency".to_owned()
    } else {
        format!("latency {:?}", args.latency)
    };
    let codes = match &args.code {
        Some(code) => format!("every code {code}"),
        None => "random codes".to_owned(),
    };
    println!(
        "fake {} {what} on {origin} ({latency}, {}, {codes}); give the server: {}",
        fake.name(),
        if args.no_limits {
            "no limits"
        } else {
            "Verify's limits"
        },
        env.join(" ")
    );
    if !args.quiet {
        let mut sends = fake.control().watch_sends();
        tokio::spawn(async move {
            use std::io::Write;
            while let Some(sent) = sends.recv().await {
                // A closed pipe (`fake-verify | head`) is not worth a panic.
                let _ = writeln!(io::stdout().lock(), "{}", sent_line(&sent));
            }
        });
    }
    crate::startup::ctrl_c_or_sigterm().await;
    let served = match fake.control().request_count() {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    let name = fake.name();
    let grace = Duration::from_secs(5).saturating_add(args.latency);
    match tokio::time::timeout(grace, fake.stop()).await {
        Ok(Ok(())) => eprintln!("fake {name} stopped after {served}"),
        Ok(Err(e)) => eprintln!("fake {name} stopped after {served} ({e})"),
        Err(_) => eprintln!("fake {name} stopped after {served} (some still in flight)"),
    }
    ExitCode::SUCCESS
}
