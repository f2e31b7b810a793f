//! `GET /metrics`: the Prometheus text format, counters that move as a call runs, the admin
//! token in front of it, and the `--metrics-listen` address without one.
//!
//! The metrics are process-wide and the tests of this file share a process: each asserts
//! what changed between two scrapes, for labels only it moves (a single test here runs
//! calls in-process), or reads a server process of its own.

mod common;

use common::process::{ServerProcess, command};
use common::*;
use prometheus_parse::{LineInfo, Scrape, Value};
use secrecy::SecretString;
use std::time::{Duration, Instant};

const ADMIN: &str = "metrics-admin-token-0123456789";

/// The metrics layer as the global subscriber (with the logs too under TEST_LOG), once.
fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(bridgekeeper::telemetry::init(Default::default()));
        } else {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let _ = tracing_subscriber::registry()
                .with(bridgekeeper::metrics::layer())
                .try_init();
        }
    });
}

/// Parses a scrape, strictly: every line is blank, a comment, or a sample with a number.
fn parse(text: &str) -> Scrape {
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Ignored => panic!("not Prometheus text: {line:?}\n{text}"),
            LineInfo::Sample { value, .. } => {
                assert!(value.parse::<f64>().is_ok(), "not a number: {line:?}");
            }
            _ => {}
        }
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("a Prometheus scrape")
}

/// The value of the sample `name` with these labels (among others), 0 when absent.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(_) | Value::Summary(_) => 0.0,
        })
        .sum()
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn scrape(app: &TestApp, token: Option<&str>) -> Scrape {
    let (status, content_type, body) = get(&app.client, app.url("/metrics").as_str(), token).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse(&body)
}

/// Six digits that are not `code`.
fn other_than(code: &str) -> String {
    code.chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

#[tokio::test]
async fn a_scripted_call_moves_the_counters() {
    init();
    let app = TestApp::spawn().await;
    let before = scrape(&app, None).await;

    // Ada (a moderator) calls, types a wrong code, then the right one; a stranger is refused.
    let call = sid();
    let asked = app.incoming(&call, ADA, WEEKLY_LINE).await;
    let code = app.code_for(ADA).await;
    let again = app.keys(&asked, &call, Some(&other_than(&code))).await;
    assert!(find(&again, "Gather").is_some(), "asked again: {again:?}");
    let joined = app.keys(&again, &call, Some(&code)).await;
    assert!(verbs(&joined).contains(&"Dial"), "{joined:?}");
    let refused = app.incoming(&sid(), STRANGER, WEEKLY_LINE).await;
    assert!(find(&refused, "Gather").is_none(), "{refused:?}");
    bridgekeeper::metrics::set_participants("metrics test room", 2);

    let after = scrape(&app, None).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let sms = [("verifier", "local"), ("channel", "sms")];
    assert_eq!(moved("bridgekeeper_codes_sent_total", &sms), 1.0);
    assert_eq!(moved("bridgekeeper_wrong_codes_total", &[]), 1.0);
    let moderator = [("role", "moderator")];
    assert_eq!(moved("bridgekeeper_joins_total", &moderator), 1.0);
    let joined = [("outcome", "joined")];
    assert_eq!(moved("bridgekeeper_calls_total", &joined), 1.0);
    let not_listed = [("reason", "not_listed")];
    assert_eq!(moved("bridgekeeper_refusals_total", &not_listed), 1.0);
    let refused = [("outcome", "refused")];
    assert_eq!(moved("bridgekeeper_calls_total", &refused), 1.0);
    for hook in ["incoming", "code"] {
        let labels = [("carrier", "twilio"), ("hook", hook)];
        assert!(
            moved("bridgekeeper_webhook_duration_seconds_count", &labels) >= 2.0,
            "{hook}"
        );
    }
    let room = [("conference", "metrics test room")];
    assert_eq!(value(&after, "bridgekeeper_participants", &room), 2.0);
    let memory = [("store", "memory")];
    assert_eq!(value(&after, "bridgekeeper_store_up", &memory), 1.0);
}

/// A server a real carrier can reach (Twilio's token set), with or without an admin token.
async fn real_server(admin: Option<&str>) -> TestApp {
    let admin = admin.map(|t| SecretString::from(t.to_owned()));
    TestApp::spawn_configured(PARTICIPANTS, move |settings| {
        settings.carriers.twilio = Some(SecretString::from(AUTH_TOKEN.to_owned()));
        settings.admin_token = admin;
    })
    .await
}

#[tokio::test]
async fn once_a_carrier_is_real_the_metrics_answer_only_to_the_admin_token() {
    init();
    let app = real_server(Some(ADMIN)).await;
    let url = app.url("/metrics");
    for token in [None, Some("wrong-token-of-some-length"), Some(&ADMIN[1..])] {
        let (status, _, body) = get(&app.client, url.as_str(), token).await;
        assert_eq!(status, 401, "{token:?}");
        assert!(!body.contains("bridgekeeper_"), "leaked: {body}");
    }
    let response = app.client.get(url.clone()).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let scrape = scrape(&app, Some(ADMIN)).await;
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "bridgekeeper_store_up"),
        "{:?}",
        scrape.samples
    );
}

