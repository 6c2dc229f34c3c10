//! The simulator's throughput in workload calls per wall-clock second: the
//! fault-free six-method mix (8 clients x 8 in flight, no think time) at
//! several link latencies, the same through the fault proxy on a clean path,
//! a sweep of seeds on every core; the same mix with no simulator at all (the
//! same clients and server over in-memory duplex pipes on one thread: the
//! limit of the work itself); and, for scale, the same mix made one call at a
//! time over real loopback TCP by the same client code.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::{duplex, server, simulated};
use faultline_sim::System;
use faultline_sim::system::{Caller, Plan};
use faultline_sim::trace::Trace;
use faultline_tutorial::Tutorial;
use faultline_wire::deadline::Deadline;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// mimalloc rather than glibc's malloc: a simulated run allocates for every
/// frame, message and trace event, and runs about 1.25x faster with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Calls per client in one simulated run (8 clients: 1000 calls a run).
const CALLS_PER_CLIENT: u32 = 125;

fn simulated(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    let calls = u64::from(simulated::CLIENTS * CALLS_PER_CLIENT);
    group.throughput(Throughput::Elements(calls));
    let scenarios = [
        ("latency", "1-2ms", simulated::throughput(1, 2, CALLS_PER_CLIENT)),
        ("latency", "1-5ms", simulated::throughput(1, 5, CALLS_PER_CLIENT)),
        ("latency", "20-50ms", simulated::throughput(20, 50, CALLS_PER_CLIENT)),
        ("clean-proxy", "1-5ms", simulated::through_clean_proxy(1, 5, CALLS_PER_CLIENT)),
    ];
    for (name, latency, scenario) in scenarios {
        group.bench_function(BenchmarkId::new(name, latency), |b| {
            b.iter_custom(|runs| {
                let start = Instant::now();
                for seed in 0..runs {
                    assert_eq!(simulated::run(&scenario, seed), calls);
                }
                start.elapsed()
            })
        });
    }

    // A sweep, as `faultline run` makes one: independent seeds on one thread
    // per core (this machine has two).
    let scenario = simulated::throughput(1, 5, CALLS_PER_CLIENT);
    let threads = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    group.throughput(Throughput::Elements(calls * threads));
    group.bench_function(BenchmarkId::new("sweep-all-cores", "1-5ms"), |b| {
        b.iter_custom(|runs| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let scenario = &scenario;
                    scope.spawn(move || {
                        for seed in 0..runs {
                            assert_eq!(simulated::run(scenario, seed * threads + t), calls);
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.throughput(Throughput::Elements(calls));

    // The limit: the same workload with no simulator, on one thread.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    let scenario = simulated::throughput(1, 5, CALLS_PER_CLIENT);
    group.bench_function(BenchmarkId::new("duplex-limit", "same-mix"), |b| {
        b.iter_custom(|runs| {
            let start = Instant::now();
            for seed in 0..runs {
                let local = tokio::task::LocalSet::new();
                assert_eq!(single.block_on(local.run_until(duplex::run(&scenario, seed))), calls);
            }
            start.elapsed()
        })
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let addr = runtime.block_on(server::spawn()).expect("bind 127.0.0.1");
    let channel =
        runtime.block_on(faultline_benches::load::connect(addr, 1)).expect("connect to the server").remove(0);
    let tutorial = Tutorial::shared();
    let caller = Caller::new(tutorial.clone(), Deadline::new(channel), "client-0", Trace::default());
    group.bench_function(BenchmarkId::new("real-loopback-sequential", "same-mix"), |b| {
        b.to_async(&runtime).iter_custom(|runs| {
            let (caller, tutorial) = (caller.clone(), tutorial.clone());
            async move {
                let start = Instant::now();
                for seed in 0..runs {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    for id in 0..calls {
                        let plan = Plan {
                            id,
                            op: tutorial.generate(&mut rng),
                            deadline: Duration::from_secs(5),
                            cancel_after: None,
                            pauses: Vec::new(),
                            probe: false,
                        };
                        let record = caller.call(plan).await;
                        assert_eq!(record.call.code, tonic::Code::Ok, "{record:?}");
                    }
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, simulated);
criterion_main!(benches);
