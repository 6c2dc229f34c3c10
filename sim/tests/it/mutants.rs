//! Every service mutant is caught by some catalogue scenario within the default seeds.

use faultline_services::Mutant;
use faultline_sim::catalogue::catalogue;
use faultline_sim::run;

/// The default seeds of `faultline run`.
const DEFAULT_SEEDS: u64 = 8;

#[test]
fn every_mutant_is_caught_within_the_default_seeds() {
    for mutant in Mutant::ALL {
        let caught = catalogue().into_iter().filter(|s| s.mutant.is_none()).find_map(|mut scenario| {
            scenario.mutant = Some(mutant);
            (0..DEFAULT_SEEDS).find_map(|seed| {
                let report = run(&scenario, seed);
                report.violations.first().map(|v| format!("{} seed {seed}: {v}", scenario.name))
            })
        });
        assert!(caught.is_some(), "mutant {mutant} survived every scenario");
    }
}
