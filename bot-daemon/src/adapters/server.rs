//! The listeners' connection handling: what a slow, stalled or hostile client may hold.
//!
//! The HTTP listener runs its own accept loop (hyper's HTTP/1.1 server under the axum router)
//! so that every phase of a connection has a limit of its own (docs/reliability.md, "Hostile
//! clients"):
//! - a **connection cap**: at most [`Limits::max_http_connections`] open; more wait in the
//!   kernel's listen backlog until one closes, so the process never runs out of descriptors;
//! - a **header timeout**, from accepting the connection (or the first byte of a later request)
//!   to a complete request header; a connection that outlasts it is closed;
//! - a **body timeout**, from a complete header to a complete body, on every route: a request
//!   body that has not fully arrived by then fails to read (the webhook answers 408);
//! - an **idle timeout** for keep-alive connections between requests;
//! - **shutdown** closes idle connections at once and lets requests in progress finish; the
//!   daemon waits for all of it under one deadline ([`Limits::shutdown_timeout`]).
//!
//! Nothing here takes the webhook's processing slots: those are taken by the handler only after
//! the whole body has arrived and its signature checked (`http::WebhookSlots`).
//!
//! The gRPC listener is tonic's; [`GrpcIncoming`] gives it the same connection cap and closes
//! a connection that sends nothing (no HTTP/2 preface, no TLS hello) within the header timeout.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use hyper::{body::Incoming, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
    time::{Instant, Sleep},
};

use crate::{metrics::Metrics, throttle::ErrorThrottle};

/// How long clients may take and how many may connect: the defence against slow or hostile
/// clients (docs/reliability.md, "Hostile clients").
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// From accepting a connection (or the end of the previous request's body) to a complete
    /// request header, whenever the client has started one.
    pub header_timeout: std::time::Duration,
    /// From a complete header to a complete request body.
    pub body_timeout: std::time::Duration,
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout: std::time::Duration,
    /// Open HTTP connections at most; further ones wait in the listen backlog.
    pub max_http_connections: usize,
    /// Open gRPC connections at most; further ones wait in the listen backlog.
    pub max_grpc_connections: usize,
    /// Verified webhook deliveries processed at once; more wait for a slot.
    pub webhook_concurrency: usize,
    /// One deadline for the whole graceful shutdown (in-flight requests, sends, streams).
    pub shutdown_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        use std::time::Duration;
        Limits {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_http_connections: 4096,
            max_grpc_connections: 1024,
            webhook_concurrency: 256,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Decrements a gauge when dropped.
struct Open<'a>(&'a AtomicU64);

impl<'a> Open<'a> {
    fn new(gauge: &'a AtomicU64) -> Open<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Open(gauge)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a connection stands; the watchdog closes it when a phase outlasts its limit.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request header to complete, since the connection opened or since the first
    /// byte of a later request.
    Head(Instant),
    /// Between requests (keep-alive), since the last one ended.
    Idle(Instant),
    /// A request is being handled (its body is bounded by the body timeout).
    Busy,
}

/// One connection's phase, shared by its reader, its service and its watchdog.
struct Track {
    phase: Mutex<Phase>,
    in_flight: AtomicU64,
    changed: Notify,
}

impl Track {
    fn new() -> Track {
        Track {
            phase: Mutex::new(Phase::Head(Instant::now())),
            in_flight: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: Phase) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase;
        }
        self.changed.notify_one();
    }

    fn get(&self) -> Phase {
        self.phase.lock().map_or(Phase::Busy, |p| *p)
    }

    /// Bytes arrived: between requests, they start the next request's header.
    fn read_some(&self) {
        if let Ok(mut p) = self.phase.lock() {
            if let Phase::Idle(_) = *p {
                *p = Phase::Head(Instant::now());
                drop(p);
                self.changed.notify_one();
            }
        }
    }

    /// A request header is complete: the service runs.
    fn begin(self: &Arc<Track>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.set(Phase::Busy);
        Busy(self.clone())
    }
}

/// Ends the busy phase when the service's future completes (or is dropped).
struct Busy(Arc<Track>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.set(Phase::Idle(Instant::now()));
        }
    }
}

/// The socket, telling its [`Track`] when bytes arrive.
struct Tracked {
    inner: TcpStream,
    track: Arc<Track>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.track.read_some();
        }
        r
    }
}

/// Writes go straight to the socket in `self.inner`; only reads are watched.
macro_rules! write_through {
    ($t:ty) => {
        impl AsyncWrite for $t {
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
            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
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
    };
}

write_through!(Tracked);

/// The error a request body yields when it has not arrived by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails once its deadline passes.
struct TimeoutBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
    stats: Arc<Metrics>,
}

impl http_body::Body for TimeoutBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.stats
                .conns
                .body_timeouts
                .fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// True when `e` or any error it was caused by is a `T`.
