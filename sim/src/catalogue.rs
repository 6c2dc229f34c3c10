//! The named scenarios `faultline run` sweeps by default. Each fault of the catalogue appears in
//! at least one of them; every fault has a window with clean time around it (calls before,
//! between and after the windows must succeed exactly); `canary` must be caught.
//!
//! [`faults`] is what any system can run (no scenario of it names a mutant or a scripted call);
//! the tutorial's catalogue (`faultline_tutorial::catalogue`) is those and its canary. A
//! cluster runs those (network faults on every client link, a crash of its first node, proxy
//! faults at every node) and [`cluster`], faults between its nodes and on one node.

use std::time::Duration;

use crate::fault::{Fault, TimedFault};
use crate::scenario::Scenario;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The scenarios any system can run: the fault catalogue, from `smoke` (no faults) to `chaos`
/// and `soak`, over a generated workload.
pub fn faults<O>() -> Vec<Scenario<O>> {
    vec![
        Scenario::new("smoke").description("no faults: every call must succeed with the model's answer"),
        Scenario::new("latency")
            .description("client links slow to 40-120 ms for 3 s, on top of 1-5 ms jitter")
            .fault(ms(200), ms(3_000), Fault::Latency { latency_ms: 40, jitter_ms: 80 }),
        Scenario::new("jitter")
            .description("client links jitter between 10 and 210 ms for 4 s: streams stretch, no connection breaks")
            .fault(ms(200), ms(4_000), Fault::Latency { latency_ms: 10, jitter_ms: 200 }),
        Scenario::new("reorder")
            .description("links held then released: messages of many connections arrive at once, reordered")
            .fault(ms(150), ms(300), Fault::Hold)
            .fault(ms(900), ms(250), Fault::Hold),
        Scenario::new("stalls")
            .description("client links stall for 400 ms every 2 s, shorter than keepalive: calls slow, connections survive")
            .fault(ms(1_000), ms(400), Fault::Hold)
            .fault(ms(3_000), ms(400), Fault::Hold)
            .fault(ms(5_000), ms(400), Fault::Hold)
            .fault(ms(7_000), ms(400), Fault::Hold)
            .fault(ms(9_000), ms(400), Fault::Hold)
            .fault(ms(11_000), ms(400), Fault::Hold),
        Scenario::new("partition")
            .description("a two-way partition, then a one-way one (server to clients), each repaired")
            .calls_per_client(60)
            .fault(ms(150), ms(1_500), Fault::Partition { oneway: false })
            .fault(ms(2_500), ms(1_500), Fault::Partition { oneway: true }),
        Scenario::new("crash-bounce")
            .description("the server crashes mid-workload and restarts with empty per-call state")
            .fault(ms(120), ms(800), Fault::CrashBounce),
        Scenario::new("crash-storm")
            .description("the server crashes six times, 100 ms each, while every client has calls in flight")
            .calls_per_client(200)
            .concurrency(8)
            .think(ms(10))
            .fault(ms(200), ms(100), Fault::CrashBounce)
            .fault(ms(500), ms(100), Fault::CrashBounce)
            .fault(ms(800), ms(100), Fault::CrashBounce)
            .fault(ms(1_100), ms(100), Fault::CrashBounce)
            .fault(ms(1_400), ms(100), Fault::CrashBounce)
            .fault(ms(1_700), ms(100), Fault::CrashBounce),
        Scenario::new("lossy")
            .description(
                "client links drop messages at random for 2 s; keepalive and deadlines keep calls finite",
            )
            .fault(ms(100), ms(2_000), Fault::Loss { rate: 0.05 }),
        Scenario::new("rst-stream")
            .description("for 3 s a proxy resets every second stream after its 2nd server message")
            .fault(ms(300), ms(3_000), Fault::RstStream { after_messages: 2, every: 2 }),
        Scenario::new("goaway")
            .description(
                "for 3 s a proxy sends GOAWAY after 40 frames of each connection; clients must reconnect",
            )
            .fault(ms(300), ms(3_000), Fault::GoAway { after_frames: 40 }),
        Scenario::new("connection-reset")
            .description("for 3 s a proxy cuts each connection after 1200 bytes from the server, mid-stream")
            .fault(ms(300), ms(3_000), Fault::ConnectionReset { after_bytes: 1_200 }),
        Scenario::new("frame-reorder")
            .description(
                "for 3 s a proxy reorders and delays HTTP/2 DATA frames across the streams of a connection",
            )
            .concurrency(6)
            .think(ms(20))
            .route_pause(ms(0), ms(200))
            .fault(ms(200), ms(3_000), Fault::FrameReorder { window: 4, max_delay_ms: 20 })
            .fault(ms(200), ms(3_000), Fault::FrameDelay { max_delay_ms: 3 }),
        Scenario::new("trailers-only")
            .description("for 3 s the server answers every third call with a Trailers-Only UNAVAILABLE")
            .fault(ms(300), ms(3_000), Fault::TrailersOnly { code: 14, every: 3 }),
        Scenario::new("deadline")
            .description(
                "handlers slow to 400 ms against 300 ms deadlines for 2 s, and clients cancel some calls",
            )
            .deadline(ms(300))
            .cancel_rate(0.2)
            .fault(ms(100), ms(2_000), Fault::SlowHandler { delay_ms: 400 }),
        Scenario::new("chaos")
            .description("every fault of the catalogue, overlapping, then clean time")
            .calls_per_client(48)
            .concurrency(4)
            .cancel_rate(0.1)
            .fault(ms(100), ms(800), Fault::Latency { latency_ms: 20, jitter_ms: 40 })
            .fault(ms(300), ms(150), Fault::Hold)
            .fault(ms(500), ms(600), Fault::SlowHandler { delay_ms: 2_500 })
            .fault(ms(1_200), ms(300), Fault::Partition { oneway: false })
            .fault(ms(1_600), ms(200), Fault::Partition { oneway: true })
            .fault(ms(1_800), ms(400), Fault::CrashBounce)
            .fault(ms(2_300), ms(600), Fault::Loss { rate: 0.03 })
            .fault(ms(0), ms(3_000), Fault::TrailersOnly { code: 14, every: 7 })
            .fault(ms(200), ms(2_500), Fault::RstStream { after_messages: 1, every: 3 })
            .fault(ms(200), ms(2_500), Fault::GoAway { after_frames: 20 })
            .fault(ms(200), ms(3_000), Fault::FrameReorder { window: 2, max_delay_ms: 4 }),
        Scenario::new("soak")
            .description("10,000 calls against one server lifetime, no pauses: what degrades with volume")
            .clients(8)
            .concurrency(8)
            .calls_per_client(1_250)
            .think(Duration::ZERO)
            .route_pause(Duration::ZERO, Duration::ZERO),
        Scenario::new("soak-faults")
            .description("8,000 calls, 2 ms apart, while a proxy resets streams and the server answers Trailers-Only, then clean")
            .clients(8)
            .concurrency(8)
            .calls_per_client(1_000)
            .think(ms(2))
            .route_pause(Duration::ZERO, Duration::ZERO)
            .cancel_rate(0.05)
            .fault(ms(20), ms(150), Fault::RstStream { after_messages: 1, every: 4 })
            .fault(ms(20), ms(150), Fault::TrailersOnly { code: 14, every: 5 })
            .fault(ms(60), ms(40), Fault::Hold),
    ]
}

