//! proptest strategies for workloads and fault schedules. Collections are
//! `Vec`s in generation order (no hash containers), so a proptest seed always
//! generates the same scenario.

use faultline_services::Mutant;
use faultline_tutorial::Scenario;
use faultline_tutorial::{CallInput, Model, Pt};
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
        (proptest::collection::vec((0..2i32, 0..2i32), 0..6), any::<bool>()).prop_map(
            |(locations, lockstep)| {
                CallInput::RouteChat {
                    notes: locations.into_iter().enumerate().map(|(i, p)| (format!("n{i}"), p)).collect(),
                    lockstep,
                }
            }
        ),
    ]
}

/// A whole tutorial scenario: the generic search scenario over the tutorial's calls, with
/// the given service (mutant or not).
pub fn scenario(mutant: Option<Mutant>, max_faults: usize) -> impl Strategy<Value = Scenario> {
    faultline_sim::search::scenario(call_input(), max_faults, mutant.map(|m| m.to_string()))
}
