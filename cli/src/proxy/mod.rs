//! `faultline proxy`: the simulator's gRPC-aware fault proxy (`faultline_proxy`, the same
//! code) between real clients and a real server over TCP.

mod control;
mod faults;
mod log;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use faultline_proxy::{Connection, Mode, Plan, Relay};
use faultline_sim::fault::{Fault, Injector};
use faultline_tutorial::Scenario;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::faults::{Faults, NewFault};
use self::log::Log;
use crate::serve::ShutdownSignals;
use faultline_sim::cli::Failure;
use faultline_sim::cli::parse_seed;

/// How long dialing the upstream server may take before the client's connection is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause after a failed accept (usually: out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on for gRPC clients (port 0: any free port; the `listening on` line
    /// says which).
    #[arg(long, default_value = "127.0.0.1:50052")]
    listen: SocketAddr,
    /// The gRPC server to forward to, as host:port (h2c: HTTP/2 without TLS).
    #[arg(long)]
    upstream: String,
    /// A scenario file (the TOML `faultline run --file` reads) whose proxy faults to apply:
    /// rst-stream, goaway, connection-reset, frame-reorder, frame-delay. Its other faults and
    /// knobs do not apply (they are listed on stderr); a file without proxy faults is an
    /// error. Windows (`at_ms`, `for_ms`) count from the proxy's start. Without a file the
    /// proxy forwards everything untouched until faults are added through `--control`.
    #[arg(long, value_name = "SCENARIO.toml")]
    file: Option<PathBuf>,
    /// Seed of the proxy's randomness (frame reordering and delays), decimal or 0x-hex; each
    /// connection draws from its own stream of it.
    #[arg(long, default_value = "0", value_parser = parse_seed)]
    seed: u64,
    /// Serve the control endpoint (HTTP/1.1, JSON) on this address: GET /faults, POST /faults,
    /// DELETE /faults[/ID] switch faults while the proxy runs.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Most client connections proxied at once; one past the cap is closed as soon as it is
    /// accepted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Worker threads. With one, a connection's reader and its two writers wake each other
    /// without crossing threads (RouteChat's ping-pong ran about twice as fast as on two, on a
    /// 2-core machine shared with client and server); raise it for many busy connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

/// Runs `faultline proxy` on a runtime of `--threads` workers.
pub fn main(args: ProxyArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .enable_all()
        .build()
        .context("cannot start a runtime")
        .map_err(Failure::environment)?;
    runtime.block_on(run(args))
}

/// The proxy faults of a scenario file, or an error for a file that has none.
fn faults_of(path: &Path) -> anyhow::Result<Vec<NewFault>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario file {}", path.display()))?;
    // Parsed, not validated as a simulation: its knobs (clients, limit_ms, ...) do not apply.
    let scenario: Scenario =
        toml::from_str(&text).with_context(|| format!("malformed scenario file {}", path.display()))?;
    if let Some(reason) = scenario.faults.iter().find_map(|f| f.fault.invalid()) {
        return Err(anyhow!("{}: {reason}", path.display()));
    }
    let (proxy, other): (Vec<_>, Vec<_>) =
        scenario.faults.into_iter().partition(|f| f.fault.injector() == Injector::Proxy);
    if proxy.is_empty() {
        return Err(anyhow!(
            "{} has no proxy faults ({}): nothing for the proxy to do",
            path.display(),
            Fault::names_of(Injector::Proxy).join(", ")
        ));
    }
    if !other.is_empty() {
        let names: Vec<&str> = other.iter().map(|f| f.fault.name()).collect();
        eprintln!("{}: not applied by the proxy: {}", path.display(), names.join(", "));
    }
    Ok(proxy
        .into_iter()
        .map(|f| NewFault { at_ms: f.at_ms, for_ms: Some(f.for_ms), fault: f.fault })
        .collect())
}

async fn run(args: ProxyArgs) -> Result<(), Failure> {
    let file_faults = args.file.as_deref().map(faults_of).transpose().map_err(Failure::environment)?;
    let signals = ShutdownSignals::install()
        .context("cannot listen for SIGINT/SIGTERM")
        .map_err(Failure::environment)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))
        .map_err(Failure::environment)?;
    let control = match args.control {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--control)"))
                .map_err(Failure::environment)?,
        ),
        None => None,
    };
    let local = listener.local_addr().map_err(|e| Failure::environment(e.into()))?;

    let start = Instant::now();
    let log = Log { start };
    let (relay, plans) = Relay::new(Plan::default(), Mode::Live(start));
    let mut faults = Faults::new(relay.clock(), plans);
    for new in file_faults.unwrap_or_default() {
        faults.add(new).map_err(|e| {
            Failure::environment(anyhow!("{}: {e}", args.file.as_deref().unwrap_or(Path::new("")).display()))
        })?;
    }
    // Tests and scripts read this line to learn the port when given port 0.
    println!("listening on {local}");
    let control_addr = control.as_ref().and_then(|l| l.local_addr().ok());
    log.event(
        "started",
        json!({ "upstream": args.upstream, "control": control_addr, "seed": args.seed, "faults": faults.entries() }),
    );
    let faults = Arc::new(Mutex::new(faults));
    if let Some(control) = control {
        tokio::spawn(control::serve(control, faults.clone(), log));
    }

    let open = Arc::new(AtomicUsize::new(0));
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    let shutdown = signals.recv();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
        };
        let Ok((client, _)) = accepted else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        if open.load(Ordering::Relaxed) >= args.max_connections as usize {
            continue;
        }
        let id = next_id;
        next_id += 1;
        open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(open.clone());
        let (relay, upstream) = (relay.clone(), args.upstream.clone());
        let seed = args.seed;
        connections.spawn(async move {
            let _guard = guard;
            proxy_one(relay, id, client, &upstream, seed, log).await;
        });
    }
    let n = connections.len();
    connections.shutdown().await;
    eprintln!("shut down: {n} connection(s) closed");
    Ok(())
}

/// Counts a connection as open until dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Dials the upstream for one client connection and proxies it; an unreachable upstream
/// closes the client's connection and is logged.
async fn proxy_one(relay: Arc<Relay>, id: u64, client: TcpStream, upstream: &str, seed: u64, log: Log) {
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => return unreachable(log, id, upstream, &e.to_string()),
        Err(_) => {
            return unreachable(log, id, upstream, &format!("no connection within {CONNECT_TIMEOUT:?}"));
        }
    };
    // Frames are written one by one; Nagle's algorithm would hold small ones back.
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id);
    let connection = Connection {
        id,
        client: client.into_split(),
        upstream: server.into_split(),
        rng,
        observer: Box::new(log),
        client_meter: None,
    };
    relay.serve(connection).await;
}

fn unreachable(log: Log, conn: u64, upstream: &str, error: &str) {
    log.event("upstream-unreachable", json!({ "conn": conn, "upstream": upstream, "error": error }));
}
