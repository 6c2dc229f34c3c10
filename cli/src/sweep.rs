//! `faultline run` and `faultline replay`: the library's sweep, printed.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use faultline_sim::catalogue;
use faultline_sim::sweep::{Entry, SeedRange, Shard, Sweep, run_checked};
use faultline_sim::tutorial::Tutorial;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::parse_seed;
use crate::exit::Failure;
use crate::report::{Header, Outputs, Report};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenarios to run (default: the whole catalogue; see `faultline list`).
    scenarios: Vec<String>,
    /// Also run scenarios from these TOML files.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Seeds per scenario, from --seed-start on (any number up to 2^64 - 1).
    #[arg(long, default_value_t = 8)]
    seeds: u64,
    /// The first seed (decimal or 0x hex): a machine can take a contiguous range of seeds.
    #[arg(long, value_parser = parse_seed, default_value = "0", conflicts_with = "seed")]
    seed_start: u64,
    /// Run exactly this seed (decimal or 0x hex) instead of a range.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Run only slice i of n (e.g. 0/4) of the (scenario, seed) pairs of the seed range.
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Print JSON Lines (a header, every run as it finishes, summaries) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write a JUnit XML report (one test case per scenario) to this file.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
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
    let mut entries: Vec<Entry> = Vec::new();
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
    // A run's line names its scenario; two of one name could not be told apart.
    for (i, e) in entries.iter().enumerate() {
        if entries[..i].iter().any(|other| other.scenario.name == e.scenario.name) {
            return Err(Failure::environment(anyhow!("scenario `{}` is given twice", e.scenario.name)));
        }
    }
    let (start, count) = args.seed.map_or((args.seed_start, args.seeds), |seed| (seed, 1));
    let seeds = SeedRange::new(start, count).map_err(|e| Failure::environment(e.into()))?;
    let threads = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let sweep = Sweep {
        system: Tutorial::shared(),
        entries,
        seeds,
        shard: args.shard,
        swarm: args.swarm,
        check_determinism: args.check_determinism,
        threads,
    };

    // indicatif draws only on a terminal; with JSON on stdout, not at all.
    let jobs = u64::try_from(sweep.jobs()).unwrap_or(u64::MAX);
    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(jobs) };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} runs, {per_sec}, ETA {eta} {msg}",
        )
        .expect("static template"),
    );
    let outputs = Outputs { json: args.json, junit: args.junit };
    let mut report = Report::start(Header::of(&sweep), outputs)?;
    let started = Instant::now();
    let mut failed = None;
    sweep.run(|o| {
        progress.set_message(format!("{} seed {}", o.record.scenario, o.record.seed));
        progress.inc(1);
        match report.add(o.entry, o.record) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    progress.finish_and_clear();
    if let Some(e) = failed {
        return Err(e);
    }
    report.finish(started.elapsed())
}

pub fn replay_cmd(args: ReplayArgs) -> Result<(), Failure> {
    let entry = load(&args.scenario)?;
    let scenario = if args.swarm { entry.scenario.swarm(args.seed) } else { entry.scenario };
    let report = run_checked(&Tutorial::shared(), &scenario, args.seed, false);
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
