//! `faultline serve`: the tutorial services over real TCP, hardened against hostile peers.
//!
//! Every limit is explicit (tonic's own defaults leave several open: unlimited streams per
//! connection, unlimited local-error resets, no handshake deadline, no connection cap) and is
//! a flag, so an operator can see and tune what the server promises.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use faultline_server::tcp::{self, Shutdown};
use faultline_server::{AbortHook, Limits, Server, ServerConfig, Services};
use tokio::net::TcpListener;

use faultline_sim::cli::Failure;

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

impl From<Service> for Services {
    fn from(service: Service) -> Self {
        match service {
            Service::Greeter => Services::Greeter,
            Service::RouteGuide => Services::RouteGuide,
            Service::All => Services::All,
        }
    }
}

// Defaults are `faultline_server::Limits::default()`'s (a test checks they agree).
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
    /// Largest request message in bytes; a bigger one fails its call with RESOURCE_EXHAUSTED
    /// (gRPC's usual 4 MiB).
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
    /// Answer calls whose metadata carries `faultline-abort-code` (and optionally
    /// `faultline-abort-message-bin`) with that status, for the conformance suite's
    /// status-message case, as the grpcio conformance server does.
    #[arg(long)]
    conformance_hook: bool,
}

impl ServeArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections as usize,
            max_concurrent_streams: self.max_concurrent_streams,
            max_message_size: self.max_message_size,
            max_calls: self.max_calls as usize,
            max_inflight_bytes: self.max_inflight_bytes,
            handshake_timeout: self.handshake_timeout,
            keepalive_interval: self.keepalive_interval,
            keepalive_timeout: self.keepalive_timeout,
            shutdown_grace: self.shutdown_grace,
            ..Limits::default()
        }
    }
}

/// Parses a positive, finite number of seconds (fractions allowed).
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

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

    let mut config = ServerConfig::new(args.service.into()).limits(args.limits());
    if args.conformance_hook {
        config = config.hook(std::sync::Arc::new(AbortHook));
    }
    let server = Server::new(config);
    let grace = args.shutdown_grace;
    let signal = async move {
        signals.recv().await;
        eprintln!("shutting down: in-flight calls have {grace:?} to finish");
    };
    match tcp::serve(&server, listener, signal).await {
        Shutdown::Clean => eprintln!("shut down cleanly"),
        Shutdown::CutOff(n) => eprintln!(
            "shut down: {n} call(s) still running after the grace period were cut off with UNAVAILABLE"
        ),
        Shutdown::Dropped(n) => eprintln!(
            "shut down: {n} call(s) cut off with UNAVAILABLE; dropped connections still open {:?} after the grace period",
            tcp::DRAIN
        ),
    }
    Ok(())
}

/// Ctrl-C and SIGTERM, listened for from the moment they are installed: before the
/// `listening on` line, so a signal sent as soon as that line is read is never lost to the
/// default action (which would kill the process instead of shutting it down).
pub(crate) struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub(crate) fn install() -> io::Result<Self> {
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
    pub(crate) async fn recv(mut self) {
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
    use clap::Parser;

    use super::*;

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(seconds("0.25"), Ok(std::time::Duration::from_millis(250)));
        for bad in ["0", "-1", "x", "NaN", "inf", ""] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_flags_default_to_the_server_crates_limits() {
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let cli = Cli::try_parse_from(["serve", "all"]).unwrap();
        assert_eq!(cli.serve.limits(), Limits::default());
    }
}
