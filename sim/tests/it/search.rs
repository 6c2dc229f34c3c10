//! Property search: generated (scenario, seed) pairs, shrunk to a minimal
//! failing case printed as a scenario file plus the command that replays it.
//!
//! `PROPTEST_CASES` raises the case count for long runs (default here: 24);
//! `FAULTLINE_SEARCH_SEED` searches a different part of the space.

use faultline_services::Mutant;
use faultline_sim::RunReport;
use faultline_sim::scenario::Scenario;
use faultline_sim::tutorial::run;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::strategies::scenario;

/// Cases per search, unless `PROPTEST_CASES` says otherwise.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How a failing case is shown: the scenario file and the replay command.
pub fn describe(scenario: &Scenario, seed: u64, report: &RunReport) -> String {
    let violations: Vec<String> = report.violations.iter().take(3).map(ToString::to_string).collect();
    format!(
        "SEED={seed}\n{}\n--- scenario file (save as search.toml; to keep it, as tests/it/regressions/<what>@{seed}.toml) ---\n{}--- replay ---\ncargo run --release -- run --file search.toml --seed {seed}",
        violations.join("\n"),
        scenario.to_toml()
    )
}

fn check(scenario: &Scenario, seed: u64) -> Result<(), TestCaseError> {
    let report = run(scenario, seed);
    if report.passed() { Ok(()) } else { Err(TestCaseError::fail(describe(scenario, seed, &report))) }
}

/// A runner whose generation is a function of `seed` (no OS randomness).
/// The search's own seed: `FAULTLINE_SEARCH_SEED` (a u64) explores elsewhere.
fn search_seed(default: u64) -> [u8; 32] {
    let seed = std::env::var("FAULTLINE_SEARCH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes
}

/// Failures are not persisted by proptest: a shrunk failure is committed as a
/// scenario file under `regressions/` instead (see `regressions.rs`).
fn runner(cases: u32, seed: [u8; 32]) -> TestRunner {
    let config = Config { cases, max_shrink_iters: 2_000, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

#[test]
fn the_real_services_hold_every_property_under_generated_faults_and_workloads() {
    let mut runner = runner(cases(24), search_seed(7));
    let result = runner.run(&(scenario(None, 3), any::<u64>()), |(s, seed)| check(&s, seed));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Searches with `mutant` switched on until a case fails; returns the shrunk case.
fn shrunk(mutant: Mutant) -> (Scenario, u64, String) {
    let mut runner = runner(cases(200), search_seed(mutant as u64));
    match runner.run(&(scenario(Some(mutant), 2), any::<u64>()), |(s, seed)| check(&s, seed)) {
        Err(TestError::Fail(reason, (s, seed))) => (s, seed, reason.to_string()),
        Err(TestError::Abort(reason)) => panic!("{mutant}: search aborted: {reason}"),
        Ok(()) => panic!("{mutant}: property search never caught it"),
    }
}

/// The mutants a short scripted workload can reveal: the rules other ports get wrong, and
/// shared state between concurrent chats. (Leaks and volume need the catalogue's `soak`.)
const SEARCHED: [Mutant; 6] = [
    Mutant::SegmentTruncation,
    Mutant::DefaultFeatureOnMiss,
    Mutant::EchoNewNote,
    Mutant::ExclusiveEdges,
    Mutant::DropLastMessage,
    Mutant::SharedChat,
];

#[test]
fn every_mutant_is_found_and_shrunk_to_a_small_case_that_replays() {
    for mutant in SEARCHED {
        let (s, seed, reason) = shrunk(mutant);
        let faults = s.faults.len();
        assert!(faults <= 2, "{mutant}: shrunk case keeps {faults} faults:\n{reason}");
        assert!(s.calls.len() <= 4, "{mutant}: shrunk case keeps {} calls:\n{reason}", s.calls.len());
        // The printed scenario file parses back to the same scenario and replays to the same failure.
        let replayed = Scenario::from_toml(&s.to_toml()).expect("shrunk scenario is a valid file");
        assert_eq!(replayed, s);
        let first = run(&s, seed);
        let again = run(&replayed, seed);
        assert!(!again.passed(), "{mutant}: the shrunk case passed on replay:\n{reason}");
        assert_eq!(first.violations, again.violations, "{mutant}");
        assert_eq!(first.trace_hash, again.trace_hash, "{mutant}");
        // And it is the mutant that fails it: the reference service passes the same case.
        let reference = Scenario { mutant: None, ..s.clone() };
        let clean = run(&reference, seed);
        assert!(
            clean.passed(),
            "{mutant}: the shrunk case fails without the mutant too:\n{}",
            describe(&reference, seed, &clean)
        );
    }
}
