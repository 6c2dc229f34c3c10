//! Every catalogue scenario over a few seeds: the expectation holds, each
//! fault actually fires, and runs are deterministic.

use faultline_sim::catalogue::catalogue;
use faultline_sim::scenario::Expect;
use faultline_sim::{RunReport, run};

const SEEDS: [u64; 2] = [0, 1];

fn describe(r: &RunReport) -> String {
    let violations: Vec<String> = r.violations.iter().take(5).map(ToString::to_string).collect();
    format!(
        "{} SEED={} (replay: cargo run --release -- replay {} --seed {}): {}",
        r.scenario,
        r.seed,
        r.scenario,
        r.seed,
        violations.join("; ")
    )
}

#[test]
fn every_scenario_meets_its_expectation_and_fires_its_faults() {
    for scenario in catalogue() {
        let mut caught = false;
        for seed in SEEDS {
            let report = run(&scenario, seed);
            assert!(report.calls > 0, "{}: no calls", describe(&report));
            match scenario.expect {
                Expect::Pass => assert!(report.passed(), "{}", describe(&report)),
                Expect::Caught => caught |= !report.passed(),
            }
            for name in scenario.fault_names() {
                let fired = report.faults_fired.keys().any(|f| f == name);
                assert!(
                    fired,
                    "{}: fault {name} never fired; fired: {:?}",
                    describe(&report),
                    report.faults_fired
                );
            }
        }
        if scenario.expect == Expect::Caught {
            assert!(caught, "{} was not caught on seeds {SEEDS:?}", scenario.name);
        }
    }
}

#[test]
fn smoke_has_no_failed_calls_and_covers_all_six_methods() {
    let scenario = faultline_sim::catalogue::find("smoke").unwrap();
    let report = run(&scenario, 7);
    assert_eq!(report.failed_calls, 0, "{}", describe(&report));
    let methods: std::collections::BTreeSet<&str> = report.records.iter().map(|r| r.input.method()).collect();
    assert_eq!(methods.len(), 6, "methods seen: {methods:?}");
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    for name in ["smoke", "chaos"] {
        let scenario = faultline_sim::catalogue::find(name).unwrap();
        let a = run(&scenario, 42);
        let b = run(&scenario, 42);
        assert_eq!(
            a.trace_hash,
            b.trace_hash,
            "{name}: first difference at {:?}",
            faultline_sim::trace::first_difference(&a.events, &b.events)
        );
        assert_eq!(a.events, b.events);
        let c = run(&scenario, 43);
        assert_ne!(a.trace_hash, c.trace_hash, "{name}: seeds 42 and 43 gave the same trace");
    }
}

#[test]
fn swarm_variants_are_subsets_chosen_by_the_seed() {
    let chaos = faultline_sim::catalogue::find("chaos").unwrap();
    let sizes: Vec<usize> =
        (0..16).map(|seed| chaos.swarm(seed).faults.len() + chaos.swarm(seed).proxy.len()).collect();
    let all = chaos.faults.len() + chaos.proxy.len();
    assert!(sizes.iter().all(|&n| n <= all));
    assert!(sizes.iter().any(|&n| n < all) && sizes.iter().any(|&n| n > 0), "{sizes:?}");
    assert_eq!(chaos.swarm(5), chaos.swarm(5));
}
