use faultline_conformance::known::KnownFailures;
use faultline_conformance::{Aspect, Direction, Report, Suite, Transport, Verdict};

use crate::support::suite;

fn in_process() -> Report {
    let mut report = suite().run_in_process(Direction::RustServer, None).unwrap();
    report.extend(suite().run_in_process(Direction::RustClient, None).unwrap());
    report
}

#[test]
fn every_case_passes_in_both_directions_or_is_a_known_failure() {
    let report = in_process();
    assert_eq!(report.results.len(), 2 * suite().cases.len());
    assert!(report.passed(), "{}\n{}", report.table(), report.details(false));
    // Known failures are the exception, not the rule.
    assert!(report.count(Verdict::Pass) > report.count(Verdict::KnownFailure) * 3, "{}", report.table());
    insta::assert_snapshot!("in_process_report", format!("{}\n{}", report.table(), report.details(true)));
}

#[test]
fn the_simulator_agrees_with_the_in_process_run_on_every_case() {
    let reference = in_process();
    for seed in [0, 7] {
        for direction in [Direction::RustServer, Direction::RustClient] {
            let simulated = suite().run_simulated(direction, seed, None);
            for r in &simulated.results {
                assert_eq!(
                    Some(r.verdict),
                    reference.verdict(&r.case, direction, Transport::InProcess),
                    "{} {direction} seed {seed}: {}",
                    r.case,
                    simulated.details(true)
                );
            }
            assert_eq!(simulated.results.len(), suite().cases.len());
        }
    }
}

#[test]
fn a_simulated_run_is_a_function_of_its_seed() {
    for direction in [Direction::RustServer, Direction::RustClient] {
        let a = serde_json::to_string(&suite().run_simulated(direction, 3, None)).unwrap();
        let b = serde_json::to_string(&suite().run_simulated(direction, 3, None)).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn re_recording_the_committed_transcripts_is_no_drift() {
    let report = suite().compare_recording(&suite().transcripts, Direction::Drift);
    assert!(report.passed());
    assert_eq!(report.count(Verdict::Pass), suite().cases.len());
}

#[test]
fn drift_in_a_message_byte_is_reported() {
    let mut recorded = suite().transcripts.clone();
    let call = &mut recorded.cases.get_mut("get-feature-hit").unwrap()[0];
    for event in &mut call.events {
        if let faultline_conformance::transcript::EventKind::Message(m) = &mut event.kind
            && event.dir == faultline_conformance::transcript::Dir::Server
        {
            let mut bytes = m.bytes.to_vec();
            *bytes.last_mut().unwrap() ^= 1;
            m.bytes = bytes.into();
        }
    }
    let report = suite().compare_recording(&recorded, Direction::Drift);
    assert!(!report.passed());
    assert_eq!(report.verdict("get-feature-hit", Direction::Drift, Transport::Live), Some(Verdict::Fail));
    assert_eq!(report.count(Verdict::Fail), 1, "{}", report.details(false));
}

fn with_entry(toml: &str) -> Suite {
    let mut suite = suite().clone();
    suite.known.entries.extend(KnownFailures::parse(toml, &suite.cases).unwrap().entries);
    suite
}

#[test]
fn a_known_failure_that_excuses_nothing_is_stale_and_fails_the_suite() {
    let broken = with_entry(
        r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "status"
expected = 'OK (0) "", from the server'
actual = 'CANCELLED (1) "", from the server'
reason = "made up for this test"
"#,
    );
    let report = broken.run_in_process(Direction::RustServer, None).unwrap();
    assert_eq!(
        report.verdict("say-hello", Direction::RustServer, Transport::InProcess),
        Some(Verdict::Stale)
    );
    assert!(!report.passed());
    let details = report.details(false);
    assert!(details.contains("stale known failure (status): no longer differs as listed"), "{details}");
}

#[test]
fn a_racy_known_failure_may_see_no_difference() {
    let racy = with_entry(
        r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "status"
outcomes = ["no difference", { expected = 'OK (0) "", from the server', actual = 'CANCELLED (1) "", from the server' }]
reason = "made up for this test"
"#,
    );
    let report = racy.run_in_process(Direction::RustServer, None).unwrap();
    assert_eq!(report.verdict("say-hello", Direction::RustServer, Transport::InProcess), Some(Verdict::Pass));
}

#[test]
fn a_known_case_with_one_difference_not_listed_fails() {
    // unknown-method differs in two aspects (trailers, status), each listed; drop one entry.
    let mut suite = suite().clone();
    suite.known.entries.retain(|k| !(k.case == "unknown-method" && k.aspect == Aspect::Trailers));
    let report = suite.run_in_process(Direction::RustServer, None).unwrap();
    assert_eq!(
        report.verdict("unknown-method", Direction::RustServer, Transport::InProcess),
        Some(Verdict::Fail)
    );
    let result = report.results.iter().find(|r| r.case == "unknown-method").unwrap();
    let unexcused: Vec<Aspect> =
        result.differences.iter().filter(|f| f.known.is_none()).map(|f| f.difference.aspect).collect();
    assert_eq!(unexcused, [Aspect::Trailers]);
    assert_eq!(report.count(Verdict::Fail), 1, "{}", report.details(false));
}