/// The scenarios of a cluster with these nodes (`System::nodes`), the first being the one
/// clients call by default (a primary, a leader), the rest its peers: partitions, stalls and
/// latency between it and its peers, crashes of one node, a proxy's faults in front of one.
/// Empty for fewer than two nodes.
pub fn cluster<O>(nodes: &[String]) -> Vec<Scenario<O>> {
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let [first, rest @ ..] = names.as_slice() else { return Vec::new() };
    let (first, second) = ([*first], rest.first().copied().unwrap_or(first));
    if rest.is_empty() {
        return Vec::new();
    }
    let busy = |name: &str| Scenario::new(name).clients(3).calls_per_client(100).concurrency(2).think(ms(20));
    let between = |at, lasting, fault| TimedFault::new(at, lasting, fault).between(&first, rest);
    let mut crashes = busy("node-crash")
        .description("every node but the first crashes in turn, 600 ms each, while the first keeps serving");
    for (i, node) in rest.iter().enumerate() {
        crashes = crashes.timed(TimedFault::new(200 + 1_000 * i as u64, 600, Fault::CrashBounce).on(node));
    }
    vec![
        busy("node-partition")
            .description("the first node cut off from the others for 1.2 s, then its messages to them lost for 1 s")
            .timed(between(200, 1_200, Fault::Partition { oneway: false }))
            .timed(between(2_000, 1_000, Fault::Partition { oneway: true })),
        busy("node-stalls")
            .description("the links between the first node and the others stall for 400 ms, three times")
            .timed(between(200, 400, Fault::Hold))
            .timed(between(1_200, 400, Fault::Hold))
            .timed(between(2_200, 400, Fault::Hold)),
        busy("node-latency")
            .description("the links between the first node and the others slow to 40-120 ms for 2 s")
            .timed(between(200, 2_000, Fault::Latency { latency_ms: 40, jitter_ms: 80 })),
        crashes,
        busy("node-partition-crash")
            .description("the first node cut off from the others, and crashed before the cut heals: what it had not handed on dies with it")
            .timed(between(200, 1_200, Fault::Partition { oneway: false }))
            .timed(TimedFault::new(900, 500, Fault::CrashBounce).on(first[0])),
        busy("node-proxy")
            .description("for 3 s a proxy in front of the second node cuts its connections after 400 bytes to the caller and sends GOAWAY: its callers reconnect")
            .timed(TimedFault::new(300, 3_000, Fault::ConnectionReset { after_bytes: 400 }).on(second))
            .timed(TimedFault::new(300, 3_000, Fault::GoAway { after_frames: 40 }).on(second)),
    ]
}
