//! `faultline serve`: the tutorial services over real TCP, hardened against hostile peers.
//!
//! Every limit is explicit (tonic's own defaults leave several open: unlimited streams per
//! connection, unlimited local-error resets, no handshake deadline, no connection cap) and is
//! a flag, so an operator can see and tune what the server promises.

mod budget;
mod cutoff;
mod listener;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use faultline_services::{Greeter, RouteGuide};
use tokio::net::TcpListener;

use crate::exit::Failure;

/// Which service to serve or call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// helloworld.Greeter (SayHello, SayHelloAgain).
    Greeter,
    /// routeguide.RouteGuide (GetFeature, ListFeatures, RecordRoute, RouteChat).
    RouteGuide,
    /// Both services on one port (`serve` only).
    All,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service to serve.
    service: Service,
    /// Address to listen on (the tutorial listens on port 50051).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    /// Most connections open at once; a connection past the cap is closed as soon as it is
    /// accepted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most concurrent calls (HTTP/2 streams) on one connection; a client queues the rest.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent_streams: u32,
    /// Largest request message in bytes; a bigger one fails its call (gRPC's usual 4 MiB).
    #[arg(long, default_value_t = 4 << 20)]
    max_message_size: usize,
    /// Most calls running at once, over all connections; a call past it fails at once with
    /// RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1..))]
    max_calls: u32,
    /// Most request bytes that running calls may have received, all calls together; a call
    /// that would pass it fails with RESOURCE_EXHAUSTED. RouteChat keeps every note until
    /// its call ends, so this is what bounds the memory a peer can make it hold.
    #[arg(long, default_value_t = 256 << 20)]
    max_inflight_bytes: usize,
    /// Seconds a new connection gets to send the HTTP/2 preface before it is closed.
    #[arg(long, default_value = "10", value_parser = seconds)]
    handshake_timeout: Duration,
    /// Seconds between HTTP/2 PINGs on each connection, to find dead or stalled peers.
    #[arg(long, default_value = "60", value_parser = seconds)]
    keepalive_interval: Duration,
    /// Seconds a PING may go unanswered before its connection is closed.
    #[arg(long, default_value = "20", value_parser = seconds)]
    keepalive_timeout: Duration,
    /// Seconds in-flight calls get to finish after SIGINT/SIGTERM; calls still running then
    /// end with UNAVAILABLE, and the server exits.
    #[arg(long, default_value = "10", value_parser = seconds)]
    shutdown_grace: Duration,
}

/// Parses a positive, finite number of seconds (fractions allowed).
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// hyper's own default, which tonic overrides with "unlimited" (a mitigation for streams a
/// peer provokes the server into resetting, CVE-2025-8671).
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// How long calls cut off at the end of the grace period get to send their UNAVAILABLE before
/// the process exits regardless (a peer that reads nothing would otherwise hold it forever).
const DRAIN: Duration = Duration::from_secs(2);

pub async fn run(args: ServeArgs) -> Result<(), Failure> {
    let signals = ShutdownSignals::install()
        .context("cannot listen for SIGINT/SIGTERM")
        .map_err(Failure::environment)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))
        .map_err(Failure::environment)?;
    let local = listener.local_addr().map_err(|e| Failure::environment(e.into()))?;
    // Tests and scripts read this line to learn the port when given port 0.
    println!("listening on {local}");

    let limit = args.max_message_size;
    let greeter = matches!(args.service, Service::Greeter | Service::All)
        .then(|| Greeter.into_service().max_decoding_message_size(limit));
    let route_guide = matches!(args.service, Service::RouteGuide | Service::All)
        .then(|| RouteGuide::reference().into_service().max_decoding_message_size(limit));
    let (cut_off_switch, cut_off) = cutoff::cut_off();
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(args.max_concurrent_streams)
        .http2_keepalive_interval(Some(args.keepalive_interval))
        .http2_keepalive_timeout(Some(args.keepalive_timeout))
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .layer(cut_off)
        .layer(budget::CallSlots::new(args.max_calls as usize))
        .layer(budget::RequestBudget::new(args.max_inflight_bytes))
        .add_optional_service(greeter)
        .add_optional_service(route_guide);

    let incoming = listener::accept(listener, args.max_connections as usize, args.handshake_timeout);
    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    let signal = async move {
        signals.recv().await;
        eprintln!("shutting down: in-flight calls have {:?} to finish", args.shutdown_grace);
        let _ = signalled.send(());
    };
    // On the signal tonic stops accepting, sends GOAWAY on every connection and waits for
    // their calls to end; the grace period bounds that wait.
    let server = router.serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(server);
    let grace_over = async move {
        if on_signal.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(args.shutdown_grace).await;
    };
    let served = tokio::select! {
        served = &mut server => served,
        () = grace_over => {
            cut_off_switch.pull();
            match tokio::time::timeout(DRAIN, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    eprintln!("shut down: dropped connections still open {DRAIN:?} after the grace period");
                    return Ok(());
                }
            }
        }
    };
    served.context("server failed").map_err(Failure::environment)?;
    match cut_off_switch.ended() {
        0 => eprintln!("shut down cleanly"),
        n => eprintln!(
            "shut down: {n} call(s) still running after the grace period were cut off with UNAVAILABLE"
        ),
    }
    Ok(())
}

/// Ctrl-C and SIGTERM, listened for from the moment they are installed: before the
/// `listening on` line, so a signal sent as soon as that line is read is never lost to the
/// default action (which would kill the process instead of shutting it down).
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves on the first signal.
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(seconds("0.25"), Ok(std::time::Duration::from_millis(250)));
        for bad in ["0", "-1", "x", "NaN", "inf", ""] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }
}
