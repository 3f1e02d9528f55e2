//! The listeners: an accept loop over hyper's HTTP/1 server with the limits
//! `axum::serve` leaves out.
//!
//! - **Request heads** must be complete within `http_header_timeout_secs`,
//!   counted from the connection's opening or from the head's first byte,
//!   and fit in `http_max_header_bytes` (hyper answers 431 beyond it).
//! - **Idle connections** waiting for their next request are closed after
//!   `http_idle_timeout_secs`. A request in flight (its response body
//!   included) is never cut by either timer.
//! - **Admission**: each connection needs a [`Permit`] (the open-files
//!   budget and the cap per address); one without is closed at once.
//!
//! Only HTTP/1.1 is spoken, as before: browsers speak HTTP/2 only over TLS,
//! which a reverse proxy in front terminates, and HTTP/1.1 is what proxies
//! speak to their upstreams.
//!
//! On shutdown the loop stops accepting, every connection finishes the
//! request it is serving and closes, and [`serve`] returns once all have.
//! Upgraded connections (WebSockets) leave hyper at the upgrade; the gateway
//! closes them itself.

use crate::admission::{Admission, Permit, Refusal};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::{Request, StatusCode, body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The per-connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time to send a whole request head.
    pub header_timeout: Duration,
    /// Time a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Largest request head, in bytes.
    pub max_header_bytes: usize,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &roomy_core::Config) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(config.http_header_timeout_secs),
            idle_timeout: Duration::from_secs(config.http_idle_timeout_secs),
            max_header_bytes: config.http_max_header_bytes,
        }
    }
}

/// Pause after `accept` failed for lack of descriptors or memory: long
/// enough not to spin, short enough to take connections again soon after
/// some closed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often refusals are logged at most (they come in floods).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a connection closed for idling may take to finish its close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown`, then drains its connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    admission: Arc<Admission>,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    // hyper's own head timer runs from the moment it waits for a head, so it
    // spans the idle time too; ours (below) is the tighter one. Both together
    // also cover a head pipelined behind the previous request.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout + limits.idle_timeout)
        .max_header_size(limits.max_header_bytes);
    let limits = Arc::new(limits);
    // Each connection task holds a receiver; `closed()` resolves once all are gone.
    let (drained_tx, drained_rx) = watch::channel(());
    let mut refusals = RefusalLog::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                on_accept_error(&e).await;
                continue;
            }
        };
        let permit = match admission.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                refuse(tcp, why);
                refusals.note(why, peer, &admission);
                continue;
            }
        };
        let conn = Connection {
            app: app.clone(),
            builder: builder.clone(),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            _drained: drained_rx.clone(),
        };
        tokio::spawn(conn.run(tcp, peer, permit));
    }
    drop(drained_rx);
    drained_tx.closed().await;
}

/// Closes a connection turned away, first telling an HTTP client why if
/// the socket takes the answer at once (it never waits).
fn refuse(tcp: TcpStream, why: Refusal) {
    let answer: &[u8] = match why {
        Refusal::Budget => {
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        }
        Refusal::PerAddress => {
            b"HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        }
    };
    let _ = tcp.try_write(answer);
}

/// Logs refused connections, at most once per [`REFUSAL_LOG_EVERY`].
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    fn note(&mut self, why: Refusal, peer: SocketAddr, admission: &Admission) {
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < REFUSAL_LOG_EVERY) {
            return;
        }
        match why {
            Refusal::Budget => tracing::warn!(
                open = admission.open(),
                budget = admission.budget(),
                refused = self.since,
                "connections refused: the open-files budget is spent"
            ),
            Refusal::PerAddress => tracing::warn!(
                %peer,
                refused = self.since,
                "connections refused: too many from one address (max_connections_per_ip)"
            ),
        }
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

/// What to do when `accept` fails: a client that gave up is nobody's
/// problem; running out of descriptors or memory calls for a short pause,
/// since connections closing will free them (retrying at once would spin).
async fn on_accept_error(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) {
        return;
    }
    let exhausted = matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if exhausted {
        tracing::warn!(error = %e, "accept failed: out of descriptors or memory; pausing");
    } else {
        tracing::error!(error = %e, "accept failed; pausing");
    }
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// One accepted connection and what it needs to be served.
struct Connection {
    app: Router,
    builder: http1::Builder,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
    _drained: watch::Receiver<()>,
}

impl Connection {
    async fn run(self, tcp: TcpStream, peer: SocketAddr, permit: Permit) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: tcp,
            activity: activity.clone(),
            _permit: permit,
        });
        let app = self.app;
        let on_request = activity.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let busy = on_request.busy();
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let response = app.oneshot(req.map(Body::new)).await?;
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    busy.activity.upgraded();
                }
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Tracked { body, _busy: busy }),
                )
            }
        });
        let conn = self.builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            let deadline = activity.deadline(&self.limits);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = activity.changed.notified() => {}
                _ = sleep_until(deadline) => {
                    if closing {
                        return;
                    }
                    if activity.deadline(&self.limits).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(%peer, "closing a connection that sent no request in time");
                        // Closing a connection with no request in flight
                        // loses nothing; a moment is left for a close in progress.
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        activity.close_by(Instant::now() + CLOSE_GRACE);
                    }
                }
                _ = self.shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Where a connection stands between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since this instant.
    Idle(Instant),
    /// Receiving a request head since this instant (a new connection starts here).
    Head(Instant),
    /// Requests in flight, their responses not yet sent whole.
    Busy(usize),
    /// Handed over to another protocol: no longer ours to time.
    Upgraded,
    /// Being closed: gone by this instant.
    Closing(Instant),
}

/// A connection's phase, shared by its socket (reads), its service
/// (requests and responses) and its task (the timers).
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    /// Wakes the connection's task when its deadline may have moved.
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed if nothing changes; `None` while
    /// it is busy or upgraded.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match *self.phase() {
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Closing(by) => Some(by),
            Phase::Busy(_) | Phase::Upgraded => None,
        }
    }

    /// Bytes arrived: from idle, a request head has begun.
    fn read_some(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// A request arrived: no timer runs until its response is sent.
    fn busy(self: &Arc<Self>) -> Busy {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Closing(by) => Phase::Closing(by),
            _ => Phase::Busy(1),
        };
        drop(phase);
        self.changed.notify_one();
        Busy {
            activity: self.clone(),
        }
    }

    fn upgraded(&self) {
        *self.phase() = Phase::Upgraded;
        self.changed.notify_one();
    }

    fn close_by(&self, by: Instant) {
        *self.phase() = Phase::Closing(by);
    }
}

/// A request in flight, until its response body is sent whole or dropped.
#[derive(Debug)]
struct Busy {
    activity: Arc<Activity>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut phase = self.activity.phase();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            Phase::Busy(_) => Phase::Idle(Instant::now()),
            other => other,
        };
        drop(phase);
        self.activity.changed.notify_one();
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when a request head begins and holding the
/// connection's place for as long as the socket lives.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    _permit: Permit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
