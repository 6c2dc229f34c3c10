//! Scenario files: `Scenario::from_toml`.

use faultline_fuzz::mutation::{Sample, mutated};
use faultline_fuzz::scenario::{self, apply, edits};
use std::time::Duration;

use faultline_sim::Fault;
use faultline_tutorial::Scenario;
use proptest::prelude::*;

use crate::config::cases;

fn file() -> impl Strategy<Value = String> {
    proptest::sample::select(scenario::catalogue_files())
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn edited_files_load_or_fail_cleanly(text in file(), edits in edits()) {
        scenario::check_load(&apply(&text, &edits));
    }

    #[test]
    fn mutated_files_load_or_fail_cleanly(
        bytes in mutated(
            file().prop_map(|t| Sample { bytes: t.into_bytes(), lengths: Vec::new() }),
            proptest::sample::select(scenario::NUMBERS).prop_map(|n| n.as_bytes().to_vec()).boxed(),
        ),
    ) {
        scenario::check_load(&String::from_utf8_lossy(&bytes));
    }
}

/// Every catalogue scenario reads back from its file, and can start.
#[test]
fn the_catalogue_round_trips() {
    for (text, want) in scenario::catalogue_files().iter().zip(faultline_tutorial::catalogue()) {
        let got = Scenario::from_toml(text).unwrap_or_else(|e| panic!("{}: {e}", want.name));
        assert_eq!(got, want);
        scenario::check_load(text);
    }
}

/// Times past 2^40 ms are refused (a `think_ms` of 2^64-1 loaded, then overflowed when the
/// runner doubled it; so would a fault's end in microseconds, or a latency's round trip).
#[test]
fn times_that_would_overflow_are_refused() {
    let text = tutorial("t").to_toml().replace("think_ms = 150", "think_ms = 18446744073709551615");
    assert!(Scenario::from_toml(&text).is_err());
    let huge = faultline_sim::fault::MAX_MS + 1;
    let base = || Scenario { limit_ms: 4 * huge, ..tutorial("t") };
    let fault = |f| base().fault(Duration::from_millis(1), Duration::from_millis(1), f);
    let refused = [
        Scenario { think_ms: huge, ..base() },
        Scenario { deadline_ms: huge, ..base() },
        Scenario { route_pause_ms: [0, huge], ..base() },
        fault(Fault::Latency { latency_ms: u64::MAX / 2, jitter_ms: 1 }),
        fault(Fault::SlowHandler { delay_ms: huge }),
        fault(Fault::FrameDelay { max_delay_ms: huge }),
        base().fault(Duration::from_millis(huge), Duration::from_millis(1), Fault::Hold),
    ];
    for scenario in refused {
        assert!(scenario.validate().is_err(), "{scenario:?}");
    }
    let longest = Scenario { think_ms: huge - 1, limit_ms: huge - 1, ..tutorial("t") };
    longest.validate().expect("2^40 ms is allowed");
    scenario::check_startable(&longest);
}

/// A default scenario of the tutorial's calls.
fn tutorial(name: &str) -> Scenario {
    Scenario::new(name)
}