pub fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Serves `app` on `listener` under `limits` until `shutdown` turns true, then closes idle
/// connections, lets requests in progress finish, and returns when every connection has ended.
///
/// # Errors
/// None today: accept errors (a full descriptor table included) are logged and retried.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_http_connections));
    let mut conns = JoinSet::new();
    let mut accept_errors = ErrorThrottle::new(Duration::from_secs(10));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopping(&mut shutdown) => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if let Some(repeats) = accept_errors.check(&e.to_string(), std::time::Instant::now()) {
                        tracing::warn!(error = %e, repeats, "accepting an HTTP connection failed");
                    }
                    // A full descriptor table frees up as connections time out.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        while conns.try_join_next().is_some() {}
        // Small answers go out at once (no Nagle wait on the webhook's 200).
        let _ = stream.set_nodelay(true);
        conns.spawn(serve_conn(
            stream,
            app.clone(),
            limits.clone(),
            stats.clone(),
            shutdown.clone(),
            permit,
        ));
    }
    // Stop accepting at once: new clients are refused, not left hanging.
    drop(listener);
    while conns.join_next().await.is_some() {}
    Ok(())
}

async fn serve_conn(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    stats: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _open = Open::new(&stats.conns.http_open);
    let track = Arc::new(Track::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        track: track.clone(),
    });
    let (svc_track, svc_stats, body_timeout) = (track.clone(), stats.clone(), limits.body_timeout);
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let busy = svc_track.begin();
        let stats = svc_stats.clone();
        let req = req.map(|inner| {
            axum::body::Body::new(TimeoutBody {
                inner,
                sleep: Box::pin(tokio::time::sleep(body_timeout)),
                limit: body_timeout,
                stats,
            })
        });
        let mut app = app.clone();
        async move {
            let response = tower::Service::call(&mut app, req).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header timeout is this module's watchdog (hyper's would also cut idle keep-alives).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let deadline = match track.get() {
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy => None,
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            () = stopping(&mut shutdown), if !closing => {
                // Idle connections close at once; a request in progress finishes first.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = track.changed.notified() => {}
            // Still watched while closing: a half-sent header must not hold up a shutdown.
            () = sleep_until_some(deadline) => match track.get() {
                Phase::Head(since) if since.elapsed() >= limits.header_timeout => {
                    stats.conns.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("closing a connection whose request header did not arrive in time");
                    break;
                }
                Phase::Idle(since) if since.elapsed() >= limits.idle_timeout => {
                    if closing {
                        break;
                    }
                    stats.conns.idle_closed.fetch_add(1, Ordering::Relaxed);
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ => {}
            },
        }
    }
}

/// Resolves once `shutdown` is true (the watch's guard is not held across an await).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The gRPC listener's connections for tonic: capped at `max`, each closed if it sends nothing
/// within `silent_limit` (no HTTP/2 preface, no TLS hello).
pub struct GrpcIncoming {
    rx: mpsc::Receiver<io::Result<CappedStream>>,
}

impl GrpcIncoming {
    /// Accepts on `listener` until `shutdown` turns true or tonic stops listening.
    pub fn new(
        listener: TcpListener,
        max: usize,
        silent_limit: Duration,
        stats: Arc<Metrics>,
        mut shutdown: watch::Receiver<bool>,
    ) -> GrpcIncoming {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(max));
            let mut accept_errors = ErrorThrottle::new(Duration::from_secs(10));
            loop {
                let permit = tokio::select! {
                    p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    () = stopping(&mut shutdown) => break,
                    () = tx.closed() => break,
                };
                let stream = tokio::select! {
                    r = listener.accept() => match r {
                        Ok((s, _)) => s,
                        Err(e) => {
                            if let Some(repeats) = accept_errors.check(&e.to_string(), std::time::Instant::now()) {
                                tracing::warn!(error = %e, repeats, "accepting a gRPC connection failed");
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = stopping(&mut shutdown) => break,
                    () = tx.closed() => break,
                };
                // TCP_NODELAY: a unary answer is two writes (headers+data, trailers); with
                // Nagle on, the second waits for the client's delayed ACK — 40 ms on every
                // call (docs/benchmarks.md, "Agent API at size").
                let _ = stream.set_nodelay(true);
                stats.conns.grpc_open.fetch_add(1, Ordering::Relaxed);
                let capped = CappedStream {
                    inner: stream,
                    silent: Some(Box::pin(tokio::time::sleep(silent_limit))),
                    stats: stats.clone(),
                    _permit: permit,
                };
                if tx.send(Ok(capped)).await.is_err() {
                    break;
                }
            }
        });
        GrpcIncoming { rx }
    }
}

impl tokio_stream::Stream for GrpcIncoming {
    type Item = io::Result<CappedStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A gRPC connection holding one of the listener's slots until it closes.
pub struct CappedStream {
    inner: TcpStream,
    /// Until the first byte arrives: the deadline for it.
    silent: Option<Pin<Box<Sleep>>>,
    stats: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for CappedStream {
    fn drop(&mut self) {
        self.stats.conns.grpc_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl tonic::transport::server::Connected for CappedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::Connected::connect_info(&self.inner)
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.silent = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if let Some(s) = self.silent.as_mut() {
                    if s.as_mut().poll(cx).is_ready() {
                        self.silent = None;
                        self.stats
                            .conns
                            .grpc_silent_closed
                            .fetch_add(1, Ordering::Relaxed);
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client sent nothing in time",
                        )));
                    }
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

write_through!(CappedStream);

/// Raises the soft descriptor limit to the hard one (as Go's runtime does) and returns the
/// limit in force, so the connection caps can be checked against it.
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
        #[allow(unsafe_code)]
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        // rlim_t is u64 on Linux but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        Some(cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}
