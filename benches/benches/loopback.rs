//! Real loopback TCP: each method's fixed workload (see
//! `faultline_benches::calls`) through the generated tonic clients against
//! the Rust server in the same process, 1 and 64 calls in flight.
//! Throughput is per unit: calls (unary), features (ListFeatures), points
//! (RecordRoute), round trips (RouteChat).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::calls::{CHAT_ROUND_TRIPS, ROUTE_POINTS};
use faultline_benches::load::{self, LoadSpec};
use faultline_benches::{CallKind, Mode, server};

/// mimalloc rather than glibc's malloc: a simulated run allocates for every
/// frame, message and trace event, and runs about 1.25x faster with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Features ListFeatures over the whole world returns from the reference database.
const WORLD_FEATURES: u64 = 100;

fn units_per_call(kind: CallKind) -> u64 {
    match kind {
        CallKind::SayHello | CallKind::GetFeature => 1,
        CallKind::ListFeatures => WORLD_FEATURES,
        CallKind::RecordRoute => ROUTE_POINTS as u64,
        CallKind::RouteChat => CHAT_ROUND_TRIPS as u64,
    }
}

fn loopback(c: &mut Criterion) {
    // Server and client share the machine's two cores, as they do in CI.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let addr = runtime.block_on(server::spawn()).expect("bind 127.0.0.1");
    let mut group = c.benchmark_group("loopback");
    for kind in CallKind::ALL {
        for in_flight in [1usize, 64] {
            let connections = in_flight.div_ceil(8);
            let channels = runtime.block_on(load::connect(addr, connections)).expect("connect to the server");
            let spec = LoadSpec { kind, in_flight, connections, mode: Mode::Typed };
            group.throughput(Throughput::Elements(units_per_call(kind)));
            group.bench_function(BenchmarkId::new(kind.name(), format!("{in_flight}-in-flight")), |b| {
                b.to_async(&runtime).iter_custom(|calls| {
                    let channels = channels.clone();
                    async move {
                        let tally = load::run_calls(&channels, spec, calls).await;
                        assert_eq!(tally.errors, 0, "{kind} calls failed");
                        tally.elapsed
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
