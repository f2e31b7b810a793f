//! The real binary as a child process: for the command line, exit statuses and logs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The built binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_bridgekeeper")
}

/// The repository's example participants file.
pub fn example_participants() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("participants.toml")
}

/// A command for the binary with no Twilio variables and no colours.
pub fn command() -> Command {
    command_for(binary())
}

/// The binary run through `sh` with at most `nofile` open files (`ulimit -n`), as a server
/// short of file descriptors; `exec` keeps the process id the binary's.
pub fn command_with_fd_limit(nofile: u32) -> Command {
    let mut cmd = command_for("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
        binary(),
    ]);
    cmd
}

/// A command for `program` with no provider variables and no colours.
fn command_for(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_VERIFY_SERVICE_SID",
        "TWILIO_VERIFY_BASE_URL",
        "TWILIO_API_BASE_URL",
        "TWILIO_FROM_NUMBER",
        "TELNYX_API_KEY",
        "TELNYX_VERIFY_PROFILE_ID",
        "TELNYX_API_BASE_URL",
        "TELNYX_FROM_NUMBER",
        "MESSAGEBIRD_ACCESS_KEY",
        "MESSAGEBIRD_ORIGINATOR",
        "MESSAGEBIRD_BASE_URL",
        "BRIDGEKEEPER_VERIFIER",
        "SIGNALWIRE_PROJECT_ID",
        "SIGNALWIRE_API_TOKEN",
        "SIGNALWIRE_SPACE_URL",
        "TELNYX_ACCOUNT_SID",
        "BRIDGEKEEPER_SENDER",
        "BRIDGEKEEPER_SMS_TEMPLATE",
        "BRIDGEKEEPER_LISTEN",
        "BRIDGEKEEPER_PARTICIPANTS",
        "BRIDGEKEEPER_PUBLIC_URL",
        "BRIDGEKEEPER_SERVER",
        "RUST_LOG",
        "BRIDGEKEEPER_SECRET",
    ] {
        cmd.env_remove(var);
    }
    // Servers started by one test binary share a generated secret, outside the repository.
    cmd.env(
        "BRIDGEKEEPER_SECRET_FILE",
        std::env::temp_dir().join(format!("bridgekeeper-test-secret-{}", std::process::id())),
    );
    // Each server keeps its in-memory store (across its own restarts) in a file of its own,
    // outside the repository: tests never see another test's counters.
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cmd.env(
        "BRIDGEKEEPER_STATE_FILE",
        std::env::temp_dir().join(format!(
            "bridgekeeper-test-state-{}-{n}",
            std::process::id()
        )),
    );
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A `bridgekeeper serve` child on a random port, its standard error collected.
pub struct ServerProcess {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `serve` on a random port with these extra arguments and environment, and waits
    /// until it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", args, env)
    }

    /// Starts `serve` on `listen` (to restart one on the same port), and waits until it listens.
    pub fn start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_command(command(), listen, args, env)
    }

    /// Starts `serve` with at most `nofile` open files, on a random port.
    pub fn start_with_fd_limit(nofile: u32, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_command(command_with_fd_limit(nofile), "127.0.0.1:0", args, env)
    }

    fn start_command(mut cmd: Command, listen: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        cmd.arg("serve").args(["--listen", listen]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr: String = rest.split(';').next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let exited = child.try_wait();
                let _ = child.kill();
                panic!(
                    "server did not start ({exited:?}):\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Self { child, base, log }
    }

    /// Starts `serve` on this participants file with these extra arguments and environment.
    pub fn start_with_participants(
        participants: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let file = participants.to_str().expect("a UTF-8 path");
        let mut all = vec!["--participants", file];
        all.extend_from_slice(args);
        Self::start(&all, env)
    }

    /// Sends the signal `name` (as `kill` spells it: "HUP", "TERM") to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and the full log.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Give the reader thread a moment to drain the pipe.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bridgekeeper call` against a server; returns exit code, stdout, stderr.
pub fn call(base: &str, args: &[&str]) -> (i32, String, String) {
    let output = command()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("call")
        .args(["--server", base])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run call");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Drops the leading timestamp, whose fraction of a second could look like a code.
pub fn without_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.starts_with("20") && first.contains('T') => rest,
        _ => line,
    }
}

/// Whether `needle` appears in `haystack` with no digit right before or after it.
pub fn contains_digit_run(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
