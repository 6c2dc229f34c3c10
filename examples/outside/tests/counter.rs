//! The counters under Faultline, as a user tests them: the service survives the fault
//! catalogue; the planted bug is caught by crashes alone; every replay line a failure prints
//! runs and reproduces it.

use std::process::Command;

use faultline_sim::proptest::prelude::*;
use faultline_sim::search::SearchConfig;
use faultline_sim::{Harness, Scenario, catalogue};
use outside_counter::{BUG, Counters, DURABLE, Op};

/// Faults that act only on streams after their N-th message: a unary service never meets them.
const UNARY_ONLY: [&str; 1] = ["rst-stream"];

/// The catalogue but `soak` (10,000 calls; the runner runs it in release).
fn catalogue() -> Vec<Scenario<Op>> {
    catalogue::faults().into_iter().filter(|s| s.name != "soak").collect()
}

#[test]
fn the_counters_survive_the_fault_catalogue() {
    Harness::new(Counters).scenarios(catalogue()).seeds(0..2).allow_vacuous(UNARY_ONLY).check();
}

#[test]
fn a_scenario_that_never_touches_the_service_is_vacuous_not_passed() {
    let rst = catalogue().into_iter().filter(|s| s.name == "rst-stream");
    let findings = Harness::new(Counters).scenarios(rst).seeds(0..2).run().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].text.contains("is vacuous"), "{}", findings[0].text);
}

fn with_bug(names: &[&str]) -> Harness<Counters> {
    let scenarios =
        catalogue().into_iter().filter(|s| names.contains(&s.name.as_str())).map(|s| s.mutant(BUG));
    Harness::new(Counters).scenarios(scenarios).seeds(0..4)
}

#[test]
fn totals_kept_in_memory_are_caught_by_a_crash_and_only_by_a_crash() {
    let findings = with_bug(&["smoke", "latency", "partition", "crash-bounce"]).run().unwrap();
    let caught: Vec<&str> = findings.iter().map(|f| f.scenario.as_str()).collect();
    assert_eq!(caught, ["crash-bounce"], "{findings:#?}");
    assert!(findings[0].report.violations.iter().any(|v| v.property == DURABLE), "{}", findings[0].text);
}

/// What a failing `check()` prints for a person: run on purpose by the replay tests below.
#[test]
#[ignore = "fails on purpose: the replay tests run it"]
fn buggy_counters_under_crash_bounce() {
    with_bug(&["crash-bounce"]).check();
}

/// Runs a printed `ENV=.. ENV=.. cargo test -p PKG -- ARGS` line as cargo would: this test
/// binary, with the line's environment and arguments. Returns (success, stderr + stdout).
fn run_printed(line: &str) -> (bool, String) {
    let line = format!(" {line}");
    let (env, rest) = line.split_once(" cargo test").expect("a cargo test line");
    let (package, args) = rest.split_once(" -- ").expect("test arguments");
    assert_eq!(package.trim(), "-p outside-counter", "{line}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    for pair in env.split_whitespace() {
        let (key, value) = pair.split_once('=').unwrap();
        command.env(key, value);
    }
    let out = command.args(args.split_whitespace()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn the_printed_replay_of_an_ignored_test_reruns_its_failure() {
    let (ok, text) = run_printed(
        "FAULTLINE_SCENARIO=crash-bounce cargo test -p outside-counter -- --include-ignored --exact buggy_counters_under_crash_bounce",
    );
    assert!(!ok, "{text}");
    let line = text.lines().find_map(|l| l.strip_prefix("replay: ")).expect("a replay line").to_owned();
    let seed = line.strip_prefix("SEED=").and_then(|s| s.split_whitespace().next()).expect("SEED= first");
    assert!(text.contains(&format!("failed on SEED={seed}:")), "{text}");
    assert!(
        line.contains(" FAULTLINE_SCENARIO=crash-bounce cargo test -p outside-counter -- --include-ignored"),
        "{line}"
    );
    let (ok, again) = run_printed(&line);
    assert!(!ok && again.contains(&format!("failed on SEED={seed}:")), "{again}");
    assert!(again.contains("1 scenario(s) failed"), "{again}");
}

/// A property search that finds the bug: run on purpose by the replay test below.
#[test]
#[ignore = "fails on purpose: the replay test runs it"]
fn search_finds_buggy_counters() {
    let harness = with_bug(&["crash-bounce"]);
    let key = |k: usize| ["apples", "pears"][k].to_owned();
    let ops = prop_oneof![
        (0..2usize, 1..5i64).prop_map(move |(k, amount)| Op::Add { key: key(k), amount }),
        (0..2usize).prop_map(move |k| Op::Get { key: key(k) }),
    ];
    let config = SearchConfig { cases: 256, ..SearchConfig::default() };
    if let Some(found) = harness.search(ops, 2, Some(BUG.to_owned()), config).unwrap() {
        panic!("{}", harness.describe(&found));
    }
}

#[test]
fn a_searched_case_is_saved_and_its_printed_replay_reruns_it_with_a_timeline() {
    let (ok, text) =
        run_printed("cargo test -p outside-counter -- --include-ignored --exact search_finds_buggy_counters");
    assert!(!ok, "{text}");
    let line = text.lines().skip_while(|l| *l != "--- replay ---").nth(1).expect("a replay line");
    assert!(line.contains("FAULTLINE_SCENARIO_FILE="), "{line}");
    let seed = line.strip_prefix("SEED=").and_then(|s| s.split_whitespace().next()).unwrap();
    let timeline = std::env::temp_dir().join(format!("faultline-outside-{}.html", std::process::id()));
    let line =
        line.replacen(" cargo test", &format!(" FAULTLINE_TIMELINE={} cargo test", timeline.display()), 1);
    let (ok, again) = run_printed(&line);
    assert!(!ok && again.contains(&format!("SEED={seed}\n")), "{again}");
    let html = std::fs::read_to_string(&timeline).expect("FAULTLINE_TIMELINE wrote the timeline");
    assert!(html.contains("<svg"), "not a timeline");
    let _ = std::fs::remove_file(timeline);
}
