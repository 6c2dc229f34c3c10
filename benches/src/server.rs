//! The Rust server in-process: `faultline serve all`'s assembly on one loopback port.

use std::net::SocketAddr;

use faultline_server::{Server, ServerConfig, Services};

/// Binds 127.0.0.1 on a free port and serves both services on the current tokio runtime until
/// the runtime shuts down; returns the address.
pub async fn spawn() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let server = Server::new(ServerConfig::new(Services::All));
    tokio::spawn(async move {
        faultline_server::tcp::serve(&server, listener, std::future::pending()).await;
    });
    Ok(addr)
}
