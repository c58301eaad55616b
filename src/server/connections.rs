//! Accepting connections and keeping hostile or forgetful clients from holding them: a cap on
//! open connections, a deadline for a request's header once its first byte has arrived, an idle
//! timeout between requests on a kept-alive connection, and a graceful drain on shutdown.
//!
//! The deadlines live in [`GuardedStream`], a wrapper around each socket that knows (from the
//! service wrapper) whether a request is being answered: between requests a connection may be
//! idle for `idle_timeout`, and once a new request's first byte arrives its head must be complete
//! within `header_read_timeout`. A request's body is bounded where it is read (see
//! `api::body`), and the request as a whole by the router's request deadline.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::Service;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionSettings {
    /// From a request's first byte to its complete head.
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request in progress and nothing arriving.
    pub idle_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long in-flight requests get to finish once shutdown starts.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// What one connection is doing, shared by its stream guard and its service wrapper.
struct ConnectionState {
    in_progress: AtomicUsize,
    clock: Mutex<Clock>,
}

struct Clock {
    last_activity: Instant,
    /// When the first byte of a request head not yet parsed arrived.
    head_started: Option<Instant>,
}

impl ConnectionState {
    fn new() -> Self {
        Self {
            in_progress: AtomicUsize::new(0),
            clock: Mutex::new(Clock {
                last_activity: Instant::now(),
                head_started: None,
            }),
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bytes_arrived(&self) {
        let idle = self.in_progress.load(Ordering::Acquire) == 0;
        let mut clock = self.clock();
        let now = Instant::now();
        clock.last_activity = now;
        if idle && clock.head_started.is_none() {
            clock.head_started = Some(now);
        }
    }

    fn request_started(&self) {
        self.in_progress.fetch_add(1, Ordering::AcqRel);
        self.clock().head_started = None;
    }

    fn request_finished(&self) {
        self.in_progress.fetch_sub(1, Ordering::AcqRel);
        let mut clock = self.clock();
        clock.last_activity = Instant::now();
        clock.head_started = None;
    }

    /// When the connection must have made progress by; `None` while a request is answered.
    fn deadline(&self, settings: &ConnectionSettings) -> Option<Instant> {
        if self.in_progress.load(Ordering::Acquire) > 0 {
            return None;
        }
        let clock = self.clock();
        Some(match clock.head_started {
            Some(started) => started + settings.header_read_timeout,
            None => clock.last_activity + settings.idle_timeout,
        })
    }
}

/// A socket that fails its reads once the connection's deadline has passed, which makes hyper
/// close it.
struct GuardedStream<S> {
    inner: S,
    state: Arc<ConnectionState>,
    settings: ConnectionSettings,
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.state.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = self.state.deadline(&self.settings) else {
                    return Poll::Pending;
                };
                self.timer.as_mut().reset(deadline);
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no complete request in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
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

/// The router, telling the connection (and the drain count) when a request is in progress.
#[derive(Clone)]
struct Tracked {
    router: Router,
    connection: Arc<ConnectionState>,
    in_flight: Arc<AtomicUsize>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>;

impl Service<hyper::Request<Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        let guard = InProgress::start(&self.connection, &self.in_flight);
        let answer = self.router.call(request);
        Box::pin(async move {
            let response = answer.await?;
            // A streamed answer (gRPC streams, among others) is in progress until its body ends.
            Ok(response.map(|body| {
                axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                    let _ = &guard;
                    frame
                }))
            }))
        })
    }
}

/// A request from its head until its answer's body is sent or dropped.
struct InProgress {
    connection: Arc<ConnectionState>,
    in_flight: Arc<AtomicUsize>,
}

impl InProgress {
    fn start(connection: &Arc<ConnectionState>, in_flight: &Arc<AtomicUsize>) -> Self {
        connection.request_started();
        in_flight.fetch_add(1, Ordering::AcqRel);
        Self {
            connection: Arc::clone(connection),
            in_flight: Arc::clone(in_flight),
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.connection.request_finished();
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where connections come from: a TCP port, or a Unix socket (`--uds-path`).
pub trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Listener for TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<Self::Stream> {
        let (stream, _) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;

    async fn accept(&self) -> io::Result<Self::Stream> {
        Ok(tokio::net::UnixListener::accept(self).await?.0)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// in-flight requests finish (up to `shutdown_timeout`) and says in the log what was drained.
pub async fn serve(
    listener: impl Listener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut builder = Builder::new(TokioExecutor::new());
    // The guard enforces the header deadline (hyper's own would also cut idle connections).
    builder.http1().keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(io::Error::other)?,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(error) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Arc::new(ConnectionState::new());
        let io = TokioIo::new(GuardedStream {
            inner: stream,
            state: Arc::clone(&connection),
            settings,
            timer: Box::pin(tokio::time::sleep(settings.idle_timeout)),
        });
        let service = TowerToHyperService::new(Tracked {
            router: router.clone(),
            connection,
            in_flight: Arc::clone(&in_flight),
        });
        let served = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = served.await {
                tracing::debug!(error = %error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = settings.max_connections.max(1) - permits.available_permits();
    let requests = in_flight.load(Ordering::Acquire);
    tracing::info!(
        connections = open,
        requests,
        timeout_s = settings.shutdown_timeout.as_secs_f64(),
        "shutting down: no new connections; draining in-flight requests"
    );
    let started = Instant::now();
    match tokio::time::timeout(settings.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!(
            requests_answered = requests,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "drained: every in-flight request was answered"
        ),
        Err(_) => tracing::warn!(
            requests_unanswered = in_flight.load(Ordering::Acquire),
            "shutdown timeout reached with requests still in flight"
        ),
    }
    Ok(())
}
