//! Logs cannot be flooded: a stream of forged webhooks writes a handful of warning lines and a
//! count of the rest, not one line each (it once wrote 1.63 M lines in 30 seconds).

mod common;

use common::process::{ServerProcess, example_participants};
use common::{ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Forged webhooks sent.
const REQUESTS: usize = 20_000;

/// Requests in flight at once.
const CONCURRENCY: usize = 32;

/// The most log lines the whole run may write.
const MAX_LINES: usize = 1_000;

/// The value of `name=` in a text log line (`suppressed=1234`).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    line[start..].split_whitespace().next()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_unsigned_webhooks_writes_the_first_warnings_and_a_count_of_the_rest() {
    let participants = example_participants();
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start(
            &["--participants", participants.to_str().unwrap()],
            &[
                ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
                ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                ("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID),
                // Never called: every request is refused before anything else happens.
                ("TWILIO_VERIFY_BASE_URL", "http://127.0.0.1:9/"),
            ],
        )
    });
    let url = format!("{}/voice", server.base);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let forbidden = Arc::new(AtomicUsize::new(0));

    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next, forbidden) =
            (client.clone(), url.clone(), next.clone(), forbidden.clone());
        senders.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                let response = client
                    .post(&url)
                    .form(&[("CallSid", "CAforged"), ("From", "+12025550101")])
                    .send()
                    .await
                    .expect("request");
                if response.status().as_u16() == 403 {
                    forbidden.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let (exit, log) = tokio::task::block_in_place(|| server.stop());

    assert_eq!(exit, Some(0), "{log}");
    assert_eq!(forbidden.load(Ordering::Relaxed), REQUESTS);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.len() <= MAX_LINES,
        "{} log lines for {REQUESTS} forged webhooks",
        lines.len()
    );
    let warned: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(r#" event="webhook.forbidden""#))
        .collect();
    let summaries: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(r#" event="log.suppressed""#))
        .filter(|l| l.contains(r#"suppressed_event="webhook.forbidden""#))
        .collect();
    // The first forged webhooks are still logged, in full, before any summary.
    assert!(warned.len() >= 10, "{log}");
    let first_summary = lines
        .iter()
        .position(|l| l.contains(r#" event="log.suppressed""#))
        .expect("a log.suppressed line");
    assert!(warned[..10].iter().all(|&i| i < first_summary), "{log}");
    // Every forged webhook is either a warning line or counted in a summary.
    let counted: usize = summaries
        .iter()
        .map(|l| field(l, "suppressed").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(warned.len() + counted, REQUESTS, "{log}");
}
