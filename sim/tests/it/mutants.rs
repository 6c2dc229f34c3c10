//! Every service mutant is caught by some catalogue scenario within the default seeds, and by
//! the property that names its bug.

use faultline_services::Mutant;
use faultline_sim::check::Property;
use faultline_tutorial::catalogue;
use faultline_tutorial::check::{CHAT, STREAM_ORDER, SUMMARY};
use faultline_tutorial::run;

/// The default seeds of `faultline run`.
const DEFAULT_SEEDS: u64 = 8;

/// The property each mutant's bug violates first.
fn expected(mutant: Mutant) -> &'static [Property] {
    match mutant {
        Mutant::SegmentTruncation | Mutant::ElapsedRounded => &[SUMMARY],
        Mutant::DefaultFeatureOnMiss | Mutant::ExclusiveEdges | Mutant::DropLastMessage => &[STREAM_ORDER],
        Mutant::EchoNewNote | Mutant::SharedChat => &[CHAT],
        Mutant::Unavailable | Mutant::IdleTimeout | Mutant::SlotLeak | Mutant::HeldBackReplies => {
            &[Property::Status]
        }
        // It gives up with DEADLINE_EXCEEDED long before the call's deadline.
        Mutant::SlowStreamTimeout => &[Property::Deadline],
        Mutant::StuckAfterRestart => &[Property::Recovery],
        Mutant::AspectRatioPanic => &[Property::Panic],
        Mutant::LingeringHandler => &[Property::HandlerLeak],
    }
}

#[test]
fn every_mutant_is_caught_within_the_default_seeds_by_its_property() {
    for mutant in Mutant::ALL {
        let caught = catalogue().into_iter().filter(|s| s.mutant.is_none()).find_map(|mut scenario| {
            scenario.mutant = Some(mutant.to_string());
            (0..DEFAULT_SEEDS).find_map(|seed| {
                let report = run(&scenario, seed);
                (!report.passed()).then(|| (scenario.name.clone(), seed, report.violations))
            })
        });
        let (scenario, seed, violations) =
            caught.unwrap_or_else(|| panic!("mutant {mutant} survived every scenario"));
        assert!(
            violations.iter().any(|v| expected(mutant).contains(&v.property)),
            "{mutant} was caught by {scenario} seed {seed}, but not as {:?}: {}",
            expected(mutant),
            violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        );
    }
}

#[test]
fn a_slot_leak_survives_short_runs_and_is_caught_by_the_soak() {
    let mut smoke = faultline_tutorial::find("smoke").unwrap();
    smoke.mutant = Some(Mutant::SlotLeak.to_string());
    assert!(run(&smoke, 0).passed(), "90 calls never exhaust 2,500 slots");
    let mut soak = faultline_tutorial::find("soak").unwrap();
    soak.mutant = Some(Mutant::SlotLeak.to_string());
    let report = run(&soak, 0);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.property == Property::Status && v.detail.contains("ResourceExhausted"))
    );
}
