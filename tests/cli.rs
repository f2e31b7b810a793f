//! The binary from the outside: `check` on good and bad files, `serve` refusing a bad file,
//! and `call` playing whole calls against a real `serve` process.

mod common;

use common::process::{ServerProcess, call, command, example_participants};
use std::path::Path;

fn fixtures() -> Vec<(std::path::PathBuf, usize)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/participants");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let line: usize = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# Refused on line "))
            .and_then(|l| l.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{} names its line", path.display()));
        out.push((path, line));
    }
    out.sort();
    out
}

#[test]
fn check_accepts_the_example_and_prints_masked_numbers() {
    let output = command()
        .arg("check")
        .arg(example_participants())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(stdout.contains("Weekly sync"), "{stdout}");
    assert!(stdout.contains("+1202•••0101"), "{stdout}");
    assert!(!stdout.contains("2025550101"), "full number in:\n{stdout}");
}

#[test]
fn check_refuses_every_bad_file_naming_the_file_and_line() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10);
    for (path, line) in fixtures {
        let output = command().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            path.display()
        );
        let prefix = format!("{}:{line}: ", path.display());
        assert!(
            stderr.starts_with(&prefix),
            "want {prefix:?}, got {stderr:?}"
        );
        assert!(!stderr.contains("2025550"), "full number in: {stderr}");
    }
}

#[test]
fn check_names_a_missing_file() {
    let output = command()
        .arg("check")
        .arg("no/such/file.toml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with("no/such/file.toml: cannot read"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_to_start_on_a_bad_file() {
    let bad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/participants/unknown_role.toml");
    let output = command()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--participants"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown_role.toml:8:"), "{stderr}");
}

#[test]
fn serve_reads_its_flags_from_the_environment() {
    let server = ServerProcess::start(
        &[],
        &[(
            "BRIDGEKEEPER_PARTICIPANTS",
            example_participants().to_str().unwrap(),
        )],
    );
    let (code, stdout, _) = call(&server.base, &["--from", "+12025550151", "--auto-code"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("joined Board meeting as moderator"),
        "{stdout}"
    );
}

#[test]
fn serve_refuses_a_partial_twilio_set_naming_what_is_missing() {
    let output = command()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--participants"])
        .arg(example_participants())
        // The auth token alone is a complete carrier credential (it signs Twilio's
        // webhooks); with the Verify service but no account, Twilio Verify is partial.
        .env("TWILIO_AUTH_TOKEN", "secret-token-value")
        .env(
            "TWILIO_VERIFY_SERVICE_SID",
            "VA0123456789abcdef0123456789abcdef",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TWILIO_ACCOUNT_SID missing"), "{stderr}");
    assert!(!stderr.contains("secret-token-value"), "{stderr}");
}

#[test]
fn the_first_moderator_joins_with_auto_code() {
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[],
    );

    // As in the README: the first moderator of the example file, no --to.
    let (code, stdout, stderr) = call(
        &server.base,
        &["--from", "+1 (202) 555-0101", "--auto-code"],
    );

    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("says: Welcome to Weekly sync"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("joined Weekly sync as moderator"),
        "{stdout}"
    );
}

#[test]
fn call_exit_statuses_tell_the_outcomes_apart() {
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[],
    );

    let (code, stdout, _) = call(
        &server.base,
        &["--from", "+12025550102", "--digits", "code"],
    );
    assert_eq!(
        (code, stdout.lines().last()),
        (0, Some("joined Weekly sync as participant"))
    );

    let (code, stdout, _) = call(
        &server.base,
        &["--from", "+12025550199", "--to", "+12025550100"],
    );
    assert_eq!(
        (code, stdout.lines().last()),
        (3, Some("rejected")),
        "{stdout}"
    );

    let (code, stdout, _) = call(&server.base, &["--from", "+12025550103", "--digits", ",,"]);
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("ended: "),
        "{stdout}"
    );

    // Digits run out and no --auto-code: the caller hangs up.
    let (code, stdout, _) = call(&server.base, &["--from", "+12025550153", "--digits", "*"]);
    assert_eq!(code, 4, "{stdout}");
    assert_eq!(stdout.lines().last(), Some("ended: caller hung up"));

    // Stdin closed with no --digits: the terminal gives EOF, the caller hangs up.
    let (code, stdout, _) = call(&server.base, &["--from", "+12025550151"]);
    assert_eq!(code, 4, "{stdout}");
}

#[test]
fn call_fails_with_status_1_when_the_server_is_down() {
    // Bind and drop a port so that nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, stderr) = call(
        &format!("http://127.0.0.1:{port}"),
        &[
            "--from",
            "+12025550101",
            "--to",
            "+12025550100",
            "--auto-code",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("failed"), "{stderr}");
}

