//! Accepting connections: a cap on how many are open, and a deadline for the HTTP/2 preface,
//! neither of which tonic or hyper has.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// HTTP/2's connection preface (RFC 9113 §3.4) is 24 bytes; a peer that has not sent them
/// within the handshake timeout is not an HTTP/2 client, or is stalling on purpose.
const PREFACE_LEN: usize = 24;

/// Accepted connections, at most `max` open at once, each with a handshake deadline.
pub fn accept(
    listener: TcpListener,
    max: usize,
    handshake: Duration,
) -> impl Stream<Item = io::Result<Connection>> {
    let slots = Arc::new(Semaphore::new(max));
    async_stream::stream! {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::debug!(%peer, "connection refused: {max} already open");
                        continue; // dropping `stream` closes it
                    };
                    let _ = stream.set_nodelay(true);
                    yield Ok(Connection::new(stream, slot, handshake));
                }
                // The peer gave up before we got to it: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => {}
                Err(e) => {
                    // Out of file descriptors or memory: accepting again at once would spin.
                    tracing::warn!("accept failed, pausing: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One accepted TCP connection. It holds a slot of the connection cap until it is dropped,
/// and its reads fail once the handshake deadline passes without a full HTTP/2 preface, which
/// makes hyper close it.
pub struct Connection {
    // Declared first so the slot is free before the peer can see the socket close.
    _slot: OwnedSemaphorePermit,
    stream: TcpStream,
    /// Armed until the preface is in.
    handshake: Option<Pin<Box<Sleep>>>,
    received: usize,
}

impl Connection {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, handshake: Duration) -> Self {
        Self { _slot: slot, stream, handshake: Some(Box::pin(tokio::time::sleep(handshake))), received: 0 }
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
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

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
