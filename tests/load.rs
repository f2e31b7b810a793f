//! `bridgekeeper load` from the outside and through its library API: whole calls against a
//! development server, errors counted by kind, signed webhooks against a Twilio-mode server
//! with a fake Verify, and a server that is not there. Everything stays on loopback.

mod common;

use bridgekeeper::config::TwilioSettings;
use bridgekeeper::load::{Caller, LoadOptions, load_callers, run_load};
use common::fake_verify::FakeVerify;
use common::process::{ServerProcess, command, contains_digit_run};
use common::{ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, TestApp, participants_file};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};
use url::Url;

const LINE: &str = "+12025550100";
const CODE: &str = "314159";

/// The `i`th caller's number: `+12025551000`, `+12025551001`, …
fn number(i: usize) -> String {
    format!("+1202555{:04}", 1000 + i)
}

/// One conference on [`LINE`] with `people` participants, the first a moderator.
fn roster(people: usize) -> String {
    let mut toml = format!("[[conference]]\nname = \"Load\"\nnumbers = [\"{LINE}\"]\n");
    for i in 0..people {
        let role = if i == 0 { "moderator" } else { "participant" };
        toml.push_str(&format!(
            "\n[[conference.participant]]\nname = \"Caller {i}\"\nphone = \"{}\"\nrole = \"{role}\"\n",
            number(i)
        ));
    }
    toml
}

/// Runs `bridgekeeper load` against `server`; returns exit code, stdout, stderr. Kills it
/// and fails the test if it runs for more than a minute.
fn load(server: &str, args: &[&str]) -> (i32, String, String) {
    let mut child = command()
        .arg("load")
        .args(["--server", server])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn load");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bridgekeeper load did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    )
}

/// The count on the error line naming `kind`, if any.
fn error_count(stdout: &str, kind: &str) -> Option<usize> {
    stdout.lines().find_map(|line| {
        let (count, name) = line.trim().split_once("  ")?;
        (name.trim() == kind).then(|| count.trim().parse().ok())?
    })
}

/// The latency row for `kind`: its count and four numbers.
fn latency_row(stdout: &str, kind: &str) -> Option<(usize, Vec<f64>)> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{kind} ")))?;
    let fields: Vec<&str> = line.trim()[kind.len()..].split_whitespace().collect();
    let count = fields.first()?.parse().ok()?;
    let numbers = fields[1..].iter().filter_map(|f| f.parse().ok()).collect();
    Some((count, numbers))
}

