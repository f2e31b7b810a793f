//! Connections cannot be held open: a client that stalls in its headers or dribbles its body
//! is cut off, an idle keep-alive connection is closed, the connection cap holds (idle clients
//! make way, busy ones make a newcomer wait and then close), HTTP/2 is not spoken, and a flood
//! of idle connections against a server short of file descriptors still leaves room for a real
//! request. Timings are small limits set through `Settings`, checked against generous bounds.

mod common;

use bridgekeeper::config::ConnectionLimits;
use common::process::{ServerProcess, example_participants};
use common::{PARTICIPANTS, TestApp};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a connection may take to be closed before a test calls it held open.
const BOUND: Duration = Duration::from_secs(10);

/// A long limit, for the ones a test does not exercise.
const LONG: Duration = Duration::from_secs(120);

async fn app_with(limits: ConnectionLimits) -> TestApp {
    TestApp::spawn_configured(PARTICIPANTS, |settings| settings.connections = limits).await
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 64,
        header_timeout: LONG,
        body_timeout: LONG,
        idle_timeout: LONG,
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = format!(
        "{}:{}",
        app.base.host_str().unwrap(),
        app.base.port().unwrap()
    );
    TcpStream::connect(addr).await.expect("connect")
}

/// Everything the server sends until it closes the connection, or `None` if it is still
/// open after `within`.
async fn until_closed(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all).await.ok()?;
    Some(received)
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: bridgekeeper\r\n\r\n";

/// A form POST to /voice whose body is announced but not yet sent.
const BODY_PENDING: &[u8] = b"POST /voice HTTP/1.1\r\nHost: bridgekeeper\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nCallSid=CA";

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_disconnected() {
    let app = app_with(ConnectionLimits {
        header_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = connect(&app).await;

    stream
        .write_all(b"POST /voice HTTP/1.1\r\nHost: bridgekeeper\r\nContent-Ty")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = until_closed(&mut stream, BOUND).await;

    assert!(closed.is_some(), "still open after {BOUND:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_dribbling_its_body_is_cut_off() {
    let app = app_with(ConnectionLimits {
        body_timeout: Duration::from_millis(500),
        ..limits()
    })
    .await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(BODY_PENDING).await.unwrap();
    // One byte every 100 ms: it never stalls long, but the whole body would take 100 s.
    let dribble = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    });

    let closed = until_closed(&mut reader, BOUND).await;
    dribble.abort();

    let response = closed.expect("still open: the dribbling body was never cut off");
    let text = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || text.starts_with("HTTP/1.1 4"),
        "not refused: {text}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app_with(ConnectionLimits {
        idle_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = connect(&app).await;

    stream.write_all(HEALTHZ).await.unwrap();
    let closed = until_closed(&mut stream, BOUND).await;

    let response = closed.expect("the idle keep-alive connection was never closed");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("connection: close"), "{text}");
}

#[tokio::test]
async fn a_keep_alive_connection_waiting_for_its_next_request_is_closed_after_the_header_timeout() {
    let app = app_with(ConnectionLimits {
        header_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = connect(&app).await;

    stream.write_all(HEALTHZ).await.unwrap();
    let closed = until_closed(&mut stream, BOUND).await;

    let response = closed.expect("the keep-alive connection was never closed");
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn with_every_connection_busy_a_new_one_is_closed_until_one_frees() {
    let app = app_with(ConnectionLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    // Two requests in flight, each waiting for the rest of its body.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(BODY_PENDING).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut third = connect(&app).await;
    let _ = third.write_all(HEALTHZ).await;
    let refused = until_closed(&mut third, BOUND).await;

    assert_eq!(
        refused.as_deref(),
        Some(&b""[..]),
        "a third connection was served past the cap of 2"
    );

    drop(busy);
    let deadline = Instant::now() + BOUND;
    loop {
        let answered = app
            .client
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if matches!(answered, Ok(200)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving again after the busy connections closed: {answered:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn with_every_connection_taken_the_oldest_idle_one_makes_way() {
    let app = app_with(ConnectionLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let mut oldest = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut newer = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = connect(&app).await;
    third.write_all(HEALTHZ).await.unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(BOUND, third.read_exact(&mut head))
        .await
        .expect("the third connection was not answered")
        .unwrap();

    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(
        until_closed(&mut oldest, BOUND).await.is_some(),
        "the oldest idle connection was not closed"
    );
    assert!(
        until_closed(&mut newer, Duration::from_millis(200))
            .await
            .is_none(),
        "the newer idle connection was closed too"
    );
}

#[tokio::test]
async fn an_http2_prior_knowledge_request_gets_no_http2_answer() {
    let app = app_with(limits()).await;
    let mut stream = connect(&app).await;

    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let closed = until_closed(&mut stream, BOUND).await;

    let response = closed.expect("the HTTP/2 connection was kept open");
    let text = String::from_utf8_lossy(&response);
    let settings_frame = response.len() >= 9 && response[3] == 0x04;
    assert!(!settings_frame, "answered in HTTP/2: {response:?}");
    assert!(
        response.is_empty() || text.starts_with("HTTP/1.1 4"),
        "{text}"
    );
}

/// The file-descriptor limit the flooded server runs with.
const FD_LIMIT: u32 = 1024;

/// Idle connections the flood opens: more than the server has descriptors.
const FLOOD: usize = 1100;

/// Opens `FLOOD` idle connections to `addr` (loopback only), a hundred at a time.
async fn flood(addr: &str) -> Result<Vec<TcpStream>, String> {
    let mut held = Vec::with_capacity(FLOOD);
    while held.len() < FLOOD {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..100.min(FLOOD - held.len()) {
            let addr = addr.to_owned();
            batch.spawn(async move {
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
            });
        }
        while let Some(connected) = batch.join_next().await {
            match connected.unwrap() {
                Ok(Ok(stream)) => held.push(stream),
                other => {
                    return Err(format!(
                        "connect {} failed: {other:?} (is this process's ulimit -n below 2048?)",
                        held.len()
                    ));
                }
            }
        }
    }
    Ok(held)
}

/// Starts the server with `FD_LIMIT` descriptors, floods it, and times a fresh request.
async fn flood_then_healthz(extra_args: &[&str]) {
    let participants = example_participants();
    let mut args = vec!["--participants", participants.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let server =
        tokio::task::block_in_place(|| ServerProcess::start_with_fd_limit(FD_LIMIT, &args, &[]));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files.split_whitespace().nth(3) == Some(&FD_LIMIT.to_string()),
        "{open_files}"
    );
    let addr = server.base.trim_start_matches("http://").to_owned();

    let held = match flood(&addr).await {
        Ok(held) => held,
        Err(e) => panic!("{e}\n{}", server.log()),
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let answer = client
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    let took = started.elapsed();

    let status = answer.map(|r| r.status().as_u16());
    assert_eq!(
        status.as_ref().ok(),
        Some(&200),
        "after {} idle connections: {status:?} in {took:?}\n{}",
        held.len(),
        server.log()
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(held);
    let (exit, log) = tokio::task::block_in_place(|| server.stop());
    assert_eq!(exit, Some(0), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_idle_connections_leaves_room_for_a_real_request() {
    flood_then_healthz(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_past_the_descriptor_limit_leaves_room_for_a_real_request() {
    // A cap above the descriptor limit: accept fails with EMFILE, and the loop must neither
    // spin nor stop, but free a descriptor held by an idle client.
    flood_then_healthz(&["--max-connections", "4096"]).await;
}
