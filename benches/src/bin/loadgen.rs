//! `loadgen`: puts a closed-loop load of one method on a gRPC server over
//! loopback and prints one JSON line of throughput. Used by `ci/bench.sh` to
//! drive the Rust and the grpcio servers with the same client.
//!
//! Exit codes: 0 ok, 1 the server answered wrongly or calls failed, 2 bad
//! arguments or the server is unreachable.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use faultline_benches::load::{self, LoadSpec};
use faultline_benches::{CallKind, Mode, calls};
use serde::Serialize;

/// mimalloc rather than glibc's malloc: a simulated run allocates for every
/// frame, message and trace event, and runs about 1.25x faster with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Closed-loop gRPC load over loopback: `--in-flight` calls at a time over
/// `--connections` HTTP/2 connections, measured for `--duration-ms` after a
/// `--warmup-ms` warm-up.
#[derive(Debug, Parser)]
struct Args {
    /// The server, e.g. 127.0.0.1:50051.
    #[arg(long)]
    addr: SocketAddr,
    /// say-hello, get-feature, list-features, record-route or route-chat.
    #[arg(long)]
    kind: CallKind,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// HTTP/2 connections (default: one per 8 calls in flight).
    #[arg(long)]
    connections: Option<usize>,
    /// Runtime worker threads (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Warm-up before measuring, milliseconds.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Measured time, milliseconds.
    #[arg(long, default_value_t = 3_000)]
    duration_ms: u64,
    /// Use the generated clients (decode every reply) instead of raw bytes.
    #[arg(long)]
    typed: bool,
    /// Skip checking the server's answers before the load.
    #[arg(long)]
    no_verify: bool,
}

#[derive(Debug, Serialize)]
struct Line {
    kind: &'static str,
    unit: &'static str,
    in_flight: usize,
    connections: usize,
    calls: u64,
    units: u64,
    errors: u64,
    seconds: f64,
    calls_per_sec: f64,
    units_per_sec: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let in_flight = args.in_flight.max(1);
    let connections = args.connections.unwrap_or(in_flight.div_ceil(8)).clamp(1, in_flight);
    let channels = match load::connect(args.addr, connections).await {
        Ok(channels) => channels,
        Err(e) => {
            eprintln!("loadgen: cannot connect to {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    if !args.no_verify
        && let Err(e) = calls::verify(channels[0].clone()).await
    {
        eprintln!("loadgen: the server at {} answers wrongly: {e}", args.addr);
        return ExitCode::from(1);
    }
    let mode = if args.typed { Mode::Typed } else { Mode::Raw };
    let spec = LoadSpec { kind: args.kind, in_flight, connections, mode };
    let tally = load::run_for(
        &channels,
        spec,
        Duration::from_millis(args.warmup_ms),
        Duration::from_millis(args.duration_ms),
    )
    .await;
    let line = Line {
        kind: args.kind.name(),
        unit: args.kind.unit(),
        in_flight,
        connections,
        calls: tally.calls,
        units: tally.units,
        errors: tally.errors,
        seconds: tally.elapsed.as_secs_f64(),
        calls_per_sec: tally.calls_per_sec(),
        units_per_sec: tally.units_per_sec(),
    };
    println!("{}", serde_json::to_string(&line).expect("plain numbers serialize"));
    if tally.errors > 0 || tally.calls == 0 {
        eprintln!("loadgen: {} calls failed, {} succeeded", tally.errors, tally.calls);
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
