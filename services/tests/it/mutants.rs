//! Each mutant must actually change behaviour, or the harness could not catch it.

use faultline_proto::routeguide::Rectangle;
use faultline_services::route_guide::{ChatState, get_feature, list_features};
use faultline_services::tutorial::{TUTORIAL_RECTANGLE, chat_notes};
use faultline_services::{FeatureDb, Mutant, geo::RouteAccumulator};

use crate::model::p;

fn differs(m: Mutant) -> bool {
    let db = FeatureDb::reference();
    let on = Some(m);
    let corner = p(407838351, -746143763);
    let degenerate = Rectangle { lo: Some(corner), hi: Some(corner) };
    let route = |mutant| {
        let mut acc = RouteAccumulator::new(mutant);
        for lat in [0, 10000000, 20000000] {
            acc.push(&db, p(lat, 0));
        }
        acc.finish(0)
    };
    let chat = |mutant| {
        let mut a = ChatState::default();
        chat_notes().into_iter().flat_map(|n| a.receive(n, mutant)).collect::<Vec<_>>()
    };
    match m {
        Mutant::SegmentTruncation => route(on) != route(None),
        Mutant::DefaultFeatureOnMiss => get_feature(&db, p(0, 0), on) != get_feature(&db, p(0, 0), None),
        Mutant::EchoNewNote => chat(on) != chat(None),
        Mutant::ExclusiveEdges => {
            list_features(&db, &degenerate, on) != list_features(&db, &degenerate, None)
        }
        Mutant::DropLastMessage => {
            list_features(&db, &TUTORIAL_RECTANGLE, on) != list_features(&db, &TUTORIAL_RECTANGLE, None)
        }
        Mutant::AspectRatioPanic => {
            let flat = std::panic::catch_unwind(|| list_features(&db, &degenerate, on));
            flat.is_err()
                && list_features(&db, &TUTORIAL_RECTANGLE, on)
                    == list_features(&db, &TUTORIAL_RECTANGLE, None)
        }
        // Properties of the served value over time and volume (shared state, failures,
        // timeouts, detached work): sim/tests/it/mutants.rs catches each one in the simulator.
        Mutant::SharedChat
        | Mutant::Unavailable
        | Mutant::IdleTimeout
        | Mutant::ElapsedRounded
        | Mutant::SlotLeak
        | Mutant::LingeringHandler
        | Mutant::HeldBackReplies
        | Mutant::SlowStreamTimeout
        | Mutant::StuckAfterRestart => true,
    }
}

#[test]
fn every_mutant_changes_an_answer() {
    for m in Mutant::ALL {
        assert!(differs(m), "mutant {m} behaves like the reference");
        assert_eq!(m.name().parse::<Mutant>().unwrap(), m);
    }
    assert!("no-such-mutant".parse::<Mutant>().is_err());
}
