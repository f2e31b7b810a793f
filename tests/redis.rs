//! Several instances, one line: the real binary on a shared Redis. Runs when
//! `BRIDGEKEEPER_TEST_REDIS_URL` is set (`.ci/run` sets it); the Redis-down tests start their
//! own `redis-server` on a random port so that they can stop it.

mod common;

use bridgekeeper::twiml::parse::{Element, parse};
use common::process::{ServerProcess, command, example_participants};
use common::{find, latest_code, spoken, verbs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "shared-redis-test-secret-0123456789";

fn redis_url() -> Option<String> {
    let url = std::env::var("BRIDGEKEEPER_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** Redis instance tests SKIPPED: set BRIDGEKEEPER_TEST_REDIS_URL=redis://127.0.0.1:6379 to run them ***\n"
            );
        });
    }
    url
}

fn unique_prefix() -> String {
    format!("bk-test:{}:", bridgekeeper::simulator::random_call_sid())
}

fn start(redis: &str, prefix: &str) -> ServerProcess {
    ServerProcess::start(
        &[
            "--participants",
            example_participants().to_str().unwrap(),
            "--redis-url",
            redis,
            "--redis-prefix",
            prefix,
        ],
        &[("BRIDGEKEEPER_SECRET", SECRET)],
    )
}

struct Caller {
    client: reqwest::Client,
    sid: String,
    from: &'static str,
}

impl Caller {
    fn new(from: &'static str) -> Self {
        Self {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            sid: common::sid(),
            from,
        }
    }

    async fn post(&self, url: &str, extra: &[(&str, &str)]) -> Element {
        let mut params = vec![
            ("CallSid", self.sid.as_str()),
            ("From", self.from),
            ("To", "+12025550100"),
        ];
        params.extend_from_slice(extra);
        let response = self.client.post(url).form(&params).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {body}");
        parse(&body).unwrap()
    }

    async fn ring(&self, base: &str) -> Element {
        self.post(&format!("{base}/voice"), &[]).await
    }

