//! Connections, over any transport: a cap on how many are open, a deadline for the HTTP/2
//! preface (neither of which tonic or hyper has), and hyper's HTTP/2 server with every setting
//! taken from [`Limits`].

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::body::Body;
use tower::ServiceExt;
use tower::util::Oneshot;

use crate::{GrpcService, Limits};

/// HTTP/2's connection preface (RFC 9113 §3.4) is 24 bytes; a peer that has not sent them
/// within the handshake timeout is not an HTTP/2 client, or is stalling on purpose.
const PREFACE_LEN: usize = faultline_wire::frame::PREFACE.len();

/// A served connection: hyper's HTTP/2 server over a guarded transport.
pub type Connection<IO> =
    hyper::server::conn::http2::Connection<TokioIo<Guarded<IO>>, HyperService, TokioExecutor>;

/// The server's call path as hyper calls it.
#[derive(Clone)]
pub struct HyperService(pub(crate) GrpcService);

impl hyper::service::Service<http::Request<Incoming>> for HyperService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Oneshot<GrpcService, http::Request<Body>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.0.clone().oneshot(request.map(Body::new))
    }
}

/// An executor that hands hyper's per-stream futures to the task serving the connections, to
/// run there rather than as tasks of their own (see [`crate::Server::serve_in_task`]).
#[derive(Debug, Clone)]
pub struct InTask(pub(crate) tokio::sync::mpsc::UnboundedSender<futures::future::BoxFuture<'static, ()>>);

impl<F: std::future::Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for InTask {
    fn execute(&self, future: F) {
        // The receiver lives as long as the task serving the connections, and so do they.
        let _ = self.0.send(Box::pin(future));
    }
}

/// The HTTP/2 server settings of `limits`, spawning with `executor`; `date_header` off keeps
/// wall time out of responses.
pub(crate) fn http2<E>(
    limits: &Limits,
    date_header: bool,
    executor: E,
) -> hyper::server::conn::http2::Builder<E> {
    let mut http2 = hyper::server::conn::http2::Builder::new(executor);
    http2
        .timer(TokioTimer::new())
        .auto_date_header(date_header)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .keep_alive_interval(Some(limits.keepalive_interval))
        .keep_alive_timeout(limits.keepalive_timeout)
        .max_local_error_reset_streams(Some(limits.max_local_error_resets));
    http2
}

/// The connection cap: one slot per open connection.
#[derive(Debug, Clone)]
pub(crate) struct Slots(Arc<Semaphore>);

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))))
    }

    /// `io` guarded, or `None` (drop it: that closes it) when the cap is reached.
    pub(crate) fn admit<IO>(&self, io: IO, limits: &Limits) -> Option<Guarded<IO>> {
        let slot = self.0.clone().try_acquire_owned().ok()?;
        Some(Guarded {
            _slot: slot,
            io,
            handshake: Some(Box::pin(tokio::time::sleep(limits.handshake_timeout))),
            received: 0,
        })
    }
}

/// An admitted connection's transport. It holds a slot of the connection cap until it is
/// dropped, and its reads fail once the handshake deadline passes without a whole HTTP/2
/// preface, which makes hyper close it.
pub struct Guarded<IO> {
    // Declared first so the slot is free before the peer can see the socket close.
    _slot: OwnedSemaphorePermit,
    io: IO,
    /// Armed until the preface is in.
    handshake: Option<Pin<Box<Sleep>>>,
    received: usize,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(deadline) = this.handshake.as_mut() else { return read };
        match read {
            Poll::Ready(Ok(())) => {
                this.received += buf.filled().len() - before;
                if this.received >= PREFACE_LEN {
                    this.handshake = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no HTTP/2 preface in time")))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
