//! Load against a running `faultline serve`: many concurrent streams on a few connections,
//! some abandoned mid-call, every completed call checked exactly; reports what the server held
//! and the memory it used. Loopback only, bounded in count and time: it stops by itself.
//!
//! ```sh
//! faultline serve all --addr 127.0.0.1:0 &      # prints `listening on ADDR`
//! cargo run --release --example load -- --addr ADDR --server-pid PID
//! ```
//! `ci/load.sh` does both. Exit code 0 when every check held, 1 otherwise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, RouteNote, RouteSummary};
use faultline_services::FeatureDb;
use faultline_services::geo::RouteAccumulator;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug, Parser)]
struct Args {
    /// The server, on this machine (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// The server's process id, to read its memory use from /proc (Linux).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Streams held open at once: half RouteChat, half RecordRoute.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Connections the streams share (each carries streams / connections).
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// One call in this many is abandoned mid-stream (cancelled) instead of completed.
    #[arg(long, default_value_t = 10)]
    abandon_every: usize,
    /// Hold-and-release rounds, one after another on the same connections (memory that grows
    /// round after round would be a leak).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 180)]
    deadline: u64,
}

/// How one call ended.
#[derive(Debug)]
enum Outcome {
    Exact,
    Abandoned,
    Wrong(String),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!("error: load is for loopback addresses only, not {}", args.addr);
        return std::process::ExitCode::from(2);
    }
    let deadline = Duration::from_secs(args.deadline);
    match tokio::time::timeout(deadline, run(&args)).await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("FAILED: not done within {deadline:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resident and peak resident memory of `pid`, in KiB (Linux `/proc`).
fn memory_kib(pid: Option<u32>) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<RouteGuideClient<Channel>> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    Ok(RouteGuideClient::new(channel))
}

fn note(i: usize, message: &str) -> RouteNote {
    // A location of its own per chat, so replies show any leak between calls.
    let i = i as i32;
    RouteNote { location: Some(Point { latitude: i / 1000, longitude: i % 1000 }), message: message.into() }
}

/// A route of distinct points, every third one a database location.
fn route(db: &FeatureDb, i: usize) -> Vec<Point> {
    (0..10)
        .map(|k| match k % 3 {
            0 => db.features()[(i + k) % db.features().len()].location.unwrap_or_default(),
            _ => Point { latitude: 400_000_000 + (i * 16 + k) as i32, longitude: -740_000_000 - k as i32 },
        })
        .collect()
}

fn summary(db: &FeatureDb, points: &[Point]) -> RouteSummary {
    let mut route = RouteAccumulator::new(None);
    for p in points {
        route.push(db, *p);
    }
    route.finish(0)
}

/// One RouteChat: two notes at its location (the reply to the second proves the server holds
/// the call), wait for the release, a third note, then half-close; expects exactly the
/// tutorial semantics' replies.
async fn chat(
    mut client: RouteGuideClient<Channel>,
    i: usize,
    abandon: bool,
    held: Arc<Semaphore>,
    mut release: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let (notes, outgoing) = mpsc::channel(4);
    notes.send(note(i, "a")).await?;
    notes.send(note(i, "b")).await?;
    let mut replies = client.route_chat(ReceiverStream::new(outgoing)).await?.into_inner();
    let first = replies.message().await?;
    held.add_permits(1);
    release.wait_for(|r| *r).await?;
    if abandon {
        return Ok(Outcome::Abandoned); // dropping the call resets its stream
    }
    notes.send(note(i, "c")).await?;
    drop(notes);
    let mut got = vec![first];
    while let Some(reply) = replies.message().await? {
        got.push(Some(reply));
    }
    let want = vec![Some(note(i, "a")), Some(note(i, "a")), Some(note(i, "b"))];
    Ok(if got == want { Outcome::Exact } else { Outcome::Wrong(format!("chat {i}: {got:?}")) })
}

/// One RecordRoute: half its points, wait for the release, the other half; expects the
/// summary of exactly those points.
async fn record(
    mut client: RouteGuideClient<Channel>,
    db: Arc<FeatureDb>,
    i: usize,
    abandon: bool,
    held: Arc<Semaphore>,
    mut release: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let points = route(&db, i);
    let (tx, rx) = mpsc::channel(points.len());
    for p in &points[..5] {
        tx.send(*p).await?;
    }
    // The transport takes points from the channel only once the call's HTTP/2 stream is open
    // (within the server's stream limit): the fifth taken means the call is held.
    let mut taken = 0;
    let outgoing = ReceiverStream::new(rx).map(move |p| {
        taken += 1;
        if taken == 5 {
            held.add_permits(1);
        }
        p
    });
    let call = client.record_route(outgoing);
    let tail = points[5..].to_vec();
    let rest = async move {
        release.wait_for(|r| *r).await?;
        if abandon {
            return Ok::<bool, anyhow::Error>(false);
        }
        for p in tail {
            tx.send(p).await?;
        }
        Ok(true) // dropping `tx` half-closes the call
    };
    tokio::pin!(call);
    let mut rest = std::pin::pin!(rest);
    let response = tokio::select! {
        response = &mut call => response,
        finish = &mut rest => {
            if !finish? {
                return Ok(Outcome::Abandoned); // dropping `call` resets its stream
            }
            call.await
        }
    };
    let mut got = response?.into_inner();
    got.elapsed_time = 0;
    let want = summary(&db, &points);
    Ok(if got == want { Outcome::Exact } else { Outcome::Wrong(format!("route {i}: {got:?} != {want:?}")) })
}

