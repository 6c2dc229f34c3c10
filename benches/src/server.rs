//! The Rust server in-process: both tutorial services on one loopback port,
//! built as `faultline serve all` builds them.

use std::net::SocketAddr;

use faultline_services::{Greeter, RouteGuide};
use tonic::transport::server::TcpIncoming;

/// Binds 127.0.0.1 on a free port and serves both services on the current
/// tokio runtime until the runtime shuts down; returns the address.
pub async fn spawn() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let router = tonic::transport::Server::builder()
        .add_service(Greeter.into_service())
        .add_service(RouteGuide::reference().into_service());
    tokio::spawn(async move {
        if let Err(e) = router.serve_with_incoming(incoming).await {
            eprintln!("loopback server failed: {e}");
        }
    });
    Ok(addr)
}
