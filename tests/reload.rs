//! Editing the participants file while the server runs: a good edit is served without a
//! restart (picked up by the file watch, or forced by SIGHUP), a bad edit is refused and the
//! previous list keeps serving, and calls in progress follow the new list.

mod common;

use bridgekeeper::twiml::parse::{Element, parse};
use common::process::ServerProcess;
use common::*;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a reload may take to show before a test gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// The standard participants plus the stranger, in the Weekly sync.
fn with_stranger(toml: &str) -> String {
    let anchor = "[[conference]]\nname = \"Board\"";
    assert!(toml.contains(anchor));
    toml.replacen(
        anchor,
        &format!(
            "[[conference.participant]]\nname = \"Stranger Danger\"\nphone = \"{STRANGER}\"\n\n{anchor}"
        ),
        1,
    )
}

/// Saves `contents` over `path` the way an editor does: a new file in the same directory,
/// renamed over the old one.
fn save_like_an_editor(path: &Path, contents: &str) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let temp = path.with_file_name(format!(".{name}.{}.swp", sid()));
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Polls `check` with short sleeps until it holds; fails after `PATIENCE`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {PATIENCE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a call from `from` to the Weekly sync line is let through to the code prompt.
async fn let_in(app: &TestApp, from: &str) -> bool {
    let doc = app.incoming(&sid(), from, WEEKLY_LINE).await;
    match verbs(&doc).as_slice() {
        ["Gather", "Redirect"] => true,
        ["Say", "Reject"] => false,
        other => panic!("neither a prompt nor a rejection: {other:?}"),
    }
}

/// A server process on its own participants file, in a directory of its own.
struct Served {
    server: ServerProcess,
    file: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(toml: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("participants.toml");
        std::fs::write(&file, toml).unwrap();
        let server = ServerProcess::start_with_participants(&file, &[], env);
        Self {
            server,
            file,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
        }
    }

    /// The incoming-call webhook, from `from` to the Weekly sync line.
    async fn incoming(&self, from: &str) -> Element {
        let sid = sid();
        let response = self
            .client
            .post(format!("{}/voice", self.server.base))
            .form(&[
                ("CallSid", sid.as_str()),
                ("AccountSid", "AC0"),
                ("From", from),
                ("To", WEEKLY_LINE),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        parse(&response.text().await.unwrap()).expect("valid TwiML")
    }

    async fn let_in(&self, from: &str) -> bool {
        let doc = self.incoming(from).await;
        match verbs(&doc).as_slice() {
            ["Gather", "Redirect"] => true,
            ["Say", "Reject"] => false,
            other => panic!("neither a prompt nor a rejection: {other:?}"),
        }
    }

    /// The log lines with this event.
    fn events(&self, event: &str) -> Vec<String> {
        self.server
            .log()
            .lines()
            .filter(|line| line.contains(event))
            .map(str::to_owned)
            .collect()
    }

    /// Stops the server; it must exit cleanly (no watch thread keeps it alive).
    fn stop(self) -> String {
        let (code, log) = self.server.stop();
        assert_eq!(code, Some(0), "{log}");
        log
    }
}

#[tokio::test]
async fn a_saved_edit_is_served_without_a_restart() {
    let app = TestApp::spawn().await;
    let doc = app.incoming(&sid(), STRANGER, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Say", "Reject"]);

    save_like_an_editor(app.participants_path(), &with_stranger(PARTICIPANTS));

    eventually("the stranger is let in", || let_in(&app, STRANGER)).await;
    let doc = app.incoming(&sid(), STRANGER, WEEKLY_LINE).await;
    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    assert!(let_in(&app, ADA).await, "the others are still listed");
}

#[tokio::test]
async fn an_edit_written_in_place_is_served_too() {
    let app = TestApp::spawn().await;
    assert!(!let_in(&app, STRANGER).await);

    std::fs::write(app.participants_path(), with_stranger(PARTICIPANTS)).unwrap();

    eventually("the stranger is let in", || let_in(&app, STRANGER)).await;
}

#[tokio::test]
async fn a_bad_edit_is_refused_with_its_line_and_the_previous_list_keeps_serving() {
    let served = Served::start(PARTICIPANTS, &[]);
    assert!(served.let_in(ADA).await);
    // Adds the stranger, but with a role that does not exist: none of it may be served.
    let bad = with_stranger(PARTICIPANTS).replacen(
        "phone = \"+12025550199\"",
        "phone = \"+12025550199\"\nrole = \"chair\"",
        1,
    );
    let line = bad[..bad.find("role = \"chair\"").unwrap()]
        .matches('\n')
        .count()
        + 1;

    save_like_an_editor(&served.file, &bad);

    eventually("the refusal is logged", || async {
        !served.events("directory.reload_failed").is_empty()
    })
    .await;
    let refusal = served.events("directory.reload_failed").join("\n");
    let at = format!("{}:{line}:", served.file.display());
    assert!(refusal.contains(&at), "{at} in {refusal}");
    assert!(refusal.contains("unknown role"), "{refusal}");
    assert!(
        !refusal.contains("2025550199"),
        "numbers stay masked: {refusal}"
    );
    assert!(served.let_in(ADA).await, "the previous list still serves");
    assert!(
        !served.let_in(STRANGER).await,
        "nothing of the bad edit is served"
    );
    assert!(served.events("directory.reloaded").is_empty());

    // Fixing the file puts the fix in service.
    save_like_an_editor(&served.file, &with_stranger(PARTICIPANTS));
    eventually("the fixed file is served", || served.let_in(STRANGER)).await;
    let log = served.stop();
    assert!(log.contains("directory.reloaded"), "{log}");
}

#[tokio::test]
async fn sighup_reloads_the_file() {
    let served = Served::start(PARTICIPANTS, &[]);
    assert!(!served.let_in(STRANGER).await);

    // The watch may well see this first; SIGHUP reloads all the same.
    save_like_an_editor(&served.file, &with_stranger(PARTICIPANTS));
    served.server.signal("HUP");

    eventually("a reload on SIGHUP is logged", || async {
        served
            .events("directory.reloaded")
            .iter()
            .any(|line| line.contains("sighup"))
    })
    .await;
    assert!(served.let_in(STRANGER).await);
    let reloaded = served.events("directory.reloaded").join("\n");
    assert!(reloaded.contains("conferences=2"), "{reloaded}");
    assert!(reloaded.contains("participants=5"), "{reloaded}");
    served.stop();
}

#[tokio::test]
async fn saving_the_same_bytes_again_does_not_reload() {
    let served = Served::start(PARTICIPANTS, &[("RUST_LOG", "info,bridgekeeper=debug")]);

    save_like_an_editor(&served.file, PARTICIPANTS);

    eventually("the unchanged file is noticed", || async {
        !served.events("directory.unchanged").is_empty()
    })
    .await;
    assert!(served.events("directory.reloaded").is_empty());
    assert!(served.let_in(ADA).await);
    served.stop();
}

#[tokio::test]
async fn a_caller_removed_mid_call_is_not_joined_and_one_still_listed_is() {
    let app = TestApp::spawn().await;
    let grace = sid();
    let grace_prompt = app.incoming(&grace, GRACE, WEEKLY_LINE).await;
    assert_eq!(verbs(&grace_prompt), ["Gather", "Redirect"]);
    let obrien = sid();
    let obrien_prompt = app.incoming(&obrien, OBRIEN, WEEKLY_LINE).await;
    assert_eq!(verbs(&obrien_prompt), ["Gather", "Redirect"]);

    // One edit: Grace goes, the stranger comes (which shows when the edit is served).
    let grace_entry =
        "[[conference.participant]]\nname = \"Grace Hopper\"\nphone = \"+12025550102\"\n\n";
    assert!(PARTICIPANTS.contains(grace_entry));
    let edited = with_stranger(&PARTICIPANTS.replacen(grace_entry, "", 1));
    save_like_an_editor(app.participants_path(), &edited);
    eventually("the edit is served", || let_in(&app, STRANGER)).await;

    let code = app.code_for(GRACE).await;
    let end = app.keys(&grace_prompt, &grace, Some(&code)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert_eq!(
        spoken(&end),
        ["Sorry, your number is no longer on the list for this conference. Goodbye."]
    );

    let code = app.code_for(OBRIEN).await;
    let joined = app.keys(&obrien_prompt, &obrien, Some(&code)).await;
    assert_eq!(verbs(&joined), ["Say", "Dial"]);
    assert_eq!(find(&joined, "Conference").unwrap().text, "Weekly sync");
}
