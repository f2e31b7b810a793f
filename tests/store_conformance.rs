//! One conformance suite for every store: the in-memory one always, Redis when
//! `BRIDGEKEEPER_TEST_REDIS_URL` is set (`.ci/run` starts one). Each case runs against both
//! and must behave the same.

use bridgekeeper::clock::ManualClock;
use bridgekeeper::domain::CallSid;
use bridgekeeper::store::{MemoryStore, RedisStore, Store};
use std::sync::Arc;
use std::time::Duration;

/// A store plus a way to let time pass for it.
enum Harness {
    Memory(Arc<MemoryStore>, Arc<ManualClock>),
    Redis(Arc<RedisStore>),
}

/// A time-to-live short enough for Redis tests to wait out.
const TTL: Duration = Duration::from_millis(400);

impl Harness {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Harness::Memory(s, _) => s.clone(),
            Harness::Redis(s) => s.clone(),
        }
    }

    /// Lets `d` pass: the manual clock moves; for Redis, real time passes (with a margin
    /// for its expiry, which is exact to the millisecond).
    async fn pass(&self, d: Duration) {
        match self {
            Harness::Memory(_, clock) => clock.advance(d),
            Harness::Redis(_) => tokio::time::sleep(d + Duration::from_millis(100)).await,
        }
    }
}

fn redis_url() -> Option<String> {
    std::env::var("BRIDGEKEEPER_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Says once, past the test harness's output capture, that the Redis half was skipped.
fn say_skipped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** Redis store tests SKIPPED: set BRIDGEKEEPER_TEST_REDIS_URL=redis://127.0.0.1:6379 to run them ***\n"
        );
    });
}

/// A prefix no other test run uses.
fn unique_prefix() -> String {
    format!("bk-test:{}:", bridgekeeper::simulator::random_call_sid())
}

async fn harnesses() -> Vec<(&'static str, Harness)> {
    let clock = Arc::new(ManualClock::default());
    let mut all = vec![(
        "memory",
        Harness::Memory(Arc::new(MemoryStore::new(clock.clone())), clock),
    )];
    match redis_url() {
        Some(url) => {
            let store = RedisStore::connect(&url, &unique_prefix(), Duration::from_secs(2))
                .await
                .unwrap_or_else(|e| panic!("BRIDGEKEEPER_TEST_REDIS_URL={url} is set but: {e}"));
            all.push(("redis", Harness::Redis(Arc::new(store))));
        }
        None => say_skipped(),
    }
    all
}

fn sid(s: &str) -> CallSid {
    CallSid::parse(s).unwrap()
}

#[tokio::test]
async fn a_call_step_is_accepted_once_and_never_after_a_later_one() {
    for (name, h) in harnesses().await {
        let s = h.store();
        let ttl = Duration::from_secs(60);
        assert_eq!(s.advance(&sid("CA1"), 0, ttl).await, Ok(true), "{name}");
        assert_eq!(
            s.advance(&sid("CA1"), 0, ttl).await,
            Ok(false),
            "{name}: replay"
        );
        assert_eq!(s.advance(&sid("CA1"), 1, ttl).await, Ok(true), "{name}");
        assert_eq!(
            s.advance(&sid("CA1"), 4, ttl).await,
            Ok(true),
            "{name}: skip"
        );
        assert_eq!(
            s.advance(&sid("CA1"), 2, ttl).await,
            Ok(false),
            "{name}: rollback"
        );
        assert_eq!(
            s.advance(&sid("CA2"), 2, ttl).await,
            Ok(true),
            "{name}: other call"
        );
    }
}

#[tokio::test]
async fn call_marks_expire() {
    for (name, h) in harnesses().await {
        let s = h.store();
        assert_eq!(s.advance(&sid("CA9"), 5, TTL).await, Ok(true), "{name}");
        h.pass(TTL).await;
        assert_eq!(s.advance(&sid("CA9"), 1, TTL).await, Ok(true), "{name}");
    }
}

#[tokio::test]
async fn counters_count_within_a_window_from_the_first_increment() {
    for (name, h) in harnesses().await {
        let s = h.store();
        assert_eq!(s.get("c").await, Ok(0), "{name}");
        assert_eq!(s.incr("c", TTL).await, Ok(1), "{name}");
        assert_eq!(s.incr("c", TTL).await, Ok(2), "{name}");
        assert_eq!(s.get("c").await, Ok(2), "{name}");
        assert_eq!(s.get("other").await, Ok(0), "{name}");
        h.pass(TTL).await;
        assert_eq!(s.get("c").await, Ok(0), "{name}: expired");
        assert_eq!(s.incr("c", TTL).await, Ok(1), "{name}: a new window");
        s.remove("c").await.unwrap();
        assert_eq!(s.get("c").await, Ok(0), "{name}: removed");
    }
}

#[tokio::test]
async fn values_round_trip_expire_and_can_be_removed() {
    for (name, h) in harnesses().await {
        let s = h.store();
        let bytes = [0u8, 255, 1, 254, b'\n'];
        assert_eq!(s.fetch("v").await, Ok(None), "{name}");
        s.put("v", &bytes, TTL).await.unwrap();
        assert_eq!(s.fetch("v").await, Ok(Some(bytes.to_vec())), "{name}");
        s.put("v", b"second", TTL).await.unwrap();
        assert_eq!(s.fetch("v").await, Ok(Some(b"second".to_vec())), "{name}");
        s.remove("v").await.unwrap();
        assert_eq!(s.fetch("v").await, Ok(None), "{name}: removed");
        s.put("w", b"x", TTL).await.unwrap();
        h.pass(TTL).await;
        assert_eq!(s.fetch("w").await, Ok(None), "{name}: expired");
    }
}

