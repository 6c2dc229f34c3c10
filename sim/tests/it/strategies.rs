//! proptest strategies for workloads and fault schedules. Collections are
//! `Vec`s in generation order (no hash containers), so a proptest seed always
//! generates the same scenario.

use faultline_services::Mutant;
use faultline_sim::fault::{Fault, TimedFault};
use faultline_sim::model::{Model, Pt};
use faultline_sim::scenario::{Scenario, ScriptedCall};
use faultline_sim::workload::CallInput;
use proptest::prelude::*;

/// A point: a database location (hits), a point near the origin (misses,
/// chat locations), or anywhere in the tutorial's region.
pub fn point() -> impl Strategy<Value = Pt> {
    let locations: Vec<Pt> = Model::reference().locations().collect();
    prop_oneof![
        2 => proptest::sample::select(locations),
        1 => (-2..=2i32, -2..=2i32),
        1 => (400_000_000..=420_000_000i32, -750_000_000..=-730_000_000i32),
    ]
}

/// A rectangle's corners: ordinary, degenerate (one point) or inverted.
pub fn rectangle() -> impl Strategy<Value = (Pt, Pt)> {
    prop_oneof![
        (point(), point()),
        point().prop_map(|p| (p, p)),
        (point(), point()).prop_map(|(a, b)| ((a.0.max(b.0), a.1.max(b.1)), (a.0.min(b.0), a.1.min(b.1)))),
    ]
}

/// One call of any of the six methods, with generated inputs.
pub fn call_input() -> impl Strategy<Value = CallInput> {
    let name = prop_oneof![Just(String::from("you")), Just(String::new()), "[a-z世界 ]{0,6}"];
    prop_oneof![
        name.clone().prop_map(|name| CallInput::SayHello { name }),
        name.prop_map(|name| CallInput::SayHelloAgain { name }),
        point().prop_map(|point| CallInput::GetFeature { point }),
        rectangle().prop_map(|(lo, hi)| CallInput::ListFeatures { lo, hi }),
        proptest::collection::vec(point(), 0..6).prop_map(|points| CallInput::RecordRoute { points }),
        // Few distinct locations, so notes repeat them and chats reply.
        proptest::collection::vec((0..2i32, 0..2i32), 0..6).prop_map(|locations| CallInput::RouteChat {
            notes: locations.into_iter().enumerate().map(|(i, p)| (format!("n{i}"), p)).collect(),
        }),
    ]
}

/// A fault of the catalogue with its parameters and its window.
pub fn timed_fault() -> impl Strategy<Value = TimedFault> {
    let fault = prop_oneof![
        (1..60u64, 0..60u64).prop_map(|(latency_ms, jitter_ms)| Fault::Latency { latency_ms, jitter_ms }),
        Just(Fault::Hold),
        any::<bool>().prop_map(|oneway| Fault::Partition { oneway }),
        Just(Fault::CrashBounce),
        (1..10u32).prop_map(|p| Fault::Loss { rate: f64::from(p) / 100.0 }),
        (50..3_000u64).prop_map(|delay_ms| Fault::SlowHandler { delay_ms }),
        (prop_oneof![Just(4), Just(8), Just(13), Just(14)], 1..4u32)
            .prop_map(|(code, every)| Fault::TrailersOnly { code, every }),
        (0..4u32, 1..4u32).prop_map(|(after_messages, every)| Fault::RstStream { after_messages, every }),
        (1..80u32).prop_map(|after_frames| Fault::GoAway { after_frames }),
        (50..4_000u64).prop_map(|after_bytes| Fault::ConnectionReset { after_bytes }),
        (2..5u32, 0..6u64).prop_map(|(window, max_delay_ms)| Fault::FrameReorder { window, max_delay_ms }),
        (0..6u64).prop_map(|max_delay_ms| Fault::FrameDelay { max_delay_ms }),
    ];
    (0..1_500u64, 20..2_000u64, fault).prop_map(|(at_ms, for_ms, fault)| TimedFault { at_ms, for_ms, fault })
}

/// A whole scenario: scripted workload over 1-3 clients, a fault schedule (a proxy
/// stands in the path when it has a proxy fault), the client's RecordRoute pacing, and the
/// given service (mutant or not).
pub fn scenario(mutant: Option<Mutant>, max_faults: usize) -> impl Strategy<Value = Scenario> {
    (
        1..=3u32,
        1..=3u32,
        proptest::collection::vec((0..3u32, call_input()), 1..10),
        proptest::collection::vec(timed_fault(), 0..=max_faults),
        300..3_000u64,
        0..80u64,
        (0..1_000u64, 0..1_000u64),
    )
        .prop_map(
            move |(clients, concurrency, calls, faults, deadline_ms, think_ms, (pause, spread))| {
                let mut s = Scenario::new("search");
                s.description = "found by property search".to_owned();
                s.clients = clients;
                s.concurrency = concurrency;
                s.calls =
                    calls.into_iter().map(|(c, input)| ScriptedCall { client: c % clients, input }).collect();
                s.faults = faults;
                s.deadline_ms = deadline_ms;
                s.think_ms = think_ms;
                s.route_pause_ms = [pause, pause + spread];
                s.mutant = mutant;
                s
            },
        )
}
