//! `faultline run`, `replay` and `list` as a user sees them.

use crate::support::{faultline, run, stderr};

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table with wall times (the only non-deterministic figures) masked.
fn mask_wall_times(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            if line.ends_with("s wall") {
                return "N runs in <wall> wall".to_owned();
            }
            // The wall-time column is the second to last; numbers are right-aligned in it.
            let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
            match cells.len().checked_sub(2).map(|i| cells[i].trim()) {
                Some(wall) if wall.ends_with('s') && wall.trim_end_matches('s').parse::<f64>().is_ok() => {
                    line.replacen(wall, "<wall>", 1)
                }
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn run_prints_a_table_and_exits_0_when_every_expectation_holds() {
    let out = run(faultline().args(["run", "smoke", "canary", "--seeds", "2"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // smoke: 3 clients x 30 calls x 2 seeds = 180 calls, none failed; the
    // canary's truncating service is caught on both seeds.
    insta::assert_snapshot!(mask_wall_times(&stdout(&out)));
}

#[test]
fn a_failing_scenario_exits_1_and_prints_the_seed_and_replay_command() {
    let dir = std::env::temp_dir().join(format!("faultline-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("echo.toml");
    std::fs::write(&file, "name = \"echo\"\nmutant = \"echo-new-note\"\n").unwrap();
    let out = run(faultline().args(["run", "--seed", "3", "--file"]).arg(&file));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("FAILED echo SEED=3"), "{text}");
    assert!(text.contains("[chat]"), "{text}");
    // The replay command names the file the scenario came from, and it works.
    let replay = format!("replay: cargo run --release -- replay {} --seed 3", file.display());
    assert!(text.contains(&replay), "{text}");
    let again = run(faultline().arg("replay").arg(&file).args(["--seed", "3"]));
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_scenario_whose_faults_never_act_is_vacuous_and_fails_unless_allowed() {
    let dir = std::env::temp_dir().join(format!("faultline-vacuous-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("never.toml");
    // No tutorial stream carries 1,000 server messages: the fault never acts.
    let toml = "name = \"never\"\n[[faults]]\nat_ms = 100\nfor_ms = 1000\nkind = \"rst-stream\"\nafter_messages = 1000\nevery = 1\n";
    std::fs::write(&file, toml).unwrap();
    let out = run(faultline().args(["run", "--seeds", "2", "--file"]).arg(&file));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.lines().any(|l| l.starts_with("never") && l.contains("VACUOUS") && l.contains("2/2")),
        "{text}"
    );
    let allowed =
        run(faultline().args(["run", "--seeds", "2", "--allow-vacuous", "never", "--file"]).arg(&file));
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));
    assert!(
        stdout(&allowed).lines().any(|l| l.starts_with("never") && l.contains("pass")),
        "{}",
        stdout(&allowed)
    );
    // In JSON too: each run says it was vacuous, the summary counts them.
    let json = run(faultline().args(["run", "--seeds", "2", "--json", "--file"]).arg(&file));
    let summary = stdout(&json).lines().find(|l| l.contains("\"type\":\"summary\"")).unwrap().to_owned();
    assert!(summary.contains("\"vacuous\":2") && summary.contains("\"ok\":false"), "{summary}");
    assert!(stdout(&json).lines().filter(|l| l.contains("\"vacuous\":true")).count() == 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_table_shows_the_codes_clients_saw() {
    let out = run(faultline().args(["run", "crash-bounce", "--seeds", "2"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // The crash's failed calls, by the code tonic's clients saw.
    let row = text.lines().find(|l| l.starts_with("crash-bounce")).unwrap();
    assert!(row.contains("UNAVAILABLE×"), "{text}");
}

#[test]
fn a_handler_panic_is_a_finding_with_its_seed_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("faultline-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("panics.toml");
    std::fs::write(&file, "name = \"panics\"\nmutant = \"aspect-ratio-panic\"\n").unwrap();
    let out = run(faultline().args(["run", "--seeds", "2", "--file"]).arg(&file));
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    assert!(text.contains("FAILED panics SEED=0"), "{text}");
    assert!(text.contains("[panic] panicked at services/src/route_guide.rs"), "{text}");
    assert!(text.contains("attempt to divide by zero"), "{text}");
    assert!(text.contains("replay: cargo run --release -- replay"), "{text}");
    // The sweep went on: both seeds have a verdict, and no backtrace reached stderr.
    assert!(text.contains("FAIL 2/2"), "{text}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_determinism_reports_every_seed_deterministic() {
    let out = run(faultline().args(["run", "chaos", "crash-bounce", "--seeds", "2", "--check-determinism"]));
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("NONDETERMINISTIC"));
}

#[test]
fn bad_input_to_run_and_replay_is_one_line_and_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("faultline-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let malformed = dir.join("malformed.toml");
    std::fs::write(&malformed, "clients = [").unwrap();
    let invalid = dir.join("invalid.toml");
    std::fs::write(&invalid, "clients = 0").unwrap();
    let m = malformed.to_str().unwrap();
    let i = invalid.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "no-such-scenario"], "unknown scenario `no-such-scenario`"),
        (vec!["run", "--seed", "banana"], "is not a seed"),
        (vec!["run", "--shard", "4/4"], "is not a shard"),
        (vec!["run", "--shard", "x"], "is not a shard"),
        (vec!["run", "--seeds", "0"], "--seeds must be at least 1"),
        (vec!["run", "--seed", "1", "--seed-start", "2"], "cannot be used with"),
        (vec!["run", "smoke", "smoke"], "scenario `smoke` is given twice"),
        (vec!["run", "--shard", "1/18446744073709551616"], "is not a shard"),
        (vec!["run", "--file", "/nonexistent/s.toml"], "cannot read scenario file"),
        (vec!["run", "--file", m], "malformed scenario"),
        (vec!["run", "--file", i], "clients must be between 1 and 64"),
        (vec!["replay", "smoke"], "--seed"),
        (vec!["replay", "nope", "--seed", "1"], "unknown scenario"),
    ];
    for (args, message) in cases {
        let out = run(faultline().args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: expected {message:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn trace_hash(args: &[&str]) -> String {
    let out = run(faultline().args(args));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().find(|l| l.starts_with("trace hash")).expect("a trace hash line").to_owned()
}

#[test]
fn a_seed_replays_identically_in_two_separate_processes() {
    for scenario in ["chaos", "crash-bounce"] {
        let args = ["replay", scenario, "--seed", "0x2a"];
        assert_eq!(trace_hash(&args), trace_hash(&args), "{scenario}");
    }
}

/// The `run` lines of `--json` output (JSON Lines), as (scenario, seed).
pub fn runs_of(json: &[u8]) -> Vec<(String, u64)> {
    String::from_utf8_lossy(json)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "run")
        .map(|r| (r["scenario"].as_str().unwrap().to_owned(), r["seed"].as_u64().unwrap()))
        .collect()
}

#[test]
fn shards_are_disjoint_and_cover_every_run() {
    let runs = |shard: &str| -> Vec<(String, u64)> {
        let out =
            run(faultline().args(["run", "smoke", "latency", "--seeds", "3", "--json", "--shard", shard]));
        assert!(out.status.success(), "{}", stderr(&out));
        runs_of(&out.stdout)
    };
    let mut all: Vec<(String, u64)> = ["0/3", "1/3", "2/3"].iter().flat_map(|s| runs(s)).collect();
    all.sort();
    let mut expected: Vec<(String, u64)> =
        ["latency", "smoke"].iter().flat_map(|s| (0..3).map(move |seed| (s.to_string(), seed))).collect();
    expected.sort();
    assert_eq!(all, expected);
}

#[test]
fn a_shard_of_any_number_of_seeds_finds_its_slice_without_the_others() {
    // 2 × (2^64 - 1) jobs in slices of a third of a scenario's seeds: this shard has 6 runs.
    let n = u64::MAX / 3;
    let shard = format!("5/{n}");
    let out = run(faultline().args([
        "run",
        "smoke",
        "latency",
        "--seeds",
        &u64::MAX.to_string(),
        "--shard",
        &shard,
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seeds = [5, 5 + n, 5 + 2 * n];
    let expected: Vec<(String, u64)> =
        ["smoke", "latency"].iter().flat_map(|s| seeds.map(|seed| (s.to_string(), seed))).collect();
    assert_eq!(runs_of(&out.stdout), expected);
    // The issue's example, a billion slices of 2^64 - 1 seeds: 18 billion runs, so only its
    // start is watched (it used to die of "capacity overflow" before running any).
    let mut child = faultline()
        .args(["run", "smoke", "--seeds", &u64::MAX.to_string(), "--shard", "1/1000000000", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let header = lines.next().unwrap().unwrap();
    let first = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(header.contains(r#""shard":{"index":1,"count":1000000000}"#), "{header}");
    assert_eq!(runs_of(first.as_bytes()), vec![("smoke".to_owned(), 1)]);
}

#[test]
fn seed_start_moves_the_range_and_the_last_seed_bounds_it() {
    let out = run(faultline().args(["run", "smoke", "--seed-start", "0x10", "--seeds", "2", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(runs_of(&out.stdout), vec![("smoke".to_owned(), 16), ("smoke".to_owned(), 17)]);
    let header: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(header["seeds"], serde_json::json!({"start": 16, "count": 2}));
    // The very last seed is a range of one; one more is past it.
    let last = u64::MAX.to_string();
    let out = run(faultline().args(["run", "smoke", "--seed-start", &last, "--seeds", "1", "--json"]));
    assert_eq!(runs_of(&out.stdout), vec![("smoke".to_owned(), u64::MAX)]);
    for args in [["--seed-start", &last, "--seeds", "2"], ["--seed-start", "2", "--seeds", &last]] {
        let out = run(faultline().args(["run", "smoke"]).args(args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("run past the last seed"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    // Not a terminal: stderr stays empty.
    let out = run(faultline().args(["run", "smoke", "--seeds", "2"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
    // A terminal (util-linux `script` gives the command one): seeds/s and an ETA.
    let command = format!("{} run smoke --seeds 3 --jobs 1", env!("CARGO_BIN_EXE_faultline"));
    let out = run(std::process::Command::new("script").args(["-qec", &command, "/dev/null"]));
    let screen = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("/3 runs, ") && screen.contains("/s, ETA "), "{screen}");
    // --json on stdout: no progress even on a terminal.
    let command = format!("{} run smoke --seeds 2 --jobs 1 --json", env!("CARGO_BIN_EXE_faultline"));
    let out = run(std::process::Command::new("script").args(["-qec", &command, "/dev/null"]));
    assert!(!stdout(&out).contains("ETA"), "{}", stdout(&out));
}

#[test]
fn replay_writes_a_timeline() {
    let path = std::env::temp_dir().join(format!("faultline-timeline-{}.html", std::process::id()));
    let out = run(faultline().args(["replay", "partition", "--seed", "1", "--timeline"]).arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "{}", &html[..200.min(html.len())]);
    assert!(html.contains("partition"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn list_names_every_scenario() {
    let out = run(faultline().arg("list"));
    assert!(out.status.success());
    let text = stdout(&out);
    for name in [
        "smoke",
        "latency",
        "reorder",
        "partition",
        "crash-bounce",
        "lossy",
        "rst-stream",
        "goaway",
        "frame-reorder",
        "deadline",
        "chaos",
        "canary",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
}
