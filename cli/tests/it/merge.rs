//! `faultline merge` and `--junit`: shards merged give the whole sweep's report.

use std::path::{Path, PathBuf};
use std::process::Output;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use crate::support::{faultline, run, stderr};
use crate::sweep::stdout;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("faultline-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        std::fs::write(self.path(name), text).unwrap();
        self.path(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every `"wall_ms":N` made `"wall_ms":0`: the only fields that differ between two runs.
fn without_wall_times(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find("\"wall_ms\":") {
        let (head, tail) = rest.split_at(at + "\"wall_ms\":".len());
        out.push_str(head);
        out.push('0');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// The table with the wall-time column and footer masked.
fn table_without_wall_times(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.ends_with("s wall") {
                return "N runs in <wall> wall".to_owned();
            }
            let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
            match cells.len().checked_sub(2).map(|i| cells[i].trim()) {
                Some(w) if w.ends_with('s') && w.trim_end_matches('s').parse::<f64>().is_ok() => {
                    line.replacen(w, "<wall>", 1)
                }
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `faultline run <sweep> <extra>`, its JSON output saved as `name`.
fn run_json(dir: &Scratch, sweep: &[&str], extra: &[&str], name: &str) -> (PathBuf, Output) {
    let out = run(faultline().arg("run").args(sweep).args(extra).arg("--json"));
    let path = dir.write(name, &stdout(&out));
    (path, out)
}

fn merge<P: AsRef<std::ffi::OsStr>>(files: &[P], extra: &[&str]) -> Output {
    run(faultline().arg("merge").args(files).args(extra))
}

/// A sweep with a finding in it: a scenario file whose service echoes the wrong note.
fn sweep_with_a_finding(dir: &Scratch) -> Vec<String> {
    let file = dir.write("echo.toml", "name = \"echo\"\nmutant = \"echo-new-note\"\n");
    ["smoke", "canary", "--file", file.to_str().unwrap()].map(str::to_owned).to_vec()
}

#[test]
fn four_shards_merged_are_the_unsharded_sweep() {
    let dir = Scratch::new("merge");
    let scenarios = sweep_with_a_finding(&dir);
    let scenarios: Vec<&str> = scenarios.iter().map(String::as_str).collect();
    let sweep = [&scenarios[..], &["--seeds", "3"]].concat();
    let (whole, whole_out) = run_json(&dir, &sweep, &[], "whole.json");
    assert_eq!(whole_out.status.code(), Some(1), "{}", stderr(&whole_out));
    let shards: Vec<PathBuf> = (0..4)
        .map(|i| {
            let (path, out) =
                run_json(&dir, &sweep, &["--shard", &format!("{i}/4")], &format!("shard-{i}.json"));
            // Each shard's own verdict: only some of them hold echo's failing seeds.
            assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
            path
        })
        .collect();
    // In any order.
    let files: Vec<&Path> = [3, 1, 0, 2].iter().map(|&i| shards[i].as_path()).collect();

    let merged = merge(&files, &["--json"]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    let whole_json = std::fs::read_to_string(&whole).unwrap();
    assert!(whole_json.lines().count() > 9 + 3, "{whole_json}");
    assert_eq!(without_wall_times(&stdout(&merged)), without_wall_times(&whole_json));

    // The table and its findings too, and the exit code.
    let table = run(faultline().arg("run").args(&sweep));
    let merged_table = merge(&files, &[]);
    assert_eq!(merged_table.status.code(), table.status.code());
    assert_eq!(table_without_wall_times(&stdout(&merged_table)), table_without_wall_times(&stdout(&table)));
    assert!(stdout(&merged_table).contains("FAILED echo SEED=0"), "{}", stdout(&merged_table));

    // Contiguous seed ranges (one of them sharded) merge into the same sweep.
    let mut pieces = vec![run_json(&dir, &scenarios, &["--seed-start", "2", "--seeds", "1"], "tail.json").0];
    for i in 0..2 {
        let shard = format!("{i}/2");
        pieces.push(
            run_json(&dir, &scenarios, &["--seeds", "2", "--shard", &shard], &format!("head-{i}.json")).0,
        );
    }
    let files: Vec<&Path> = pieces.iter().map(PathBuf::as_path).collect();
    let merged = merge(&files, &["--json"]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert_eq!(without_wall_times(&stdout(&merged)), without_wall_times(&whole_json));
}

#[test]
fn merge_refuses_what_is_not_one_sweep_run_once() {
    let dir = Scratch::new("merge-refusals");
    let sweep = ["smoke", "--seeds", "2"];
    let shard = |i: u32, n: u32, extra: &[&str]| {
        let name = format!("s{i}-{n}{}.json", extra.join("").replace(['-', '/'], ""));
        let mut args = vec!["--shard".to_owned(), format!("{i}/{n}")];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_json(&dir, &sweep, &args, &name).0
    };
    let (s0, s1) = (shard(0, 2, &[]), shard(1, 2, &[]));
    let s0_of_3 = shard(0, 3, &[]);
    let swarm = shard(1, 2, &["--swarm"]);
    let later = run_json(&dir, &sweep, &["--seed-start", "5"], "later.json").0;
    let overlapping = run_json(&dir, &sweep, &["--seed-start", "1"], "overlapping.json").0;
    let whole = run_json(&dir, &sweep, &[], "whole.json").0;
    let latency = run_json(&dir, &["latency", "--seeds", "2", "--shard", "1/2"], &[], "latency.json").0;
    let text = std::fs::read_to_string(&s1).unwrap();
    let truncated = dir.write("truncated.json", &text[..text.rfind("{\"type\":\"run\"").unwrap()]);
    let cut = dir.write("cut.json", &text[..text.len() / 2]);
    let no_end = dir.write("no-end.json", &text[..text.rfind("{\"type\":\"end\"").unwrap()]);
    let future = dir.write("future.json", &text.replacen("\"format\":1", "\"format\":2", 1));
    let not_sweep = dir.write("not-sweep.json", "{\"ok\":true}\n");
    let empty = dir.write("empty.json", "");

    let nonexistent = PathBuf::from("/nonexistent/shard.json");
    let cases: Vec<(Vec<&PathBuf>, &str)> = vec![
        (vec![&s0, &s1, &s1], "overlap: shard 1/2 of seeds 0..=1 given twice"),
        (vec![&s0, &whole], "both run seeds 0..=1"),
        (vec![&s0, &s1, &s0_of_3], "cut two ways"),
        (vec![&whole, &overlapping], "overlap:"),
        (vec![&s0], "missing shard 1/2 of seeds 0..=1"),
        (vec![&whole, &later], "missing seeds 2..=4"),
        (vec![&s0, &swarm], "--swarm or --check-determinism differ"),
        (vec![&s0, &latency], "scenarios (names, files or settings) differ"),
        (vec![&s0, &truncated], "truncated output?"),
        (vec![&s0, &cut], "not a faultline sweep record"),
        (vec![&s0, &no_end], "no `end` record"),
        (vec![&s0, &future], "format version 2"),
        (vec![&not_sweep], "not a faultline sweep record"),
        (vec![&empty], "empty"),
        (vec![&nonexistent], "cannot read"),
    ];
    for (files, message) in cases {
        let out = merge(&files, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{files:?}: {err}");
        assert!(err.contains(message), "{files:?}: expected {message:?} in {err:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{files:?}: not one line: {err}");
        assert_eq!(stdout(&out), "", "{files:?}");
    }
    let out = merge::<&str>(&[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// One `<testcase>`: classname, name, and its failure's text if it failed.
type Case = (String, String, Option<String>);

/// The JUnit file's test cases, read back with quick-xml, and any elements left open.
fn test_cases(xml: &str) -> (Vec<Case>, Vec<String>) {
    let mut reader = Reader::from_str(xml);
    let (mut cases, mut stack): (Vec<Case>, Vec<String>) = (Vec::new(), Vec::new());
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        let value = e
            .try_get_attribute(name)
            .unwrap()
            .map(|a| a.normalized_value(XmlVersion::Implicit1_0).unwrap().into_owned());
        value.unwrap_or_default()
    };
    let failure = |text: &str, cases: &mut Vec<Case>| {
        cases.last_mut().unwrap().2.get_or_insert_with(String::new).push_str(text);
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                if e.name().as_ref() == "testcase" {
                    cases.push((attr(&e, "classname"), attr(&e, "name"), None));
                }
                stack.push(e.name().as_ref().to_owned());
            }
            Event::Empty(e) if e.name().as_ref() == "testcase" => {
                cases.push((attr(&e, "classname"), attr(&e, "name"), None));
            }
            Event::Text(t) if stack.last().is_some_and(|t| t == "failure") => failure(&t, &mut cases),
            Event::GeneralRef(r) if stack.last().is_some_and(|t| t == "failure") => {
                let resolved = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&r).unwrap().to_owned(),
                };
                failure(&resolved, &mut cases);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, stack)
}

#[test]
fn junit_has_a_case_per_scenario_and_failures_carry_seed_and_replay() {
    let dir = Scratch::new("junit");
    let mut sweep = sweep_with_a_finding(&dir);
    sweep.extend(["--seeds".to_owned(), "3".to_owned()]);
    let run_xml = dir.path("run.xml");
    let out = run(faultline().arg("run").args(&sweep).arg("--junit").arg(&run_xml));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let xml = std::fs::read_to_string(&run_xml).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
    assert!(xml.contains("<testsuites name=\"faultline\" tests=\"3\" failures=\"1\""), "{xml}");
    let (cases, open) = test_cases(&xml);
    assert!(open.is_empty(), "unclosed elements {open:?}");
    let names: Vec<(&str, &str)> = cases.iter().map(|(c, n, _)| (c.as_str(), n.as_str())).collect();
    assert_eq!(
        names,
        [
            ("faultline.smoke", "seeds 0..=2"),
            ("faultline.canary", "seeds 0..=2"),
            ("faultline.echo", "seeds 0..=2")
        ]
    );
    assert_eq!((cases[0].2.as_deref(), cases[1].2.as_deref()), (None, None));
    let failure = cases[2].2.as_deref().unwrap();
    let file = dir.path("echo.toml");
    for seed in 0..3 {
        assert!(failure.contains(&format!("SEED={seed}\n")), "{failure}");
        let replay = format!("replay: cargo run --release -- replay {} --seed {seed}\n", file.display());
        assert!(failure.contains(&replay), "{failure}");
    }
    assert!(failure.contains("[chat]"), "{failure}");

    // A shard's cases name it; merged shards give the run's file, wall times apart.
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| {
            let xml = dir.path(&format!("shard-{i}.xml"));
            let shard = format!("{i}/2");
            let out = run(faultline()
                .arg("run")
                .args(&sweep)
                .args(["--shard", &shard, "--json", "--junit"])
                .arg(&xml));
            let (cases, _) = test_cases(&std::fs::read_to_string(&xml).unwrap());
            assert!(cases.iter().all(|c| c.1 == format!("seeds 0..=2 shard {i}/2")), "{cases:?}");
            dir.write(&format!("shard-{i}.json"), &stdout(&out))
        })
        .collect();
    let merged_xml = dir.path("merged.xml");
    let files: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let out = run(faultline().arg("merge").args(&files).arg("--junit").arg(&merged_xml));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let strip = |xml: &str| -> String {
        xml.split("time=\"")
            .enumerate()
            .map(|(i, p)| if i == 0 { p } else { &p[p.find('"').unwrap()..] })
            .collect()
    };
    assert_eq!(strip(&std::fs::read_to_string(&merged_xml).unwrap()), strip(&xml));
}