#[tokio::test]
async fn without_an_admin_token_a_real_server_has_no_metrics_route() {
    init();
    let app = real_server(None).await;
    let (status, _, body) = get(&app.client, app.url("/metrics").as_str(), Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert!(!body.contains("bridgekeeper_"), "leaked: {body}");
}

/// The address the server's `server.metrics` line names, once it is logged.
fn metrics_address(server: &ServerProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = server.log();
        if let Some(rest) = log.split("metrics at http://").nth(1) {
            return rest.split('/').next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no metrics address:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_listen_serves_them_without_a_token_whatever_the_log_level() {
    let participants = participants_file(PARTICIPANTS);
    let server = tokio::task::block_in_place(|| {
        ServerProcess::start_with_participants(
            participants.path(),
            &["--metrics-listen", "127.0.0.1:0"],
            // The call's decisions are not logged, and still counted.
            &[
                ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                ("RUST_LOG", "info,bridgekeeper::service=warn"),
            ],
        )
    });
    let metrics = format!("http://{}/metrics", metrics_address(&server));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // A forged webhook, and a signed call from a stranger.
    let entry = format!("{}/voice", server.base);
    let forged = client
        .post(&entry)
        .form(&[("CallSid", sid().as_str()), ("From", STRANGER)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let call = sid();
    let params: Vec<(String, String)> = [
        ("CallSid", call.as_str()),
        ("AccountSid", "AC0"),
        ("From", STRANGER),
        ("To", WEEKLY_LINE),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = bridgekeeper::signature::sign(AUTH_TOKEN, &entry, &params);
    let refused = client
        .post(&entry)
        .header(bridgekeeper::signature::HEADER, signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 200);

    let (status, content_type, body) = get(&client, &metrics, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let scrape = parse(&body);
    let forbidden = [("carrier", "twilio")];
    assert_eq!(
        value(&scrape, "bridgekeeper_webhooks_forbidden_total", &forbidden),
        1.0
    );
    let refused = [("outcome", "refused")];
    assert_eq!(value(&scrape, "bridgekeeper_calls_total", &refused), 1.0);
    // The main address keeps them behind the admin token, and none is set.
    let (status, _, _) = get(&client, &format!("{}/metrics", server.base), None).await;
    assert_eq!(status, 404);
    // Only /metrics is served there.
    let (status, _, _) = get(&client, &metrics.replace("/metrics", "/healthz"), None).await;
    assert_eq!(status, 404);
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("call.rejected"), "{log}");
}

#[test]
fn a_metrics_address_that_cannot_be_bound_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let participants = participants_file(PARTICIPANTS);
    let mut child = command()
        .args(["serve", "--listen", "127.0.0.1:0", "--participants"])
        .arg(participants.path())
        .args(["--metrics-listen", &address])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a taken metrics address");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("cannot listen on {address} (--metrics-listen)")),
        "{stderr}"
    );
}

#[test]
fn the_sample_dashboard_reads_only_metrics_the_server_exports() {
    use bridgekeeper::metrics::*;
    let known = [
        CALLS,
        REFUSALS,
        CODES_SENT,
        WRONG_CODES,
        WRONG_PINS,
        JOINS,
        UPSTREAM_ERRORS,
        WEBHOOKS_FORBIDDEN,
        WEBHOOK_DURATION,
        UPSTREAM_DURATION,
        STORE_UP,
        STORE_ERRORS,
        LIMITS,
        PARTICIPANTS,
    ];
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    let names = regex::Regex::new(r"bridgekeeper_[a-z_]+").unwrap();
    let mut seen = 0;
    for found in names.find_iter(&text) {
        let name = found.as_str();
        let metric = name.strip_suffix("_bucket").unwrap_or(name);
        assert!(known.contains(&metric), "{name} is not exported");
        seen += 1;
    }
    assert!(seen > 10);
}
