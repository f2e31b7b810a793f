//! The accept loop: serves the router over HTTP/1.1 with the limits that keep connections
//! from being held open (`axum::serve` has none of them). A client gets
//! [`ConnectionLimits::header_timeout`] to send each request's headers,
//! [`ConnectionLimits::body_timeout`] to send its body, and no connection may sit with no byte
//! moving either way for [`ConnectionLimits::idle_timeout`]. At most
//! [`ConnectionLimits::max_connections`] are served at once: when all are taken, a new
//! connection closes the oldest one that has no request in flight (a slow or idle client, as
//! nginx reuses keep-alive connections), waits [`QUEUE_WAIT`] for a place, and is closed if
//! none comes. HTTP/2 is not spoken (a prior-knowledge preface is refused). Accept errors
//! (out of file descriptors) never stop the loop.

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long a new connection waits for a place when every connection is busy.
pub const QUEUE_WAIT: Duration = Duration::from_millis(100);

/// How long the loop pauses after an accept error (like EMFILE), so that it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Idle connections closed after an accept error, to give descriptors back.
const SHED_ON_ACCEPT_ERROR: usize = 4;

/// What one client may hold and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// The longest a client may take to send a request's headers, counted from the moment the
    /// connection opens or its previous response is sent (so it also closes idle keep-alive
    /// connections).
    pub header_timeout: Duration,
    /// The longest a client may take to send a request's body, counted from its headers.
    pub body_timeout: Duration,
    /// The longest a connection may go with no byte read or written while the server waits on
    /// it (a client that stops reading its response, say).
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets every
/// request in flight finish, and returns once all connections are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let places = Arc::new(Semaphore::new(max));
    let open = Arc::new(Connections::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Most likely out of descriptors (EMFILE): free a few held by idle
                    // clients, then try again after a pause.
                    for _ in 0..SHED_ON_ACCEPT_ERROR {
                        if !open.shed_one() {
                            break;
                        }
                    }
                    if crate::log_throttle::allow("server.accept_failed") {
                        tracing::warn!(event = "server.accept_failed", error = %e, "accept failed");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(place) = admit(&places, &open).await else {
            if crate::log_throttle::allow("server.connection_refused") {
                tracing::warn!(
                    event = "server.connection_refused",
                    max_connections = max,
                    "every connection is busy; a new one was closed"
                );
            }
            continue;
        };
        let slot = open.add();
        tokio::spawn(connection(
            stream,
            app.clone(),
            http.clone(),
            limits,
            slot,
            open.clone(),
            place,
        ));
    }
    drop(listener);
    open.shed_all();
    // Every connection holds a place until it is closed: holding them all means all are.
    let _all = places.acquire_many(max as u32).await;
    Ok(())
}

/// A place for a new connection: a free one, or one freed by closing an idle connection.
async fn admit(places: &Arc<Semaphore>, open: &Connections) -> Option<OwnedSemaphorePermit> {
    if let Ok(place) = places.clone().try_acquire_owned() {
        return Some(place);
    }
    open.shed_one();
    tokio::time::timeout(QUEUE_WAIT, places.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Serves one connection until the client leaves, a limit closes it, or it is shed.
async fn connection(
    stream: TcpStream,
    app: Router,
    http: hyper::server::conn::http1::Builder,
    limits: ConnectionLimits,
    slot: Arc<Slot>,
    open: Arc<Connections>,
    _place: OwnedSemaphorePermit,
) {
    let io = TokioIo::new(Watchdog::new(stream, limits.idle_timeout));
    let in_flight = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let app = app.clone();
        let busy = Busy::start(in_flight.clone());
        let request = request.map(|body| Body::new(DeadlineBody::new(body, limits.body_timeout)));
        async move {
            let response = app.oneshot(request).await;
            drop(busy);
            response
        }
    });
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(event = "server.connection_error", error = %e);
                }
                break;
            }
            () = slot.shed.notified(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
    open.remove(slot.id);
}

/// The open connections, oldest first, for shedding and for shutdown.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

/// One open connection, as the accept loop sees it.
struct Slot {
    id: u64,
    /// Requests being handled now.
    in_flight: AtomicUsize,
    /// Set once the connection has been asked to close.
    shedding: AtomicBool,
    shed: Notify,
}

impl Connections {
    fn add(&self) -> Arc<Slot> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            id,
            in_flight: AtomicUsize::new(0),
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        });
        self.lock().insert(id, slot.clone());
        slot
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection with no request in flight to close; false if there is none.
    fn shed_one(&self) -> bool {
        let slots = self.lock();
        let idle = slots.values().find(|slot| {
            slot.in_flight.load(Ordering::Acquire) == 0
                && !slot.shedding.swap(true, Ordering::AcqRel)
        });
        match idle {
            Some(slot) => {
                slot.shed.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close once its request in flight, if any, is answered.
    fn shed_all(&self) {
        for slot in self.lock().values() {
            slot.shedding.store(true, Ordering::Release);
            slot.shed.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        // The map stays consistent whatever panicked while holding it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks a request in flight on its connection until dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn start(slot: Arc<Slot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body that fails once its deadline passes, however slowly it trickles in.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    /// Armed only when the body is not all there at once (most webhooks are).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + limit,
            sleep: None,
        }
    }
}

/// The error a body reports when it took too long.
#[derive(Debug, thiserror::Error)]
#[error("the request body took too long to arrive")]
struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyTimeout.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that fails with `TimedOut` once no byte has moved either way for its limit while
/// the server waits on it.
struct Watchdog {
    inner: TcpStream,
    limit: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Watchdog {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        let last = Instant::now();
        Self {
            inner,
            limit,
            last,
            sleep: Box::pin(tokio::time::sleep_until(last + limit)),
        }
    }

    fn progress<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.last = Instant::now();
        result
    }

    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        // The timer is re-armed only when it fires early (bytes moved since it was set), not
        // on every pending read: resetting it per request cost the webhook path measurably.
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let deadline = self.last + self.limit;
            if Instant::now() >= deadline {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

impl AsyncRead for Watchdog {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.waiting(cx),
            ready => this.progress(ready),
        }
    }
}

impl AsyncWrite for Watchdog {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.waiting(cx),
            ready => this.progress(ready),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.waiting(cx),
            ready => this.progress(ready),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
