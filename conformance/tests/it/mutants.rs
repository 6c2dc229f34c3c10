//! Breaking one service rule must make the suite fail, on the case that exercises the rule.

use faultline_conformance::{Direction, Transport, Verdict};
use faultline_services::Mutant;

use crate::support::suite;

fn check(mutant: Mutant, caught_by: &str) {
    let report = suite().run_in_process(Direction::RustServer, Some(mutant)).unwrap();
    assert!(!report.passed(), "{mutant} was not caught:\n{}", report.table());
    assert_eq!(
        report.verdict(caught_by, Direction::RustServer, Transport::InProcess),
        Some(Verdict::Fail),
        "{mutant}: {}",
        report.details(false)
    );
}

#[test]
fn every_single_call_mutant_is_caught_by_its_case() {
    // SharedChat needs two concurrent chats on one server; the simulator's properties catch it.
    for (mutant, case) in [
        (Mutant::SegmentTruncation, "record-route-tutorial"),
        (Mutant::DefaultFeatureOnMiss, "get-feature-miss"),
        (Mutant::EchoNewNote, "route-chat-tutorial"),
        (Mutant::ExclusiveEdges, "list-features-degenerate"),
        (Mutant::DropLastMessage, "list-features-tutorial"),
    ] {
        check(mutant, case);
    }
}

#[test]
fn segment_truncation_fails_with_a_readable_diff() {
    let report = suite().run_in_process(Direction::RustServer, Some(Mutant::SegmentTruncation)).unwrap();
    insta::assert_snapshot!("segment_truncation", report.details(false));
}

#[test]
fn segment_truncation_is_caught_inside_the_simulator_too() {
    let report = suite().run_simulated(Direction::RustServer, 0, Some(Mutant::SegmentTruncation));
    assert_eq!(
        report.verdict("record-route-tutorial", Direction::RustServer, Transport::Simulated),
        Some(Verdict::Fail)
    );
}
