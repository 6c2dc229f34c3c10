//! The ledger under Faultline: the fixed ledger survives the fault catalogue; the buggy one is
//! caught by a catalogue scenario and by search, shrunk, and replayed; the oracle fails on
//! hand-made histories that break each promise.

mod oracle;

use faultline_example_ledger::model::EXACTLY_ONCE;
use faultline_example_ledger::{BUG, Ledger, Op, ops};
use faultline_sim::search::SearchConfig;
use faultline_sim::{Harness, Scenario, catalogue};

/// The ledger's calls are unary: `rst-stream` (after a stream's 2nd message) never acts on them.
const UNARY_ONLY: [&str; 1] = ["rst-stream"];

/// The catalogue but `soak` (10,000 calls: `ci/ledger.sh` runs it, in release).
fn catalogue() -> Vec<Scenario<Op>> {
    catalogue::faults().into_iter().filter(|s| s.name != "soak").collect()
}

#[test]
fn the_ledger_survives_the_fault_catalogue() {
    Harness::new(Ledger).scenarios(catalogue()).seeds(0..1).allow_vacuous(UNARY_ONLY).check();
}

fn with_bug() -> Harness<Ledger> {
    let scenarios = catalogue().into_iter().map(|s| s.mutant(BUG));
    Harness::new(Ledger).scenarios(scenarios).seeds(0..1).allow_vacuous(UNARY_ONLY)
}

#[test]
fn the_ledger_without_idempotency_keys_is_caught_applying_a_retry_twice() {
    let findings = with_bug().run().unwrap();
    let caught: Vec<&str> = findings.iter().map(|f| f.scenario.as_str()).collect();
    // A partition cuts replies after the ledger applied their transfers; the retry applies
    // them again. Without faults nothing is retried.
    assert!(caught.contains(&"partition"), "caught only by {caught:?}");
    assert!(!caught.contains(&"smoke"), "{caught:?}");
    for f in &findings {
        assert!(
            f.report
                .violations
                .iter()
                .any(|v| v.property == EXACTLY_ONCE && v.detail.contains("applied twice")),
            "{}",
            f.text
        );
    }
}

#[test]
fn search_shrinks_the_bug_to_a_small_case_that_replays() {
    let harness = with_bug();
    let config = SearchConfig { cases: 512, ..SearchConfig::default() };
    let found =
        harness.search(ops(), 2, Some(BUG.to_owned()), config).unwrap().expect("the search finds the bug");
    let text = found.describe("replay {file} {seed}");
    assert!(found.scenario.faults.len() <= 2, "{text}");
    assert!(found.scenario.calls.len() <= 3, "{text}");
    assert!(found.report.violations.iter().any(|v| v.property == EXACTLY_ONCE), "{text}");
    // The printed file parses back to the same scenario and replays to the same trace.
    let parsed = Scenario::<Op>::from_toml(&found.scenario.to_toml()).unwrap();
    assert_eq!(parsed, found.scenario);
    let again = harness.replay(&parsed, found.seed);
    assert_eq!(again.trace_hash, found.report.trace_hash, "{text}");
    assert_eq!(again.violations, found.report.violations, "{text}");
    // And it is the bug that fails it: with idempotency keys the same case passes.
    let fixed = harness.replay(&Scenario { mutant: None, ..parsed }, found.seed);
    assert!(fixed.passed(), "{:?}", fixed.violations);
}
