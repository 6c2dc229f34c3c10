//! Scenario files: the TOML form round-trips and bad files are rejected with a reason.

use faultline_tutorial::Scenario;
use faultline_tutorial::catalogue;
use faultline_tutorial::scenario_from_toml;

#[test]
fn every_catalogue_scenario_round_trips_through_toml() {
    for scenario in catalogue() {
        let text = scenario.to_toml();
        let back = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", scenario.name));
        assert_eq!(back, scenario);
    }
}

#[test]
fn a_readable_file_parses() {
    let text = r#"
name = "my-partition"
clients = 2
deadline_ms = 1500

[[faults]]
kind = "partition"
oneway = true
at_ms = 100
for_ms = 500

[[faults]]
kind = "rst-stream"
after_messages = 2
every = 3
at_ms = 0
for_ms = 2000
"#;
    let s: Scenario = Scenario::from_toml(text).unwrap();
    assert_eq!((s.name.as_str(), s.clients, s.deadline_ms, s.faults.len()), ("my-partition", 2, 1500, 2));
    assert_eq!(s.fault_names(), ["partition-oneway", "rst-stream"]);
    assert!(s.uses_proxy(), "a proxy fault puts a proxy in the path");
}

#[test]
fn bad_files_are_rejected_with_a_reason() {
    let cases = [
        ("clients = \"many\"", "malformed"),
        ("no_such_knob = 1", "malformed"),
        ("[[faults]]\nkind = \"meteor\"\nat_ms = 1\nfor_ms = 1", "malformed"),
        ("clients = 0", "clients"),
        ("min_latency_ms = 9\nmax_latency_ms = 1", "min_latency_ms"),
        ("[[faults]]\nkind = \"loss\"\nrate = 2.0\nat_ms = 1\nfor_ms = 1", "loss rate"),
        ("limit_ms = 100", "limit_ms"),
        ("[[faults]]\nkind = \"hold\"\nat_ms = 1\nfor_ms = 0", "for_ms"),
        ("route_pause_ms = [9, 1]", "route_pause_ms"),
        ("[[proxy]]\nkind = \"goaway\"\nafter_frames = 1", "malformed"),
    ];
    for (text, reason) in cases {
        let err = Scenario::from_toml(text).expect_err(text).to_string();
        assert!(err.contains(reason), "{text:?}: {err}");
    }
}

#[test]
fn a_mutant_the_tutorial_does_not_know_is_rejected() {
    let text = "mutant = \"no-such-bug\"";
    let generic: Scenario = Scenario::from_toml(text).expect("structurally valid");
    assert_eq!(generic.mutant.as_deref(), Some("no-such-bug"));
    let err = scenario_from_toml(text).expect_err("the tutorial has no such mutant").to_string();
    assert!(err.contains("unknown mutant `no-such-bug`"), "{err}");
    assert!(scenario_from_toml("mutant = \"segment-truncation\"").is_ok());
}