/// What one round measured.
struct Round {
    open: Duration,
    probe: Duration,
    exact: usize,
    abandoned: usize,
    holding: Option<(u64, u64)>,
    after: Option<(u64, u64)>,
}

/// Opens every stream, holds them all at once, probes, releases, checks every outcome.
async fn round(
    args: &Args,
    db: &Arc<FeatureDb>,
    clients: &[RouteGuideClient<Channel>],
    probe: &mut RouteGuideClient<Channel>,
) -> anyhow::Result<Round> {
    let start = Instant::now();
    let held = Arc::new(Semaphore::new(0));
    let (release, released) = watch::channel(false);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..args.streams {
        let client = clients[i % clients.len()].clone();
        let abandon = args.abandon_every > 0 && (i / 2) % args.abandon_every == 0;
        let (held, released) = (held.clone(), released.clone());
        if i % 2 == 0 {
            calls.spawn(chat(client, i, abandon, held, released));
        } else {
            calls.spawn(record(client, db.clone(), i, abandon, held, released));
        }
    }
    // Every stream open at once: each chat has had a reply, each route is mid-way.
    let all = u32::try_from(args.streams)?;
    let opened = tokio::select! {
        permits = held.acquire_many(all) => permits?,
        Some(early) = calls.join_next() => anyhow::bail!("a call ended before all were open: {:?}", early?),
        () = tokio::time::sleep(Duration::from_secs(60)) => anyhow::bail!(
            "only {} of {} streams open after 60 s (is --max-concurrent-streams x connections enough?)",
            held.available_permits(),
            args.streams
        ),
    };
    opened.forget();
    let open = start.elapsed();
    let holding = memory_kib(args.server_pid);
    let probe_start = Instant::now();
    let feature = probe.get_feature(Point { latitude: 409146138, longitude: -746188906 }).await?;
    let probe_time = probe_start.elapsed();
    anyhow::ensure!(!feature.into_inner().name.is_empty(), "the probe GetFeature found nothing");

    release.send(true)?;
    let (mut exact, mut abandoned, mut wrong) = (0, 0, Vec::new());
    while let Some(outcome) = calls.join_next().await {
        match outcome?? {
            Outcome::Exact => exact += 1,
            Outcome::Abandoned => abandoned += 1,
            Outcome::Wrong(w) => wrong.push(w),
        }
    }
    for w in wrong.iter().take(10) {
        eprintln!("wrong: {w}");
    }
    anyhow::ensure!(wrong.is_empty(), "{} calls came back wrong", wrong.len());
    // The server still serves, on a fresh connection too.
    connect(args.addr).await?.get_feature(Point::default()).await?;
    Ok(Round { open, probe: probe_time, exact, abandoned, holding, after: memory_kib(args.server_pid) })
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let db = Arc::new(FeatureDb::reference());
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(connect(args.addr).await?);
    }
    let mut probe = connect(args.addr).await?;
    probe.get_feature(Point::default()).await?;
    let idle = memory_kib(args.server_pid);
    println!(
        "{} rounds of {} streams held at once on {} connections ({} RouteChat each confirmed by a reply, {} RecordRoute mid-route); one call in {} abandoned mid-stream",
        args.rounds,
        args.streams,
        clients.len(),
        args.streams.div_ceil(2),
        args.streams / 2,
        args.abandon_every,
    );
    if let Some((idle, _)) = idle {
        println!("server memory (RSS) idle: {}", mib(idle));
    }
    for r in 1..=args.rounds {
        let round = round(args, &db, &clients, &mut probe).await?;
        print!(
            "round {r}: all open in {:.2} s; GetFeature meanwhile on another connection {:.1} ms; {} completed exactly, {} abandoned",
            round.open.as_secs_f64(),
            round.probe.as_secs_f64() * 1e3,
            round.exact,
            round.abandoned
        );
        if let (Some((idle, _)), Some((holding, _)), Some((after, peak))) = (idle, round.holding, round.after)
        {
            print!(
                "; server RSS holding {} ({:.1} KiB per stream), after {}, peak {}",
                mib(holding),
                holding.saturating_sub(idle) as f64 / args.streams.max(1) as f64,
                mib(after),
                mib(peak)
            );
        }
        println!();
    }
    if let Some((own, _)) = memory_kib(Some(std::process::id())) {
        println!("load tool memory (RSS): {}; {:.2} s in all", mib(own), start.elapsed().as_secs_f64());
    }
    Ok(())
}
