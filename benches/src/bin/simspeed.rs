//! `simspeed`: the simulator's calls per wall-clock second on one thread, beside
//! the limit of the same work with no simulator (the same clients and server
//! over in-memory duplex pipes, `faultline_benches::duplex`), measured in one
//! run, round by round, so that machine load moves both alike. Prints one line
//! per workload and the ratio.

use std::time::{Duration, Instant};

use clap::Parser;
use faultline_benches::{duplex, simulated};

/// mimalloc rather than glibc's malloc, as in the criterion benches.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Simulator against duplex limit, alternating, on this thread.
#[derive(Debug, Parser)]
struct Args {
    /// Rounds; each runs every workload once per seed.
    #[arg(long, default_value_t = 5)]
    rounds: u64,
    /// Seeds per workload and round.
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// Calls per client (8 clients).
    #[arg(long, default_value_t = 125)]
    calls_per_client: u32,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    let workloads = [(1, 2), (1, 5), (20, 50)];
    let mut sim = vec![(0u64, Duration::ZERO); workloads.len()];
    let mut limit = (0u64, Duration::ZERO);
    let limit_scenario = simulated::throughput(1, 5, args.calls_per_client);
    for round in 0..args.rounds {
        for (i, &(min, max)) in workloads.iter().enumerate() {
            let scenario = simulated::throughput(min, max, args.calls_per_client);
            let start = Instant::now();
            for s in 0..args.seeds {
                sim[i].0 += simulated::run(&scenario, round * args.seeds + s);
            }
            sim[i].1 += start.elapsed();
        }
        let start = Instant::now();
        for s in 0..args.seeds {
            let local = tokio::task::LocalSet::new();
            limit.0 +=
                runtime.block_on(local.run_until(duplex::run(&limit_scenario, round * args.seeds + s)));
        }
        limit.1 += start.elapsed();
    }
    let rate = |(calls, wall): (u64, Duration)| calls as f64 / wall.as_secs_f64();
    let limit_rate = rate(limit);
    println!("duplex limit (no simulator), one thread: {limit_rate:.0} calls/s");
    for (i, (min, max)) in workloads.iter().enumerate() {
        let r = rate(sim[i]);
        println!(
            "simulator, links {min}-{max} ms, one thread: {r:.0} calls/s, {:.2}x slower than the limit",
            limit_rate / r
        );
    }
}
