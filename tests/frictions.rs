//! The smaller frictions a new user met (issue 10, point 10), each from the outside: the
//! outbox's `?to=+…`, `call` on a broken participants file, `fake-verify` printing its
//! codes, start-up errors printed once, the README's words for a third `*`, and `load`'s
//! note about the allowance it spends.

mod common;

use common::process::{command, example_participants};
use common::{ADA, GRACE, PARTICIPANTS, TestApp, WEEKLY_LINE, participants_file, sid};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A participants file whose line 6 holds a phone number that is not one.
const BROKEN: &str = "[[conference]]\nname = \"Weekly sync\"\nnumbers = [\"+12025550100\"]\n\n\
                      [[conference.participant]]\nphone = \"nope\"\nname = \"Ada\"\n";

/// What `Directory::load` says about [`BROKEN`], after the file's path.
const BROKEN_SAYS: &str = ":6: `phone` is not a usable phone number";

/// A loopback address nothing listens on (bound, then released).
fn closed_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn the_outbox_reads_a_plus_written_bare_or_as_percent_2b() {
    let app = TestApp::spawn().await;
    app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    for query in [
        "?to=+12025550101",
        "?to=%2B12025550101",
        "?to=+1+202+555+0101",
    ] {
        let response = app
            .client
            .get(app.url(&format!("/dev/outbox{query}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        let messages: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(messages.len(), 1, "{query}: {body}");
        assert_eq!(messages[0]["to"], ADA, "{query}");
    }
    let response = app
        .client
        .get(app.url("/dev/outbox?to=+1nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("%2B"),
        "the 400 says how to write a +: {body}"
    );
}

#[test]
fn call_on_a_broken_participants_file_says_what_is_wrong_with_it() {
    let file = participants_file(BROKEN);
    let output = command()
        .arg("call")
        .args(["--server", &closed_server()])
        .args(["--participants", file.path().to_str().unwrap()])
        .args(["--from", ADA, "--digits", "000000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!("{}{BROKEN_SAYS}", file.path().display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("--to"), "it still suggests --to: {stderr}");
    assert!(!stderr.contains("no line found"), "{stderr}");
}

/// A `bridgekeeper fake-verify` child: its first line, and the lines after it.
struct Fake {
    child: Child,
    first: String,
    rest: Receiver<String>,
}

impl Fake {
    fn start(args: &[&str]) -> Self {
        let mut child = command()
            .arg("fake-verify")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fake-verify");
        let stdout = child.stdout.take().unwrap();
        let (tx, rest) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rest
            .recv_timeout(Duration::from_secs(60))
            .expect("fake-verify printed its line");
        Self { child, first, rest }
    }

    fn var(&self, name: &str) -> String {
        self.first
            .split_whitespace()
            .find_map(|word| word.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {}", self.first))
            .to_owned()
    }

    async fn post(&self, leaf: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let url = format!(
            "{}/v2/Services/{}/{leaf}",
            self.var("TWILIO_VERIFY_BASE_URL"),
            self.var("TWILIO_VERIFY_SERVICE_SID")
        );
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(url)
            .basic_auth(
                self.var("TWILIO_ACCOUNT_SID"),
                Some(self.var("TWILIO_AUTH_TOKEN")),
            )
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{leaf}");
        response.json().await.unwrap()
    }

    /// Sends SIGTERM, waits for the exit, and returns the lines printed after the first.
    fn stop(mut self) -> Vec<String> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "fake-verify did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut lines = Vec::new();
        while let Ok(line) = self.rest.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_verify_prints_each_code_it_sends_and_the_code_is_the_real_one() {
    let fake = Fake::start(&[]);
    fake.post("Verifications", &[("To", ADA), ("Channel", "sms")])
        .await;
    let line = fake
        .rest
        .recv_timeout(Duration::from_secs(30))
        .expect("a line for the code");
    assert!(line.contains("+1202•••0101"), "the number masked: {line}");
    assert!(!line.contains(&ADA[1..]), "never the full number: {line}");
    let code = line
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_else(|| panic!("no six-digit code in {line:?}"))
        .to_owned();
    let checked = fake
        .post("VerificationCheck", &[("To", ADA), ("Code", &code)])
        .await;
    assert_eq!(checked["status"], "approved", "{checked}");
    // Each send is one more line.
    fake.post("Verifications", &[("To", GRACE), ("Channel", "sms")])
        .await;
    let rest = fake.stop();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].contains("+1202•••0102"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_verify_quiet_prints_no_code() {
    let fake = Fake::start(&["--quiet", "--code", "123456"]);
    fake.post("Verifications", &[("To", ADA), ("Channel", "sms")])
        .await;
    let rest = fake.stop();
    assert!(rest.is_empty(), "{rest:?}");
}

/// Runs `serve` on `participants` with these extra arguments until it exits (it should not
/// start); returns the exit code and standard error.
fn serve_fails(participants: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = command()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--participants"])
        .arg(participants)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started on a broken participants file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_start_up_error_is_printed_once() {
    let file = participants_file(BROKEN);
    let (code, stderr) = serve_fails(file.path(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.matches(BROKEN_SAYS).count(), 1, "{stderr}");

    // A missing file: its cause once, not once per layer of the error.
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve_fails(&dir.path().join("missing.toml"), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");

    // With JSON logs, the log shipper gets one event and people one line.
    let (code, stderr) = serve_fails(file.path(), &["--log-format", "json"]);
    assert_eq!(code, Some(1), "{stderr}");
    let events: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("server.failed"))
        .collect();
    assert_eq!(events.len(), 1, "{stderr}");
    let plain = stderr
        .lines()
        .filter(|l| l.starts_with("bridgekeeper: "))
        .count();
    assert_eq!(plain, 1, "{stderr}");
}

#[tokio::test]
async fn the_readme_has_the_words_of_a_third_star() {
    let app = TestApp::spawn_with(PARTICIPANTS).await;
    let (mut sim, transcript) = app.simulator(ADA, WEEKLY_LINE, &["*", "*", "*"]);
    let _ = sim.play().await;
    let lines = transcript.lines();
    let third = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "keys: *")
        .nth(2)
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("three stars: {lines:?}"));
    let heard = lines[third + 1]
        .trim()
        .strip_prefix("says: ")
        .unwrap_or_else(|| panic!("words after the third star: {lines:?}"));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    assert!(readme.contains(heard), "README lacks {heard:?}");
    assert!(
        !readme.contains("to its log"),
        "codes never go to the log in development mode"
    );
}

#[test]
fn load_on_the_example_file_warns_that_its_numbers_spend_their_allowance() {
    // A copy of the example, by its name, in a temporary directory (nothing written to the
    // source tree), loaded against an address nothing listens on.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("participants.toml");
    std::fs::copy(example_participants(), &copy).unwrap();
    let output = command()
        .arg("load")
        .args([
            "--server",
            &closed_server(),
            "--calls",
            "1",
            "--concurrency",
            "1",
        ])
        .arg("--participants")
        .arg(&copy)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-codes-per-number"), "{stderr}");
    assert!(stderr.contains("restarts"), "{stderr}");
    assert!(stderr.contains("separate file"), "{stderr}");

    // A file set aside for load gets no such note.
    let other = dir.path().join("load.toml");
    std::fs::copy(example_participants(), &other).unwrap();
    let output = command()
        .arg("load")
        .args([
            "--server",
            &closed_server(),
            "--calls",
            "1",
            "--concurrency",
            "1",
        ])
        .arg("--participants")
        .arg(&other)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("--max-codes-per-number"), "{stderr}");
}
