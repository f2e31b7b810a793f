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
            .filter(|(k, _)| k.starts_with("TWILIO_"))
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
