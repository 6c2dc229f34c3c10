//! Any server over the network (`faultline conformance --target ADDR`): every transcript's
//! client side replayed over real TCP (HTTP/2 without TLS, h2c) to the server at an address,
//! one connection per call, through the same tap as the in-process run against the Rust server.
//!
//! Nothing here knows what implements the target. Before the first case a probe checks that
//! something answers HTTP/2 at the address (a TCP connection and a PING's reply, each within
//! [`CONNECT_TIMEOUT`]), so an unreachable target, or one that speaks TLS or HTTP/1, is one clear
//! error rather than a run of identical failures; after it, every call is bounded by the
//! replay's budget ([`crate::replay::budget`]) plus one connect timeout.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::replay::{DEADLINE_GRACE, blank, budget, replay_client_side_to};
use crate::rules::Rules;
use crate::transcript::{Call, CallStatus, StatusSource};

/// The longest a TCP connection to the target, or the probe's HTTP/2 PING, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a target cannot be run against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("`{0}` is not HOST:PORT")]
    BadAddress(String),
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("{addr} does not speak HTTP/2 without TLS (h2c), as a gRPC server must here: {reason}")]
    NotHttp2 { addr: String, reason: String },
}

/// A server to replay against: the address as given (`HOST:PORT`; an `http://` prefix is
/// allowed), which is also the calls' `:authority`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    addr: String,
}

impl Target {
    /// Checks that `addr` looks like `HOST:PORT` (it is resolved on every connection).
    pub fn new(addr: &str) -> Result<Self, TargetError> {
        let bare = addr.strip_prefix("http://").unwrap_or(addr).trim_end_matches('/');
        let bad = || TargetError::BadAddress(addr.to_owned());
        let (host, port) = bare.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() || bare.contains('/') {
            return Err(bad());
        }
        Ok(Self { addr: bare.to_owned() })
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A fresh TCP connection, within [`CONNECT_TIMEOUT`].
    pub async fn connect(&self) -> Result<TcpStream, TargetError> {
        let unreachable = |reason: String| TargetError::Unreachable { addr: self.addr.clone(), reason };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr.as_str())).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable(format!("no connection within {CONNECT_TIMEOUT:?}"))),
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Whether the target answers HTTP/2: connects, sends the preface and a PING, and waits for
    /// its reply (each step within [`CONNECT_TIMEOUT`]).
    pub async fn probe(&self) -> Result<(), TargetError> {
        let io = self.connect().await?;
        let not_h2 = |reason: String| TargetError::NotHttp2 { addr: self.addr.clone(), reason };
        let exchange = async {
            let (client, mut connection) = h2::client::handshake(io).await.map_err(|e| e.to_string())?;
            let mut ping_pong = connection.ping_pong().ok_or("no PING available")?;
            let driven = tokio::spawn(connection);
            let pong = ping_pong.ping(h2::Ping::opaque()).await;
            drop(client);
            driven.abort();
            pong.map(drop).map_err(|e| e.to_string())
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, exchange).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(not_h2(reason)),
            Err(_) => Err(not_h2(format!("no answer to an HTTP/2 PING within {CONNECT_TIMEOUT:?}"))),
        }
    }

    /// Replays `call`'s client side on a fresh connection and returns what came back. Never
    /// takes longer than the call's budget, its deadline grace and one connect timeout.
    pub async fn call(&self, call: &Call, rules: &Rules) -> Call {
        let io = match self.connect().await {
            Ok(io) => io,
            Err(e) => return failed(call, e.to_string()),
        };
        // The replay bounds the call itself; this bounds the HTTP/2 handshake before it too.
        let limit = budget(call) + DEADLINE_GRACE;
        match tokio::time::timeout(limit, replay_client_side_to(io, call, rules, &self.addr)).await {
            Ok(observed) => observed,
            Err(_) => failed(call, format!("no end to the call within {limit:?}")),
        }
    }
}

/// An observation of a call that never got going: UNAVAILABLE, made up by the replay.
fn failed(call: &Call, why: String) -> Call {
    let mut observed = blank(call);
    observed.status = CallStatus::new(tonic::Code::Unavailable, why, StatusSource::Client);
    observed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for (given, addr) in [
            ("127.0.0.1:50051", "127.0.0.1:50051"),
            ("http://localhost:8080/", "localhost:8080"),
            ("[::1]:50051", "[::1]:50051"),
        ] {
            assert_eq!(Target::new(given).unwrap().addr(), addr);
        }
        for bad in ["", "localhost", ":50051", "host:port", "host:70000", "https://h:1", "h:1/x"] {
            assert_eq!(Target::new(bad), Err(TargetError::BadAddress(bad.to_owned())), "{bad}");
        }
    }
}
