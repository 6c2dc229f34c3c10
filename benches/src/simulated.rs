//! Simulated workloads: the harness's own throughput, in calls per
//! wall-clock second, with every property checked as in `faultline run`.

use std::time::Duration;

use faultline_sim::Fault;
use faultline_tutorial::Scenario;

/// Client hosts of a throughput scenario.
pub const CLIENTS: u32 = 8;
/// Calls each client keeps in flight.
pub const CONCURRENCY: u32 = 8;

/// A fault-free scenario with no think time: `CLIENTS` clients each making
/// `calls_per_client` calls of the generated six-method mix, `CONCURRENCY`
/// at a time, over links of `min_ms..=max_ms` one-way latency.
pub fn throughput(min_ms: u64, max_ms: u64, calls_per_client: u32) -> Scenario {
    Scenario::new(&format!("throughput-{min_ms}-{max_ms}ms"))
        .description("no faults, no think time: raw simulated throughput")
        .clients(CLIENTS)
        .concurrency(CONCURRENCY)
        .calls_per_client(calls_per_client)
        .think(Duration::ZERO)
        .route_pause(Duration::ZERO, Duration::ZERO)
        .latency(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
}

/// The same, with the fault proxy between clients and server on a clean
/// path: a frame-reorder window of 1 reorders nothing, so every frame is
/// parsed and forwarded but none is touched.
pub fn through_clean_proxy(min_ms: u64, max_ms: u64, calls_per_client: u32) -> Scenario {
    // The fault puts the proxy in the path for the whole run; its window is one tick, so the
    // recovery probes start as soon as the workload is done (a window of 1 reorders nothing).
    let one_tick = Duration::from_millis(1);
    let mut scenario = throughput(min_ms, max_ms, calls_per_client).fault(
        Duration::ZERO,
        one_tick,
        Fault::FrameReorder { window: 1, max_delay_ms: 0 },
    );
    scenario.name = format!("clean-proxy-{min_ms}-{max_ms}ms");
    scenario
}

/// Runs `scenario` under `seed`; returns the workload calls made. Panics
/// when a property fails: a benchmark of a broken run measures nothing.
pub fn run(scenario: &Scenario, seed: u64) -> u64 {
    let report = faultline_tutorial::run(scenario, seed);
    assert!(
        report.passed() && report.failed_calls == 0,
        "{} SEED={seed}: {} failed calls, violations {:?}",
        scenario.name,
        report.failed_calls,
        report.violations
    );
    report.calls as u64
}
