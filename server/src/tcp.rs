//! The server on a real network: accepting TCP connections, and shutting down gracefully.
//!
//! On the shutdown signal the listener closes (new connections are refused) and every
//! connection gets a GOAWAY; in-flight calls have `shutdown_grace` to finish. Calls still
//! running then are cut off with UNAVAILABLE, and connections still open [`DRAIN`] later are
//! dropped (a peer that reads nothing would otherwise hold the process forever).

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::Server;

/// How long calls cut off at the end of the grace period get to send their UNAVAILABLE.
pub const DRAIN: Duration = Duration::from_secs(2);

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every call finished within the grace period.
    Clean,
    /// This many calls were still running at the end of it and were cut off; every
    /// connection then closed.
    CutOff(usize),
    /// Calls were cut off, and some connections were still open [`DRAIN`] later: dropped.
    Dropped(usize),
}

/// Serves `listener` until `signal` resolves, then shuts down as the module says.
pub async fn serve(server: &Server, listener: TcpListener, signal: impl Future<Output = ()>) -> Shutdown {
    let graceful = GracefulShutdown::new();
    {
        let mut signal = std::pin::pin!(signal);
        loop {
            tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let Some(io) = server.admit(stream) else {
                            tracing::debug!(%peer, "connection refused: the connection cap is reached");
                            continue;
                        };
                        let connection = graceful.watch(server.serve_connection(io));
                        tokio::spawn(async move {
                            // A connection ending in error is its peer's business.
                            let _ = connection.await;
                        });
                    }
                    // The peer gave up before we got to it: nothing to do.
                    Err(e) if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
                    ) => {}
                    Err(e) => {
                        // Out of file descriptors or memory: accepting again at once would spin.
                        tracing::warn!("accept failed, pausing: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }
    drop(listener);
    let mut closed = std::pin::pin!(graceful.shutdown());
    let grace = server.config().limits.shutdown_grace;
    if tokio::time::timeout(grace, &mut closed).await.is_ok() {
        return Shutdown::Clean;
    }
    server.cut_off();
    match tokio::time::timeout(DRAIN, &mut closed).await {
        Ok(()) => Shutdown::CutOff(server.cut_off_calls()),
        Err(_) => Shutdown::Dropped(server.cut_off_calls()),
    }
}