#[tokio::test]
async fn lists_keep_the_newest_entries_oldest_first_and_expire() {
    for (name, h) in harnesses().await {
        let s = h.store();
        assert_eq!(s.recent("l").await, Ok(vec![]), "{name}");
        for i in 0..5u8 {
            s.append("l", &[i, 0xff], 3, TTL).await.unwrap();
        }
        assert_eq!(
            s.recent("l").await,
            Ok(vec![vec![2, 0xff], vec![3, 0xff], vec![4, 0xff]]),
            "{name}"
        );
        h.pass(TTL).await;
        assert_eq!(s.recent("l").await, Ok(vec![]), "{name}: expired");
    }
}

#[tokio::test]
async fn a_claim_goes_to_the_first_taker_until_it_expires() {
    for (name, h) in harnesses().await {
        let s = h.store();
        assert_eq!(s.claim("k", TTL).await, Ok(true), "{name}");
        assert_eq!(s.claim("k", TTL).await, Ok(false), "{name}");
        h.pass(TTL).await;
        assert_eq!(s.claim("k", TTL).await, Ok(true), "{name}: after expiry");
    }
}

#[tokio::test]
async fn concurrent_updates_are_atomic() {
    for (name, h) in harnesses().await {
        let s = h.store();
        let incrs: Vec<_> = (0..50)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.incr("n", Duration::from_secs(60)).await.unwrap() })
            })
            .collect();
        let mut seen = Vec::new();
        for t in incrs {
            seen.push(t.await.unwrap());
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=50).collect::<Vec<u64>>(),
            "{name}: every count once"
        );

        let claims: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.claim("once", Duration::from_secs(60)).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in claims {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "{name}: one claim wins");

        let steps: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.advance(&sid("CArace"), 3, Duration::from_secs(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut accepted = 0;
        for t in steps {
            accepted += usize::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1, "{name}: a step is accepted once");
    }
}

#[tokio::test]
async fn the_store_reports_itself_healthy() {
    for (name, h) in harnesses().await {
        assert_eq!(h.store().health().await, Ok(()), "{name}");
        assert_eq!(h.store().name(), name);
    }
}

#[tokio::test]
async fn prefixes_keep_lines_apart() {
    let Some(url) = redis_url() else {
        say_skipped();
        return;
    };
    let a = RedisStore::connect(&url, &unique_prefix(), Duration::from_secs(2))
        .await
        .unwrap();
    let b = RedisStore::connect(&url, &unique_prefix(), Duration::from_secs(2))
        .await
        .unwrap();
    a.incr("shared-name", Duration::from_secs(60))
        .await
        .unwrap();
    a.put("value", b"a", Duration::from_secs(60)).await.unwrap();
    assert_eq!(b.get("shared-name").await, Ok(0));
    assert_eq!(b.fetch("value").await, Ok(None));
    assert_eq!(
        b.advance(&sid("CA1"), 0, Duration::from_secs(60)).await,
        Ok(true)
    );
    assert_eq!(
        a.advance(&sid("CA1"), 0, Duration::from_secs(60)).await,
        Ok(true)
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisStore::connect(
        &format!("redis://127.0.0.1:{port}"),
        "x:",
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    let bad = RedisStore::connect("not a url", "x:", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("Redis URL"), "{bad}");
}

#[tokio::test]
async fn map_fields_swap_only_from_what_the_caller_saw_and_the_map_expires() {
    for (name, h) in harnesses().await {
        let s = h.store();
        assert_eq!(s.map_all("m").await, Ok(vec![]), "{name}");
        assert_eq!(
            s.map_swap("m", "a", None, Some(b"1"), TTL).await,
            Ok(true),
            "{name}"
        );
        // Swapping from a stale view changes nothing.
        assert_eq!(
            s.map_swap("m", "a", None, Some(b"2"), TTL).await,
            Ok(false),
            "{name}"
        );
        assert_eq!(
            s.map_swap("m", "a", Some(b"0"), Some(b"2"), TTL).await,
            Ok(false),
            "{name}"
        );
        assert_eq!(
            s.map_swap("m", "a", Some(b"1"), Some(b"2"), TTL).await,
            Ok(true),
            "{name}"
        );
        let bytes = [0u8, 255, b'\n'];
        assert_eq!(
            s.map_swap("m", "b", None, Some(&bytes), TTL).await,
            Ok(true),
            "{name}"
        );
        let mut all = s.map_all("m").await.unwrap();
        all.sort();
        assert_eq!(
            all,
            vec![
                ("a".to_owned(), b"2".to_vec()),
                ("b".to_owned(), bytes.to_vec())
            ],
            "{name}"
        );
        // Removing needs the current value too.
        assert_eq!(
            s.map_swap("m", "a", Some(b"1"), None, TTL).await,
            Ok(false),
            "{name}"
        );
        assert_eq!(
            s.map_swap("m", "a", Some(b"2"), None, TTL).await,
            Ok(true),
            "{name}"
        );
        assert_eq!(s.map_all("m").await.unwrap().len(), 1, "{name}");
        h.pass(TTL).await;
        assert_eq!(s.map_all("m").await, Ok(vec![]), "{name}: expired");
    }
}

#[tokio::test]
async fn racing_map_swaps_from_one_view_let_one_through() {
    for (name, h) in harnesses().await {
        let s = h.store();
        s.map_swap("race", "f", None, Some(b"0"), TTL)
            .await
            .unwrap();
        let swaps: Vec<_> = (0..20u8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.map_swap("race", "f", Some(b"0"), Some(&[i]), Duration::from_secs(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut won = 0;
        for t in swaps {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "{name}: one swap from a shared view wins");
    }
}
