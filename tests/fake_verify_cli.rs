//! `bridgekeeper fake-verify` from the outside: the line it prints, its latency, a whole
//! send and check with the credentials it names, a clean exit on SIGTERM, and a server
//! started with exactly the environment it prints.

mod common;

use common::process::{ServerProcess, command, example_participants};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const NUMBER: &str = "+12025550101";

/// A `bridgekeeper fake-verify` child and what its first line of output says.
struct FakeProcess {
    child: Child,
    line: String,
    env: HashMap<String, String>,
    rest: Receiver<String>,
}

impl FakeProcess {
    fn start(args: &[&str]) -> Self {
        let mut child = command()
            .arg("fake-verify")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fake-verify");
        let stdout = child.stdout.take().unwrap();
        let (first_tx, first) = std::sync::mpsc::channel();
        let (rest_tx, rest) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_tx.send(lines.next().and_then(Result::ok));
            // Whatever else it prints is kept, to be checked at the end.
            for line in lines.map_while(Result::ok) {
                let _ = rest_tx.send(line);
            }
        });
        let line = match first.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) => line,
            _ => {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("fake-verify printed no line; stderr:\n{err}");
            }
        };
        let env = line
            .split_whitespace()
            .filter_map(|word| word.split_once('='))
            .filter(|(k, _)| {
                ["TWILIO_", "TELNYX_", "MESSAGEBIRD_", "BRIDGEKEEPER_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            child,
            line,
            env,
            rest,
        }
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in {:?}", self.line))
    }

    fn port(&self) -> u16 {
        let base = url::Url::parse(self.var("TWILIO_VERIFY_BASE_URL")).unwrap();
        base.port().expect("a port in the base URL")
    }

    fn url(&self, leaf: &str) -> String {
        format!(
            "{}/v2/Services/{}/{leaf}",
            self.var("TWILIO_VERIFY_BASE_URL"),
            self.var("TWILIO_VERIFY_SERVICE_SID")
        )
    }

    async fn post(&self, leaf: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.post_as(self.var("TWILIO_AUTH_TOKEN"), leaf, form)
            .await
    }

    async fn post_as(
        &self,
        token: &str,
        leaf: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(self.url(leaf))
            .basic_auth(self.var("TWILIO_ACCOUNT_SID"), Some(token))
            .form(form)
            .send()
            .await
            .expect("the fake answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    /// Sends SIGTERM; returns the exit code and everything it printed after the first line,
    /// on standard output and standard error.
    fn terminate(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("fake-verify did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut out);
        while let Ok(line) = self.rest.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&line);
            out.push('\n');
        }
        (status.code(), out)
    }
}

impl Drop for FakeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn it_prints_its_environment_waits_its_latency_approves_its_code_and_stops_on_sigterm() {
    let fake = FakeProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--latency",
        "200ms",
        "--code",
        "123456",
    ]);
    let base = fake.var("TWILIO_VERIFY_BASE_URL").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{}", fake.line);
    assert_ne!(fake.port(), 0);
    assert!(fake.line.contains(&base), "{}", fake.line);
    assert!(fake.var("TWILIO_ACCOUNT_SID").starts_with("AC"));
    assert!(!fake.var("TWILIO_AUTH_TOKEN").is_empty());
    assert!(fake.var("TWILIO_VERIFY_SERVICE_SID").starts_with("VA"));

    let started = Instant::now();
    let (status, body) = fake
        .post("Verifications", &[("To", NUMBER), ("Channel", "sms")])
        .await;
    let took = started.elapsed();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending");
    assert!(took >= Duration::from_millis(150), "answered in {took:?}");

    let (status, body) = fake
        .post("VerificationCheck", &[("To", NUMBER), ("Code", "123456")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["valid"], true);

    let (code, stderr) = fake.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limits_hold_by_default_and_go_with_no_limits() {
    for (args, sixth) in [(&[][..], 429), (&["--no-limits"][..], 201)] {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let fake = FakeProcess::start(&all);
        for n in 1..=6 {
            let (status, body) = fake
                .post("Verifications", &[("To", NUMBER), ("Channel", "sms")])
                .await;
            let expected = if n == 6 { sixth } else { 201 };
            assert_eq!(status, expected, "send {n} with {args:?}: {body}");
            if status == 429 {
                assert_eq!(body["code"], 60203);
            }
        }
        let (code, _) = fake.terminate();
        assert_eq!(code, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn given_credentials_are_quoted_for_the_shell_and_only_they_pass() {
    let fake = FakeProcess::start(&["--listen", "127.0.0.1:0", "--auth-token", "only this"]);
    assert!(
        fake.line.contains("TWILIO_AUTH_TOKEN='only this' "),
        "{}",
        fake.line
    );
    let send = [("To", NUMBER), ("Channel", "sms")];
    let (status, body) = fake.post_as("not this", "Verifications", &send).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(20003)));
    let (status, body) = fake.post_as("only this", "Verifications", &send).await;
    assert_eq!(status, 201, "{body}");
}

#[test]
fn the_printed_environment_starts_a_server_in_twilio_mode_and_no_code_is_printed() {
    let fake = FakeProcess::start(&["--listen", "127.0.0.1:0", "--quiet"]);
    assert!(fake.line.contains("random codes"), "{}", fake.line);
    let env: Vec<(&str, &str)> = fake
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The same fake serves Verify and the Messages API: both base URLs name it.
    assert_eq!(env.len(), 5, "{}", fake.line);
    assert_eq!(
        fake.var("TWILIO_API_BASE_URL"),
        fake.var("TWILIO_VERIFY_BASE_URL")
    );
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &env,
    );
    let (status, out, err) = common::process::call(
        &server.base,
        &[
            "--from",
            "+1 (202) 555-0101",
            "--auth-token",
            fake.var("TWILIO_AUTH_TOKEN"),
            "--digits",
            "000000",
        ],
    );
    assert!(
        out.contains("We have sent a six-digit code"),
        "{status}\n{out}\n{err}\n{}",
        server.log()
    );
    let first = fake.line.clone();
    let (code, rest) = fake.terminate();
    assert_eq!(code, Some(0), "{rest}");
    // The fake drew the code itself: no run of six digits anywhere in what it printed.
    let printed = format!("{first}\n{rest}");
    let six_digits = printed
        .as_bytes()
        .windows(6)
        .any(|w| w.iter().all(u8::is_ascii_digit));
    assert!(!six_digits, "{printed}");
    let (_, log) = server.stop();
    assert!(!log.contains("DEVELOPMENT MODE"), "{log}");
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--latency", "fast"][..],
        &["--latency", "5h"][..],
        &["--code", "12345"][..],
        &["--code", "abcdef"][..],
    ] {
        let output = command()
            .arg("fake-verify")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// Plays a call from Ada against `base`: ring, then type the code the fake printed.
async fn play_with_printed_code(base: &str, fake: &FakeProcess) -> Vec<String> {
    use bridgekeeper::twiml::parse::parse;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let sid = bridgekeeper::simulator::random_call_sid();
    // With the Twilio fake, the auth token also makes the server check Twilio's signatures.
    let token = fake.env.get("TWILIO_AUTH_TOKEN").cloned();
    let post = |url: String, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("CallSid", sid.clone()),
            ("From", "+12025550101".to_owned()),
            ("To", "+12025550100".to_owned()),
        ];
        form.extend(extra);
        let client = client.clone();
        let token = token.clone();
        async move {
            let mut request = client.post(&url).form(&form);
            if let Some(token) = token {
                let owned: Vec<(String, String)> = form
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                request = request.header(
                    bridgekeeper::signature::HEADER,
                    bridgekeeper::signature::sign(&token, &url, &owned),
                );
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            parse(&response.text().await.unwrap()).unwrap()
        }
    };
    let doc = post(format!("{base}/voice"), vec![]).await;
    let line = fake
        .rest
        .recv_timeout(Duration::from_secs(30))
        .expect("the fake prints the code it delivered");
    assert!(line.contains("sent to +1202•••0101"), "{line}");
    let code = line
        .split_whitespace()
        .nth(1)
        .expect("code NNNNNN sent to …")
        .to_owned();
    let gather = common::find(&doc, "Gather").expect("asked for the code");
    let action = url::Url::parse(gather.attr("action").unwrap()).unwrap();
    let target = format!("{base}{}?{}", action.path(), action.query().unwrap());
    let joined = post(target, vec![("Digits", code)]).await;
    assert!(
        common::find(&joined, "Conference").is_some(),
        "{:?}",
        common::spoken(&joined)
    );
    common::spoken(&joined)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_fake_prints_an_environment_that_serves_a_whole_call() {
    let cases: &[(&[&str], &str)] = &[
        (&["--provider", "telnyx"], "BRIDGEKEEPER_VERIFIER"),
        (&["--provider", "telnyx", "--sender"], "BRIDGEKEEPER_SENDER"),
        (&["--provider", "messagebird"], "BRIDGEKEEPER_VERIFIER"),
        (
            &["--provider", "messagebird", "--sender"],
            "BRIDGEKEEPER_SENDER",
        ),
        (&["--provider", "twilio", "--sender"], "BRIDGEKEEPER_SENDER"),
    ];
    for (args, chooser) in cases {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let fake = FakeProcess::start(&all);
        assert!(fake.env.contains_key(*chooser), "{args:?}: {}", fake.line);
        let env: Vec<(&str, &str)> = fake
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let participants = example_participants();
        let server = tokio::task::block_in_place(|| {
            ServerProcess::start(&["--participants", participants.to_str().unwrap()], &env)
        });
        play_with_printed_code(&server.base, &fake).await;
        let (_, log) = tokio::task::block_in_place(|| server.stop());
        assert!(
            !log.contains("codes are NOT really sent"),
            "{args:?}: {log}"
        );
        if !fake.env.contains_key("TWILIO_AUTH_TOKEN") {
            // No carrier credential: the banner warns that codes are really sent.
            assert!(log.contains("really go through"), "{args:?}: {log}");
        }
        assert!(
            !log.contains("2025550101"),
            "{args:?}: a full number in the log"
        );
    }
}
