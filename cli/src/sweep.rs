//! `faultline run` and `faultline replay`: scenarios over seeds, a table, a verdict.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use faultline_sim::catalogue;
use faultline_sim::scenario::{Expect, Scenario};
use faultline_sim::trace::first_difference;
use faultline_sim::{RunReport, run};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::client::parse_seed;
use crate::exit::Failure;
use crate::table;

/// `i/n`: this process runs the i-th of n disjoint slices of the (scenario, seed) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// Parses `--shard i/n` (0 <= i < n).
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("`{s}` is not a shard: expected i/n with 0 <= i < n, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenarios to run (default: the whole catalogue; see `faultline list`).
    scenarios: Vec<String>,
    /// Also run scenarios from these TOML files.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Seeds per scenario: 0..N.
    #[arg(long, default_value_t = 8)]
    seeds: u64,
    /// Run exactly this seed (decimal or 0x hex) instead of 0..N.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Run only slice i of n (e.g. 0/4) of the (scenario, seed) pairs.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Print the reports as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run every seed twice and compare the trace hashes.
    #[arg(long)]
    check_determinism: bool,
    /// Swarm testing: each seed keeps a random subset of the scenario's faults.
    #[arg(long)]
    swarm: bool,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The scenario to replay (a catalogue name, or a TOML file's path).
    scenario: String,
    /// The seed to replay (decimal or 0x hex).
    #[arg(long, value_parser = parse_seed)]
    seed: u64,
    /// Replay the swarm variant of the scenario for this seed.
    #[arg(long)]
    swarm: bool,
    /// Write a timeline of the run (HTML with an SVG) to this file.
    #[arg(long, value_name = "PATH")]
    timeline: Option<PathBuf>,
}

/// One (scenario, seed) run with its wall time and determinism verdict.
#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub report: RunReport,
    pub expect: Expect,
    pub wall_ms: u64,
    /// Set when `--check-determinism` found the second run differing.
    pub nondeterminism: Option<String>,
}

impl Outcome {
    fn bad(&self) -> bool {
        self.nondeterminism.is_some() || (self.expect == Expect::Pass && !self.report.passed())
    }
}

fn load(name_or_path: &str) -> Result<Scenario, Failure> {
    if let Some(s) = catalogue::find(name_or_path) {
        return Ok(s);
    }
    if name_or_path.ends_with(".toml") || std::path::Path::new(name_or_path).exists() {
        return load_file(&PathBuf::from(name_or_path));
    }
    let known: Vec<String> = catalogue::catalogue().into_iter().map(|s| s.name).collect();
    Err(Failure::environment(anyhow!("unknown scenario `{name_or_path}` (known: {})", known.join(", "))))
}

fn load_file(path: &PathBuf) -> Result<Scenario, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario file {}", path.display()))
        .map_err(Failure::environment)?;
    Scenario::from_toml(&text).with_context(|| format!("{}", path.display())).map_err(Failure::environment)
}

fn variant(scenario: &Scenario, seed: u64, swarm: bool) -> Scenario {
    if swarm { scenario.swarm(seed) } else { scenario.clone() }
}

fn run_one(scenario: &Scenario, seed: u64, swarm: bool, check_determinism: bool) -> Outcome {
    let scenario = variant(scenario, seed, swarm);
    // Wall time is reported, never fed into the simulation.
    let started = Instant::now();
    let report = run(&scenario, seed);
    let wall_ms = started.elapsed().as_millis() as u64;
    let nondeterminism = check_determinism.then(|| run(&scenario, seed)).and_then(|again| {
        (again.trace_hash != report.trace_hash).then(|| {
            let at = first_difference(&report.events, &again.events).unwrap_or(0);
            let show = |events: &[faultline_sim::trace::Event]| {
                events.get(at).map_or_else(|| "<end of trace>".to_owned(), ToString::to_string)
            };
            format!(
                "event {at} differs: first run `{}`, second run `{}`",
                show(&report.events),
                show(&again.events)
            )
        })
    });
    Outcome { report, expect: scenario.expect, wall_ms, nondeterminism }
}

pub fn run_cmd(args: RunArgs) -> Result<(), Failure> {
    let mut scenarios = Vec::new();
    for name in &args.scenarios {
        scenarios.push(load(name)?);
    }
    for path in &args.files {
        scenarios.push(load_file(path)?);
    }
    if scenarios.is_empty() {
        scenarios = catalogue::catalogue();
    }
    if args.seeds == 0 && args.seed.is_none() {
        return Err(Failure::environment(anyhow!("--seeds must be at least 1")));
    }
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (0..args.seeds).collect(),
    };
    let mut jobs: Vec<(usize, u64)> =
        (0..scenarios.len()).flat_map(|i| seeds.iter().map(move |&s| (i, s))).collect();
    if let Some(shard) = args.shard {
        jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % shard.count == shard.index)
            .map(|(_, j)| j)
            .collect();
    }

    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(jobs.len() as u64) };
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs {msg}")
            .expect("static template"),
    );
    let started = Instant::now();
    let threads =
        args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let outcomes = parallel(&jobs, threads, |&(i, seed)| {
        let outcome = run_one(&scenarios[i], seed, args.swarm, args.check_determinism);
        progress.set_message(format!("{} seed {seed}", scenarios[i].name));
        progress.inc(1);
        (i, outcome)
    });
    progress.finish_and_clear();
    let wall = started.elapsed();

    let (rows, all_ok) = summarize(&scenarios, &outcomes, args.swarm);
    if args.json {
        let reports: Vec<&Outcome> = outcomes.iter().map(|(_, o)| o).collect();
        let doc = serde_json::json!({ "ok": all_ok, "wall_ms": wall.as_millis() as u64, "runs": reports });
        println!("{}", serde_json::to_string_pretty(&doc).expect("reports serialize"));
    } else {
        print!("{}", table::render(&rows));
        print_failures(&scenarios, &outcomes, args.swarm);
        println!("{} runs in {:.1}s wall", outcomes.len(), wall.as_secs_f64());
    }
    if all_ok {
        Ok(())
    } else {
        Err(Failure::check(anyhow!("some scenarios did not meet their expectation")))
    }
}

