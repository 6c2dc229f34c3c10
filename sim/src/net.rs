//! tonic over turmoil: a client connector and a server incoming stream built on
//! turmoil's simulated TCP, so the real service code runs unchanged in the sim.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint};
use turmoil::net::{TcpListener, TcpStream};

use crate::trace::{EventKind, Trace};

/// The port every simulated gRPC server listens on (the tutorial's).
pub const GRPC_PORT: u16 = 50051;

/// A turmoil TCP stream that tonic's server accepts as a connection.
#[derive(Debug)]
pub struct SimStream(pub TcpStream);

impl Connected for SimStream {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SimStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Accepted connections of a turmoil listener, as tonic's `serve_with_incoming` wants them.
pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<SimStream>> {
    async_stream::stream! {
        loop {
            yield listener.accept().await.map(|(stream, _)| SimStream(stream));
        }
    }
}

/// Binds the gRPC port on the current simulated host.
pub async fn bind_grpc() -> io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", GRPC_PORT)).await
}

/// HTTP/2 settings every simulated client uses: keepalive finds dead
/// connections (turmoil's TCP never retransmits a lost segment).
#[derive(Debug, Clone, Copy)]
pub struct ClientNet {
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// Send an HTTP/2 PING after this much idle time.
    pub keepalive_interval: Duration,
    /// Close the connection when a PING is not answered within this.
    pub keepalive_timeout: Duration,
}

impl Default for ClientNet {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            keepalive_interval: Duration::from_millis(500),
            keepalive_timeout: Duration::from_millis(500),
        }
    }
}

/// A lazily connecting tonic channel from the current host (`from`, for the
/// trace) to `target` (`"server:50051"`) over turmoil TCP.
pub fn channel(from: &str, target: &str, net: ClientNet, trace: Trace) -> Channel {
    let from = from.to_owned();
    let target = target.to_owned();
    let host = target.split(':').next().unwrap_or_default().to_owned();
    Endpoint::from_shared(format!("http://{target}"))
        .expect("simulated targets are valid URIs")
        .connect_timeout(net.connect_timeout)
        .http2_keep_alive_interval(net.keepalive_interval)
        .keep_alive_timeout(net.keepalive_timeout)
        .keep_alive_while_idle(true)
        .connect_with_connector_lazy(tower::service_fn(move |_uri| {
            let (from, target, host, trace) = (from.clone(), target.clone(), host.clone(), trace.clone());
            async move {
                let result = TcpStream::connect(target.as_str()).await;
                trace.record(&from, EventKind::Connect { to: host, ok: result.is_ok() });
                result.map(TokioIo::new)
            }
        }))
}
