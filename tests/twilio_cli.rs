//! Twilio mode from the outside: the real server process against a fake Verify, played by the
//! simulator with --auth-token; and scripts/ngrok.sh against a fake ngrok.

mod common;

use common::fake_verify::FakeVerify;
use common::process::{
    ServerProcess, binary, call, contains_digit_run, example_participants, without_timestamp,
};
use common::{ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CODE: &str = "271828";

fn twilio_server(fake: &FakeVerify) -> ServerProcess {
    ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID),
            ("TWILIO_VERIFY_BASE_URL", fake.base.as_str()),
            ("RUST_LOG", "trace"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_plays_a_whole_twilio_call_with_an_auth_token() {
    let fake = FakeVerify::start(ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID).await;
    fake.fix_code(CODE);
    let server = twilio_server(&fake);
    let base = server.base.clone();

    let (signed, unsigned) = tokio::task::spawn_blocking(move || {
        let signed = call(
            &base,
            &[
                "--from",
                "+1 (202) 555-0101",
                "--auth-token",
                AUTH_TOKEN,
                "--digits",
                &format!("000000,{CODE}"),
            ],
        );
        let unsigned = call(&base, &["--from", "+12025550102", "--digits", CODE]);
        (signed, unsigned)
    })
    .await
    .unwrap();

    let (code, stdout, stderr) = signed;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("not right"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("joined Weekly sync as moderator")
    );
    assert_eq!(fake.sent_codes("+12025550101"), [CODE]);

    // Without the token the server refuses the webhook: the simulator reports the 403.
    let (code, _, stderr) = unsigned;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(fake.sent_codes("+12025550102").is_empty());

    let (status, log) = server.stop();
    assert_eq!(status, Some(0));
    assert!(
        log.contains("webhook.forbidden"),
        "one warning for the forged call"
    );
    assert!(
        !log.contains(AUTH_TOKEN),
        "the auth token leaked into the log"
    );
    assert!(
        !log.contains("2025550101"),
        "a full number leaked into the log"
    );
    for line in log.lines().map(without_timestamp) {
        assert!(!contains_digit_run(line, CODE), "the code leaked: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ngrok_script_starts_the_server_on_the_tunnels_https_url() {
    if Command::new("python3").arg("--version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        panic!("this test needs python3 (for the fake ngrok API) and curl (used by the script)");
    }
    // A fake `ngrok` on PATH: it serves ngrok's local API with one https tunnel.
    let dir = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let server_port = free_port();
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    std::fs::write(
        dir.path().join("api/tunnels"),
        r#"{"tunnels":[{"name":"command_line","public_url":"https://abc123.ngrok-free.app","proto":"https","config":{"addr":"http://localhost:5000"}}],"uri":"/api/tunnels"}"#,
    )
    .unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake_ngrok = bin.join("ngrok");
    std::fs::write(
        &fake_ngrok,
        format!(
            "#!/bin/sh\ncd '{}' && exec python3 -m http.server {api_port} --bind 127.0.0.1\n",
            dir.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_ngrok, std::fs::Permissions::from_mode(0o755)).unwrap();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ngrok.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut script_run = Command::new("bash")
        .arg(&script)
        .args(["--participants", example_participants().to_str().unwrap()])
        .env("PATH", path)
        .env("PORT", server_port.to_string())
        .env("NGROK_API_URL", format!("http://127.0.0.1:{api_port}"))
        .env("BRIDGEKEEPER_BIN", binary())
        .env("NO_COLOR", "1")
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("TWILIO_VERIFY_SERVICE_SID")
        .env_remove("BRIDGEKEEPER_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let stdout = script_run.stdout.take().unwrap();
    let stderr = script_run.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut told_webhook = false;
    let mut server_uses_tunnel = false;
    while Instant::now() < deadline && !(told_webhook && server_uses_tunnel) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                told_webhook |= line.trim() == "https://abc123.ngrok-free.app/voice";
                server_uses_tunnel |= line.contains("listening on")
                    && line.contains("https://abc123.ngrok-free.app/voice");
                seen.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    // The server answers on the local port while the tunnel URL is its public URL.
    let health = reqwest::get(format!("http://127.0.0.1:{server_port}/healthz")).await;
    let _ = Command::new("kill")
        .args(["-TERM", &script_run.id().to_string()])
        .status();
    let exited = script_run.wait().unwrap();

    let transcript = seen.join("\n");
    assert!(
        told_webhook,
        "the script names the webhook URL:\n{transcript}"
    );
    assert!(
        server_uses_tunnel,
        "the server's public URL is the tunnel's:\n{transcript}"
    );
    assert_eq!(health.map(|r| r.status().as_u16()).ok(), Some(200));
    assert!(!exited.success() || exited.code().is_some());
    // The trap cleaned up: nothing listens on the server port any more.
    std::thread::sleep(Duration::from_millis(300));
    assert!(std::net::TcpStream::connect(("127.0.0.1", server_port)).is_err());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
