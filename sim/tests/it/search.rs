//! Property search: generated (scenario, seed) pairs, shrunk to a minimal
//! failing case printed as a scenario file plus the command that replays it.
//!
//! `PROPTEST_CASES` raises the case count for long runs (default here: 24);
//! `FAULTLINE_SEARCH_SEED` searches a different part of the space.

use faultline_services::Mutant;
use faultline_sim::search::{Found, SearchConfig};
use faultline_tutorial::Scenario;
use faultline_tutorial::{CallInput, Tutorial, run};
use proptest::prelude::*;

use crate::strategies::scenario;

/// Cases per search, unless `PROPTEST_CASES` says otherwise.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The command that replays a printed case (to keep it: save the file as
/// `tests/it/regressions/<what>@<seed>.toml`).
const REPLAY: &str = "cargo run --release -- run --file {file} --seed {seed}";

/// The library's search on the tutorial; `FAULTLINE_SEARCH_SEED` (a u64) explores elsewhere.
/// Failures are not persisted by proptest: a shrunk failure is committed as a scenario file
/// under `regressions/` instead (see `regressions.rs`).
fn search(strategy: impl Strategy<Value = Scenario>, cases: u32, seed: u64) -> Option<Found<CallInput>> {
    let seed = std::env::var("FAULTLINE_SEARCH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(seed);
    let config = SearchConfig { cases, seed, max_shrink_iters: 2_000 };
    faultline_sim::search::search(&Tutorial::shared(), strategy, config).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_real_services_hold_every_property_under_generated_faults_and_workloads() {
    if let Some(found) = search(scenario(None, 3), cases(24), 7) {
        panic!("{}", found.describe(REPLAY));
    }
}

/// Searches with `mutant` switched on until a case fails; returns the shrunk case.
fn shrunk(mutant: Mutant) -> (Scenario, u64, String) {
    match search(scenario(Some(mutant), 2), cases(200), mutant as u64) {
        Some(found) => {
            let reason = found.describe(REPLAY);
            (found.scenario, found.seed, reason)
        }
        None => panic!("{mutant}: property search never caught it"),
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
            Found { scenario: reference, seed, report: clean.clone() }.describe(REPLAY)
        );
    }
}
