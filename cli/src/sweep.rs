//! `faultline run` and `faultline replay`: the library's sweep, printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use faultline_sim::catalogue;
use faultline_sim::sweep::{Entry, Shard, Summary, Sweep, replay_command, run_checked, summarize, to_report};
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::parse_seed;
use crate::exit::Failure;
use crate::table;

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
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Print the reports as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run every seed twice; a different trace is a `determinism` violation.
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

/// A catalogue name or a scenario file, with what replays it.
fn load(name_or_path: &str) -> Result<Entry, Failure> {
    if let Some(scenario) = catalogue::find(name_or_path) {
        return Ok(Entry { scenario, replay_as: name_or_path.to_owned() });
    }
    if name_or_path.ends_with(".toml") || Path::new(name_or_path).exists() {
        return load_file(Path::new(name_or_path));
    }
    let known: Vec<String> = catalogue::catalogue().into_iter().map(|s| s.name).collect();
    Err(Failure::environment(anyhow!("unknown scenario `{name_or_path}` (known: {})", known.join(", "))))
}

fn load_file(path: &Path) -> Result<Entry, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario file {}", path.display()))
        .map_err(Failure::environment)?;
    let scenario = faultline_sim::tutorial::scenario_from_toml(&text)
        .with_context(|| format!("{}", path.display()))
        .map_err(Failure::environment)?;
    Ok(Entry { scenario, replay_as: path.display().to_string() })
}

pub fn run_cmd(args: RunArgs) -> Result<(), Failure> {
    let mut entries = Vec::new();
    for name in &args.scenarios {
        entries.push(load(name)?);
    }
    for path in &args.files {
        entries.push(load_file(path)?);
    }
    if entries.is_empty() {
        entries = catalogue::catalogue()
            .into_iter()
            .map(|scenario| Entry { replay_as: scenario.name.clone(), scenario })
            .collect();
    }
    if args.seeds == 0 && args.seed.is_none() {
        return Err(Failure::environment(anyhow!("--seeds must be at least 1")));
    }
    let (first_seed, seeds) = args.seed.map_or((0, args.seeds), |seed| (seed, 1));
    let threads = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let sweep = Sweep {
        entries,
        first_seed,
        seeds,
        shard: args.shard,
        swarm: args.swarm,
        check_determinism: args.check_determinism,
        threads,
    };

    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(sweep.jobs()) };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs {per_sec} {msg}",
        )
        .expect("static template"),
    );
    let started = Instant::now();
    let outcomes = sweep.run(|o| {
        progress.set_message(format!("{} seed {}", o.report.scenario, o.report.seed));
        progress.inc(1);
    });
    progress.finish_and_clear();
    let wall = started.elapsed();

    let summaries = summarize(&sweep, &outcomes);
    let all_ok = summaries.iter().all(|s| s.ok);
    if args.json {
        let doc = serde_json::json!({ "ok": all_ok, "wall_ms": wall.as_millis() as u64, "runs": outcomes });
        println!("{}", serde_json::to_string_pretty(&doc).expect("reports serialize"));
    } else {
        print!("{}", table::render(&summaries.iter().map(row).collect::<Vec<_>>()));
        for o in to_report(&sweep, &outcomes) {
            println!();
            println!("FAILED {} SEED={}", o.report.scenario, o.report.seed);
            if sweep.swarm {
                println!(
                    "  swarm enabled faults: {}",
                    sweep.variant(o.entry, o.report.seed).fault_names().join(", ")
                );
            }
            for v in o.report.violations.iter().take(5) {
                println!("  {v}");
            }
            if o.report.violations.len() > 5 {
                println!("  ... and {} more", o.report.violations.len() - 5);
            }
            println!("  replay: {}", replay_command(&sweep, o));
        }
        println!("{} runs in {:.1}s wall", outcomes.len(), wall.as_secs_f64());
    }
    if all_ok {
        Ok(())
    } else {
        Err(Failure::check(anyhow!("some scenarios did not meet their expectation")))
    }
}

/// A summary as a table row: faults as `name×acted[touched]`, with the runs it was idle in.
fn row(s: &Summary) -> table::Row {
    let faults = s
        .faults
        .iter()
        .map(|(name, f)| {
            let idle = if f.idle_runs > 0 { format!(" idle:{}", f.idle_runs) } else { String::new() };
            format!("{name}×{}[{}]{idle}", f.acted, f.touched)
        })
        .collect::<Vec<_>>()
        .join(" ");
    table::Row {
        scenario: s.scenario.clone(),
        seeds: s.seeds,
        verdict: s.verdict(),
        calls: s.calls,
        failed_calls: s.failed_calls,
        faults,
        sim_time: s.sim_time,
        wall_time: s.wall_time,
    }
}

pub fn replay_cmd(args: ReplayArgs) -> Result<(), Failure> {
    let entry = load(&args.scenario)?;
    let scenario = if args.swarm { entry.scenario.swarm(args.seed) } else { entry.scenario };
    let report = run_checked(&scenario, args.seed, false);
    println!("scenario {} seed {} ({})", scenario.name, args.seed, scenario.description);
    let names = scenario.fault_names();
    println!("faults: {}", if names.is_empty() { "none".to_owned() } else { names.join(", ") });
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
    for v in &report.violations {
        println!("violation {v}");
    }
    if report.as_expected() {
        println!("SEED={} {}", args.seed, if report.passed() { "passed" } else { "caught, as expected" });
        Ok(())
    } else {
        Err(Failure::check(anyhow!("SEED={} failed: {} violation(s)", args.seed, report.violations.len())))
    }
}