#[test]
fn call_help_documents_the_exit_statuses() {
    let output = command().args(["call", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--from",
        "--to",
        "--server",
        "--digits",
        "--auto-code",
        "--auth-token",
        "Exit status",
        "0 joined",
        "3 rejected",
        "4 ended",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn serve_help_names_the_variables_that_choose_carriers_and_verifier() {
    let output = command().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "TWILIO_AUTH_TOKEN",
        "SIGNALWIRE_SIGNING_KEY",
        "TELNYX_PUBLIC_KEY",
        "BRIDGEKEEPER_CARRIERX_KEY",
        "BRIDGEKEEPER_VERIFIER",
        "TWILIO_VERIFY_SERVICE_SID",
        "BRIDGEKEEPER_ADMIN_TOKEN",
    ] {
        assert!(
            help.contains(name),
            "{name} missing from serve --help:\n{help}"
        );
    }
}

#[test]
fn refused_calls_are_logged_with_the_masked_caller_and_the_banner_names_the_verify_url() {
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "a-token-for-the-banner-test"),
            (
                "TWILIO_VERIFY_SERVICE_SID",
                "VA0123456789abcdef0123456789abcdef",
            ),
            ("TWILIO_VERIFY_BASE_URL", "http://127.0.0.1:9/"),
        ],
    );
    let (code, _, _) = call(
        &server.base,
        &[
            "--from",
            "+12025550199",
            "--to",
            "+12025550100",
            "--auth-token",
            "a-token-for-the-banner-test",
        ],
    );
    assert_eq!(code, 3);
    let (_, log) = server.stop();
    assert!(
        log.contains("server.verifier") && log.contains("http://127.0.0.1:9/"),
        "{log}"
    );
    let refused = log
        .lines()
        .find(|l| l.contains("call.rejected"))
        .expect("a refusal line");
    assert!(refused.contains("+1202•••0199"), "{refused}");
    assert!(!log.contains("2025550199"), "a full number in the log");
}

/// A file where Grace gets her code in a voice call on her mobile.
const VOICE: &str = r#"[[conference]]
name = "Weekly sync"

[[conference.participant]]
name = "Ada Lovelace"
phone = "+1 202 555 0101"
role = "moderator"

[[conference.participant]]
name = "Grace Hopper"
phone = "+1 202 555 0107"
code_to = "+1 202 555 0199"
channel = "voice"
"#;

fn voice_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("participants.toml");
    std::fs::write(&path, VOICE).unwrap();
    (dir, path)
}

/// The built-in engine through Twilio's Messages API (SMS only), on an address nobody serves.
const BUILTIN_TWILIO: [(&str, &str); 5] = [
    ("BRIDGEKEEPER_SENDER", "twilio"),
    ("TWILIO_ACCOUNT_SID", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("TWILIO_AUTH_TOKEN", "not-a-real-token"),
    ("TWILIO_FROM_NUMBER", "+15550100000"),
    ("TWILIO_API_BASE_URL", "http://127.0.0.1:9"),
];

#[test]
fn check_refuses_a_channel_the_configured_verifier_cannot_deliver_naming_file_and_line() {
    let (_dir, path) = voice_file();
    let output = command()
        .arg("check")
        .arg(&path)
        .envs(BUILTIN_TWILIO)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let prefix = format!("{}:13: ", path.display());
    assert!(
        stderr.starts_with(&prefix),
        "want {prefix:?}, got {stderr:?}"
    );
    assert!(stderr.contains("Grace Hopper"), "{stderr}");
    assert!(stderr.contains("\"voice\""), "{stderr}");
    assert!(stderr.contains("builtin"), "{stderr}");
    assert!(!stderr.contains("2025550"), "full number in: {stderr}");

    // The same file is fine where a voice call can carry the code, and says where it goes.
    let output = command().arg("check").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("verifier: dev"), "{stdout}");
    assert!(stdout.contains("code by voice to +1202•••0199"), "{stdout}");
    assert!(!stdout.contains("2025550199"), "full number in: {stdout}");
}

#[test]
fn serve_refuses_at_start_up_a_channel_the_verifier_cannot_deliver() {
    let (_dir, path) = voice_file();
    let output = command()
        .args(["serve", "--listen", "127.0.0.1:0", "--participants"])
        .arg(&path)
        .envs(BUILTIN_TWILIO)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:13: ", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("cannot deliver"), "{stderr}");
}

#[test]
fn check_refuses_an_incomplete_verifier_configuration_by_name() {
    let output = command()
        .arg("check")
        .arg(example_participants())
        .env("BRIDGEKEEPER_VERIFIER", "telnyx")
        .env("TELNYX_API_KEY", "KEY-not-real")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TELNYX_VERIFY_PROFILE_ID"), "{stderr}");
    assert!(!stderr.contains("KEY-not-real"), "{stderr}");
}