/// Runs `f` over `items` on `threads` OS threads; results in item order.
fn parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(items.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(item) = items.get(k) else { break };
                        out.push((k, f(item)));
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("simulation worker panicked")).collect()
    });
    results.sort_by_key(|(k, _)| *k);
    results.into_iter().map(|(_, r)| r).collect()
}

fn summarize(scenarios: &[Scenario], outcomes: &[(usize, Outcome)], swarm: bool) -> (Vec<table::Row>, bool) {
    let mut rows = Vec::new();
    let mut all_ok = true;
    for (i, scenario) in scenarios.iter().enumerate() {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|(k, _)| *k == i).map(|(_, o)| o).collect();
        if mine.is_empty() {
            continue;
        }
        let failing = mine.iter().filter(|o| !o.report.passed()).count();
        let nondeterministic = mine.iter().any(|o| o.nondeterminism.is_some());
        let verdict = match scenario.expect {
            _ if nondeterministic => "NONDETERMINISTIC".to_owned(),
            Expect::Pass if failing == 0 => "pass".to_owned(),
            Expect::Pass => format!("FAIL {failing}/{}", mine.len()),
            Expect::Caught if failing > 0 => format!("caught {failing}/{}", mine.len()),
            Expect::Caught => "MISSED".to_owned(),
        };
        let ok =
            !nondeterministic && (if scenario.expect == Expect::Pass { failing == 0 } else { failing > 0 });
        all_ok &= ok;
        let mut fired = std::collections::BTreeMap::<String, u32>::new();
        for o in &mine {
            for (name, t) in o.report.fired() {
                *fired.entry(name.to_owned()).or_default() += t.acted;
            }
        }
        let name = if swarm { format!("{} (swarm)", scenario.name) } else { scenario.name.clone() };
        rows.push(table::Row {
            scenario: name,
            seeds: mine.len(),
            verdict,
            calls: mine.iter().map(|o| o.report.calls).sum(),
            failed_calls: mine.iter().map(|o| o.report.failed_calls).sum(),
            faults: fired.iter().map(|(n, c)| format!("{n}×{c}")).collect::<Vec<_>>().join(" "),
            sim_time: Duration::from_micros(mine.iter().map(|o| o.report.sim_time_us).sum()),
            wall_time: Duration::from_millis(mine.iter().map(|o| o.wall_ms).sum()),
        });
    }
    (rows, all_ok)
}

fn print_failures(scenarios: &[Scenario], outcomes: &[(usize, Outcome)], swarm: bool) {
    let swarm_flag = if swarm { " --swarm" } else { "" };
    for (i, o) in outcomes {
        if !o.bad() {
            continue;
        }
        let name = &scenarios[*i].name;
        println!();
        println!("FAILED {name} SEED={}", o.report.seed);
        if swarm {
            println!(
                "  swarm enabled faults: {}",
                variant(&scenarios[*i], o.report.seed, true).fault_names().join(", ")
            );
        }
        if let Some(nd) = &o.nondeterminism {
            println!("  nondeterminism: {nd}");
        }
        for v in o.report.violations.iter().take(5) {
            println!("  {v}");
        }
        if o.report.violations.len() > 5 {
            println!("  ... and {} more", o.report.violations.len() - 5);
        }
        println!("  replay: cargo run --release -- replay {name} --seed {}{swarm_flag}", o.report.seed);
    }
}

pub fn replay_cmd(args: ReplayArgs) -> Result<(), Failure> {
    let scenario = variant(&load(&args.scenario)?, args.seed, args.swarm);
    let report = run(&scenario, args.seed);
    println!("scenario {} seed {} ({})", scenario.name, args.seed, scenario.description);
    println!(
        "faults: {}",
        if scenario.fault_names().is_empty() { "none".to_owned() } else { scenario.fault_names().join(", ") }
    );
    for event in &report.events {
        println!("{event}");
    }
    println!("trace hash {:016x}, {} events", report.trace_hash, report.events.len());
    if let Some(path) = &args.timeline {
        let html = faultline_sim::timeline::render(&scenario, &report);
        std::fs::write(path, html)
            .with_context(|| format!("cannot write timeline to {}", path.display()))
            .map_err(Failure::environment)?;
        println!("timeline written to {}", path.display());
    }
    let as_expected = match scenario.expect {
        Expect::Pass => report.passed(),
        Expect::Caught => !report.passed(),
    };
    for v in &report.violations {
        println!("violation {v}");
    }
    if as_expected {
        println!("SEED={} {}", args.seed, if report.passed() { "passed" } else { "caught, as expected" });
        Ok(())
    } else {
        Err(Failure::check(anyhow!("SEED={} failed: {} violation(s)", args.seed, report.violations.len())))
    }
}
