//! The replicated store under Faultline: the fixed store survives the catalogue and the
//! cluster scenarios; the buggy primary is caught only where the primary crashes, shrunk to a
//! small case, and replayed; the oracle fails on hand-made histories that break linearizability.

mod oracle;

use std::sync::Arc;

use faultline_example_kv::{BUG, Kv, LINEARIZABLE, Op, ops};
use faultline_sim::search::SearchConfig;
use faultline_sim::sweep::run_checked;
use faultline_sim::{Harness, Property, Scenario, System};

/// The store's calls are unary: `rst-stream` (after a stream's 2nd message) never acts on them.
const UNARY_ONLY: [&str; 1] = ["rst-stream"];

fn catalogue() -> Vec<Scenario<Op>> {
    Kv.catalogue()
}

#[test]
fn the_store_survives_the_catalogue_and_the_cluster_scenarios() {
    Harness::new(Kv).scenarios(catalogue()).seeds(0..2).allow_vacuous(UNARY_ONLY).check();
}

fn with_bug() -> Harness<Kv> {
    let scenarios = catalogue().into_iter().map(|s| s.mutant(BUG));
    Harness::new(Kv).scenarios(scenarios).seeds(0..4).allow_vacuous(UNARY_ONLY)
}

#[test]
fn the_early_acknowledging_primary_is_caught_only_where_it_crashes() {
    let findings = with_bug().run().unwrap();
    let caught: Vec<&str> = findings.iter().map(|f| f.scenario.as_str()).collect();
    assert!(caught.contains(&"node-partition-crash"), "caught only by {caught:?}");
    // Every scenario that caught it crashes the primary; no other fault shows the bug.
    for f in &findings {
        let scenario = catalogue().into_iter().find(|s| s.name == f.scenario).unwrap();
        assert!(
            scenario.faults.iter().any(|t| t.fault.name() == "crash-bounce" && t.at_node("a")),
            "{}",
            f.text
        );
        assert!(f.report.violations.iter().all(|v| v.property == LINEARIZABLE), "{}", f.text);
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
    assert!(found.report.violations.iter().any(|v| v.property == LINEARIZABLE), "{text}");
    // The file names the crashed node, parses back to the same scenario and replays to the same
    // trace; without the bug the same case passes.
    assert!(found.scenario.to_toml().contains("node = \"a\""), "{text}");
    let parsed = Scenario::<Op>::from_toml(&found.scenario.to_toml()).unwrap();
    assert_eq!(parsed, found.scenario);
    let again = harness.replay(&parsed, found.seed);
    assert_eq!(again.trace_hash, found.report.trace_hash, "{text}");
    let fixed = harness.replay(&Scenario { mutant: None, ..parsed }, found.seed);
    assert!(fixed.passed(), "{:?}", fixed.violations);
}

/// A crashed node's outgoing channels and background work end in a fixed order, whatever ran
/// in the process before (tokio would drop them in an order that follows its task ids, which
/// count every task of the process): a seed gives one trace, run after run.
#[test]
fn a_seed_gives_one_trace_run_after_run() {
    let system = Arc::new(Kv);
    let scenario = catalogue().into_iter().find(|s| s.name == "crash-storm").unwrap();
    for seed in 0..2 {
        let report = run_checked(&system, &scenario, seed, true);
        assert!(
            report.violations.iter().all(|v| v.property != Property::Determinism),
            "{:?}",
            report.violations
        );
    }
}