    /// Answers the prompt in `doc` on the instance at `base`.
    async fn keys(&self, base: &str, doc: &Element, digits: Option<&str>) -> Element {
        let gather = find(doc, "Gather")
            .unwrap_or_else(|| panic!("{}: no prompt to answer: {:?}", self.from, spoken(doc)));
        let action = gather.attr("action").unwrap();
        let url = url::Url::parse(action).unwrap();
        let target = format!("{base}{}?{}", url.path(), url.query().unwrap());
        match digits {
            Some(d) => self.post(&target, &[("Digits", d)]).await,
            None => self.post(&target, &[]).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_calls_codes_and_limits() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let (a, b) = tokio::task::block_in_place(|| (start(&redis, &prefix), start(&redis, &prefix)));

    // A call whose webhooks alternate: rings on A, wrong code on B, right code on A.
    let grace = Caller::new("+12025550102");
    let doc = grace.ring(&a.base).await;
    let code = latest_code(&a.base, "+12025550102").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let doc = grace.keys(&b.base, &doc, Some(wrong)).await;
    assert!(spoken(&doc).join(" ").contains("not right"));
    let joined = grace.keys(&a.base, &doc, Some(&code)).await;
    assert!(
        find(&joined, "Conference").is_some(),
        "{:?}",
        spoken(&joined)
    );

    // A code sent by A is accepted by B even with no receipt to help: it lives in Redis,
    // and so does the outbox, which B shows too.
    let ada = Caller::new("+12025550101");
    let doc = ada.ring(&a.base).await;
    let code = latest_code(&b.base, "+12025550101").await;
    let joined = ada.keys(&b.base, &doc, Some(&code)).await;
    assert!(find(&joined, "Conference").is_some());

    // A caller burns two tries on A, hangs up, and calls B: one try left, not three.
    let alan = Caller::new("+12025550103");
    let mut doc = alan.ring(&a.base).await;
    let code = latest_code(&a.base, "+12025550103").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        doc = alan.keys(&a.base, &doc, Some(wrong)).await;
    }
    let again = Caller::new("+12025550103");
    let doc = again.ring(&b.base).await;
    assert_eq!(verbs(&doc), ["Gather", "Redirect"]);
    let end = again.keys(&b.base, &doc, Some(wrong)).await;
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(
        spoken(&end)[0].contains("Too many wrong codes"),
        "{:?}",
        spoken(&end)
    );
    // And A now refuses a new call from that number before sending a code.
    let third = Caller::new("+12025550103").ring(&a.base).await;
    assert_eq!(verbs(&third), ["Say", "Hangup"]);

    // A state used on one instance cannot be replayed on the other.
    let ada_again = Caller::new("+12025550101");
    let doc = ada_again.ring(&a.base).await;
    let _ = ada_again.keys(&a.base, &doc, None).await;
    let action = find(&doc, "Gather").unwrap().attr("action").unwrap();
    let url = url::Url::parse(action).unwrap();
    let replay = format!("{}{}?{}", b.base, url.path(), url.query().unwrap());
    let response = ada_again
        .client
        .post(replay)
        .form(&[("CallSid", ada_again.sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
}

#[test]
fn an_unreachable_redis_at_startup_refuses_to_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let output = command()
        .args(["serve", "--listen", "127.0.0.1:0", "--participants"])
        .arg(example_participants())
        .args(["--redis-url", &format!("redis://:s3cret@127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot use Redis"), "{stderr}");
    assert!(stderr.contains(&port.to_string()), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A private redis-server on a given port.
struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (the Redis tests need it; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(base: &str) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_redis_fails_closed_and_the_server_recovers_when_it_returns() {
    if redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = tokio::task::block_in_place(|| PrivateRedis::start(port));
    let server = tokio::task::block_in_place(|| start(&url, "down-test:"));
    assert_eq!(health(&server.base).await.0, 200);

    let ada = Caller::new("+12025550101");
    let doc = ada.ring(&server.base).await;
    let code = latest_code(&server.base, "+12025550101").await;
    drop(redis); // Redis goes away mid-call.

    let started = Instant::now();
    let end = ada.keys(&server.base, &doc, Some(&code)).await;
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "answered in time"
    );
    assert!(
        find(&end, "Dial").is_none(),
        "nobody joins without the store"
    );
    assert_eq!(verbs(&end), ["Say", "Hangup"]);
    assert!(spoken(&end)[0].contains("Sorry"), "{:?}", spoken(&end));
    let (status, body) = health(&server.base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["store"]["ok"], false);
    // A new call while Redis is down hears an apology too.
    let doc = Caller::new("+12025550102").ring(&server.base).await;
    assert_eq!(verbs(&doc), ["Say", "Hangup"]);

    // Redis comes back on the same port: the server reconnects by itself.
    let _redis = tokio::task::block_in_place(|| PrivateRedis::start(port));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if health(&server.base).await.0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not reconnect to Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let grace = Caller::new("+12025550102");
    let doc = grace.ring(&server.base).await;
    let code = latest_code(&server.base, "+12025550102").await;
    let joined = grace.keys(&server.base, &doc, Some(&code)).await;
    assert!(
        find(&joined, "Conference").is_some(),
        "{:?}",
        spoken(&joined)
    );
}

/// Every key under `prefix` and every value it holds, as bytes.
async fn dump(redis: &str, prefix: &str) -> Vec<(String, Vec<Vec<u8>>)> {
    let client = redis::Client::open(redis).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ],
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap(),
            _ => Vec::new(),
        };
        out.push((key, values));
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_engine_on_two_instances_shares_codes_and_limits_and_stores_no_code() {
    use bridgekeeper::fakes::telnyx::{DEFAULT_API_KEY, FakeTelnyx, FakeTelnyxConfig};
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let fake = FakeTelnyx::start(FakeTelnyxConfig::default())
        .await
        .unwrap();
    let origin = fake.origin();
    let env = [
        ("BRIDGEKEEPER_SECRET", SECRET),
        ("BRIDGEKEEPER_SENDER", "telnyx"),
        ("TELNYX_API_KEY", DEFAULT_API_KEY),
        ("TELNYX_FROM_NUMBER", "+15550100000"),
        ("TELNYX_API_BASE_URL", origin.as_str()),
    ];
    let participants = example_participants();
    let args = [
        "--participants",
        participants.to_str().unwrap(),
        "--redis-url",
        redis.as_str(),
        "--redis-prefix",
        prefix.as_str(),
        "--local-sends-per-number",
        "3",
    ];
    let (a, b) = tokio::task::block_in_place(|| {
        (
            ServerProcess::start(&args, &env),
            ServerProcess::start(&args, &env),
        )
    });

    // A code texted by A is accepted by B.
    let grace = Caller::new("+12025550102");
    let doc = grace.ring(&a.base).await;
    let code = fake
        .sent_codes("+12025550102")
        .pop()
        .expect("a code texted");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let doc = grace.keys(&b.base, &doc, Some(wrong)).await;
    assert!(spoken(&doc).join(" ").contains("not right"));

    // Nothing in Redis holds the code or the number in clear, key or value.
    let dumped = dump(&redis, &prefix).await;
    assert!(!dumped.is_empty(), "the engine keeps its state in Redis");
    for (key, values) in &dumped {
        assert!(!key.contains("5550102"), "number in key {key}");
        for value in values {
            assert!(!holds(value, &code), "the code in clear under {key}");
            assert!(
                !holds(value, "2025550102"),
                "the number in clear under {key}"
            );
        }
    }

    let joined = grace.keys(&b.base, &doc, Some(&code)).await;
    assert!(
        find(&joined, "Conference").is_some(),
        "{:?}",
        spoken(&joined)
    );

    // The engine's sends per number hold across both: three calls alternate, the fourth
    // (on either) gets no code.
    for (n, base) in [&a.base, &b.base, &a.base].into_iter().enumerate() {
        let doc = Caller::new("+12025550103").ring(base).await;
        assert_eq!(
            verbs(&doc),
            ["Gather", "Redirect"],
            "call {n}: {:?}",
            spoken(&doc)
        );
    }
    let refused = Caller::new("+12025550103").ring(&b.base).await;
    assert_eq!(verbs(&refused), ["Say", "Hangup"]);
    assert!(
        spoken(&refused)[0].contains("Too many codes"),
        "{:?}",
        spoken(&refused)
    );
    assert_eq!(fake.sent_codes("+12025550103").len(), 3);
}