fn callers(people: usize) -> Vec<Caller> {
    (0..people)
        .map(|i| Caller {
            from: number(i),
            to: LINE.into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_calls_eight_at_a_time_all_join_through_the_library() {
    let app = TestApp::spawn_with(&roster(20)).await;
    let callers = load_callers(app.participants_path()).unwrap();
    assert_eq!(callers, self::callers(20));

    let report = run_load(LoadOptions::new(app.base.clone(), 40, 8, callers))
        .await
        .unwrap();

    assert_eq!(report.calls, 40);
    assert_eq!(report.joined, 40, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    assert!(report.all_joined());
    assert_eq!(report.exit_status(), 0);
    assert_eq!(report.in_flight, 8);
    assert_eq!(report.incoming.count, 40);
    assert_eq!(report.code.count, 40, "one code webhook per call");
    assert_eq!(report.other.count, 0);
    assert_eq!(report.call.count, 40);
    for l in [report.incoming, report.code, report.call] {
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, "{l:?}");
        assert!(l.max > Duration::ZERO);
    }
    assert!(report.call.p50 >= report.incoming.p50);
    assert!(report.calls_per_second() > 0.0);
    // Each of the 20 numbers called twice: two codes each in the outbox.
    for i in 0..20 {
        assert_eq!(app.outbox_to(&number(i)).await.len(), 2, "{}", number(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_plays_forty_calls_and_prints_the_table() {
    let file = participants_file(&roster(20));
    let path = file.path().to_str().unwrap().to_owned();
    let server = ServerProcess::start_with_participants(file.path(), &[], &[]);
    let base = server.base.clone();

    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        load(
            &base,
            &[
                "--calls",
                "40",
                "--concurrency",
                "8",
                "--participants",
                &path,
            ],
        )
    })
    .await
    .unwrap();

    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("calls        40\n"), "{stdout}");
    assert!(stdout.contains("concurrency  8\n"), "{stdout}");
    assert!(stdout.contains("joined       40 of 40\n"), "{stdout}");
    assert!(stdout.contains("calls/s"), "{stdout}");
    assert!(stdout.contains("total time"), "{stdout}");
    assert!(stdout.contains("errors       0\n"), "{stdout}");
    assert!(stdout.contains("p50") && stdout.contains("p99"), "{stdout}");
    for kind in ["incoming", "code", "whole call"] {
        let (count, numbers) =
            latency_row(&stdout, kind).unwrap_or_else(|| panic!("no {kind} row:\n{stdout}"));
        assert_eq!(count, 40, "{stdout}");
        assert_eq!(numbers.len(), 4, "{stdout}");
        assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{stdout}");
    }
    assert!(stderr.is_empty(), "no progress bar, no note: {stderr}");

    // No code and no full number in what the tool printed.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let outbox: Vec<bridgekeeper::verify::OutboxMessage> = client
        .get(format!("{}/dev/outbox", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outbox.len(), 40);
    let printed = format!("{stdout}{stderr}");
    for message in &outbox {
        assert!(
            !contains_digit_run(&printed, &message.code),
            "a code leaked:\n{printed}"
        );
        assert!(!printed.contains(&message.to[2..]), "a number leaked");
    }
    let (status, _) = server.stop();
    assert_eq!(status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_the_server_does_not_know_are_counted_as_rejected() {
    let server_file = participants_file(&roster(8));
    // The load's list has the same eight and two strangers: 20 calls, two from each.
    let load_file = participants_file(&roster(10));
    let load_path = load_file.path().to_str().unwrap().to_owned();
    let server = ServerProcess::start_with_participants(server_file.path(), &[], &[]);
    let base = server.base.clone();

    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        load(
            &base,
            &[
                "--calls",
                "20",
                "--concurrency",
                "4",
                "--participants",
                &load_path,
            ],
        )
    })
    .await
    .unwrap();

    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("joined       16 of 20\n"), "{stdout}");
    assert!(
        stdout.contains("errors       4 (calls that did not join)"),
        "{stdout}"
    );
    assert_eq!(
        error_count(&stdout, "not joined: rejected"),
        Some(4),
        "{stdout}"
    );
    assert_eq!(latency_row(&stdout, "incoming").map(|r| r.0), Some(20));
    assert_eq!(latency_row(&stdout, "code").map(|r| r.0), Some(16));
    assert_eq!(latency_row(&stdout, "whole call").map(|r| r.0), Some(16));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_is_counted_as_the_call_ending_without_joining() {
    let app = TestApp::spawn_with(&roster(4)).await;
    let mut options = LoadOptions::new(app.base.clone(), 4, 4, callers(4));
    // Five digits can never be a six-digit code.
    options.code = Some("12345".into());

    let report = run_load(options).await.unwrap();

    assert_eq!(report.joined, 0, "{report}");
    assert!(!report.all_joined());
    assert_eq!(report.exit_status(), 1);
    let kind = "not joined: ended: That code is not right, and that was the last try. Goodbye.";
    assert_eq!(report.errors.get(kind), Some(&4), "{report}");
    assert_eq!(report.failed(), 4);
    assert_eq!(report.code.count, 12, "three tries per call: {report}");
    assert_eq!(report.call.count, 0);
    let text = report.to_string();
    assert!(text.contains(&format!("       4  {kind}\n")), "{text}");
    assert!(!text.contains("12345"), "the code was printed:\n{text}");
}

/// An in-process Twilio-mode server with `people` callers against `fake`.
async fn twilio_app(people: usize, fake: &FakeVerify) -> TestApp {
    let base = fake.base.clone();
    TestApp::spawn_configured(&roster(people), move |settings| {
        settings.use_twilio(TwilioSettings {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.to_owned().into(),
            verify_service_sid: SERVICE_SID.into(),
            verify_base_url: base,
        });
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_calls_join_a_twilio_mode_server_with_a_fixed_code() {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fix_code(CODE);
    let app = twilio_app(8, &fake).await;
    let base = app.base.to_string();
    let path = app.participants_path().to_str().unwrap().to_owned();

    let (signed, unsigned) = tokio::task::spawn_blocking(move || {
        let signed = load(
            &base,
            &[
                "--calls",
                "16",
                "--concurrency",
                "4",
                "--participants",
                &path,
                "--auth-token",
                AUTH_TOKEN,
                "--code",
                CODE,
            ],
        );
        let unsigned = load(
            &base,
            &[
                "--calls",
                "3",
                "--concurrency",
                "3",
                "--participants",
                &path,
                "--code",
                CODE,
            ],
        );
        (signed, unsigned)
    })
    .await
    .unwrap();

    let (code, stdout, stderr) = signed;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("joined       16 of 16\n"), "{stdout}");
    assert!(stdout.contains("errors       0\n"), "{stdout}");
    for i in 0..8 {
        assert_eq!(fake.sent_codes(&number(i)), [CODE, CODE], "{}", number(i));
    }
    let printed = format!("{stdout}{stderr}");
    assert!(!contains_digit_run(&printed, CODE), "the code leaked");
    assert!(!printed.contains(AUTH_TOKEN), "the token leaked");

    // Unsigned webhooks are refused before any code is sent.
    let (code, stdout, stderr) = unsigned;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(error_count(&stdout, "http 403"), Some(3), "{stdout}");
    assert_eq!(latency_row(&stdout, "incoming").map(|r| r.0), Some(0));
    assert_eq!(fake.requests().len(), 32, "16 sends and 16 checks, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_is_counted_as_connect_errors() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let file = participants_file(&roster(4));
    let path = file.path().to_str().unwrap().to_owned();

    let started = Instant::now();
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            load(
                &base,
                &[
                    "--calls",
                    "10",
                    "--concurrency",
                    "4",
                    "--participants",
                    &path,
                ],
            )
        }
    })
    .await
    .unwrap();

    assert!(started.elapsed() < Duration::from_secs(30), "it hung");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("joined       0 of 10\n"), "{stdout}");
    assert_eq!(error_count(&stdout, "connect"), Some(10), "{stdout}");

    // The library says the same.
    let report = run_load(LoadOptions::new(
        Url::parse(&base).unwrap(),
        3,
        2,
        callers(2),
    ))
    .await
    .unwrap();
    assert_eq!(report.errors.get("connect"), Some(&3), "{report}");
    assert_eq!(report.incoming.count, 0);
}

#[test]
fn help_documents_the_exit_status() {
    let output = command().args(["load", "--help"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout.contains("Exit status: 0 every call joined; 1 some call did not join"),
        "{stdout}"
    );
    for flag in [
        "--server",
        "--calls",
        "--concurrency",
        "--participants",
        "--auth-token",
        "--code",
    ] {
        assert!(stdout.contains(flag), "{flag} missing:\n{stdout}");
    }
}

#[test]
fn an_unreadable_participants_file_exits_one() {
    let output = command()
        .args([
            "load",
            "--server",
            "http://127.0.0.1:9",
            "--calls",
            "1",
            "--concurrency",
            "1",
            "--participants",
            "/nonexistent/participants.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bridgekeeper load:"));
}
