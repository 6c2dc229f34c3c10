//! `run` and `replay`: the library's sweep, printed.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::Runner;
use super::exit::Failure;
use super::report::{Header, Outputs, Report};
use crate::runner::Stepping;
use crate::scenario::Scenario;
use crate::search::Found;
use crate::sweep::{Entry, SeedRange, Shard, Sweep, run_checked};
use crate::system::System;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenarios to run (default: the whole catalogue; see `list`).
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
    /// Step through every tick of simulated time even where this build could skip idle time
    /// (the same runs, slower: for measuring what skipping saves).
    #[arg(long, hide = true)]
    every_tick: bool,
    /// Let this scenario pass though its faults never act on the system's traffic on any seed
    /// (by default that is a failure: VACUOUS).
    #[arg(long, value_name = "SCENARIO")]
    allow_vacuous: Vec<String>,
    #[command(flatten)]
    mutant: MutantArgs,
}

/// Which mutant every scenario plants.
#[derive(Debug, Clone, Default, Args)]
pub struct MutantArgs {
    /// Plant the system's known bug in every scenario (a runner built `with_bug`).
    #[arg(long, conflicts_with = "mutant")]
    with_bug: bool,
    /// Plant this mutant in every scenario (one the system's `validate` knows).
    #[arg(long, value_name = "NAME")]
    mutant: Option<String>,
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
    #[command(flatten)]
    mutant: MutantArgs,
}

/// A seed in decimal or `0x` hex.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a seed (a u64 in decimal or 0x-prefixed hex)"))
}

impl<S: System> Runner<S> {
    /// The mutant the flags plant, and the flags that say so again in a replay line.
    fn mutant(&self, args: &MutantArgs) -> Result<(Option<String>, String), Failure> {
        match (args.with_bug, &args.mutant) {
            (true, _) => match &self.bug {
                Some(bug) => Ok((Some(bug.clone()), " --with-bug".to_owned())),
                None => Err(Failure::environment(anyhow!("--with-bug: this runner plants no bug"))),
            },
            (false, Some(m)) => Ok((Some(m.clone()), format!(" --mutant {m}"))),
            (false, None) => Ok((None, String::new())),
        }
    }

    /// A catalogue name or a scenario file, with what replays it, checked by the system.
    fn load(&self, name_or_path: &str, mutant: &Option<String>) -> Result<Entry<S::Op>, Failure> {
        let entry = if let Some(scenario) = self.catalogue.iter().find(|s| s.name == name_or_path) {
            Entry::named(scenario.clone())
        } else if name_or_path.ends_with(".toml") || Path::new(name_or_path).exists() {
            return self.load_file(Path::new(name_or_path), mutant);
        } else {
            let known: Vec<&str> = self.catalogue.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::environment(anyhow!(
                "unknown scenario `{name_or_path}` (known: {})",
                known.join(", ")
            )));
        };
        self.planted(entry, mutant)
    }

    fn load_file(&self, path: &Path, mutant: &Option<String>) -> Result<Entry<S::Op>, Failure> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario file {}", path.display()))
            .map_err(Failure::environment)?;
        let scenario = Scenario::<S::Op>::from_toml(&text)
            .with_context(|| format!("{}", path.display()))
            .map_err(Failure::environment)?;
        self.planted(Entry { scenario, replay_as: path.display().to_string(), allow_vacuous: false }, mutant)
    }

    /// The entry with the flags' mutant planted (a file's own mutant otherwise), validated.
    fn planted(&self, mut entry: Entry<S::Op>, mutant: &Option<String>) -> Result<Entry<S::Op>, Failure> {
        if mutant.is_some() {
            entry.scenario.mutant = mutant.clone();
        }
        let misplaced = crate::topology::Topology::misplaced(&self.system.nodes(), &entry.scenario);
        misplaced.map_or_else(|| self.system.validate(&entry.scenario), Err).map_err(|reason| {
            Failure::environment(anyhow!("invalid scenario `{}`: {reason}", entry.scenario.name))
        })?;
        Ok(entry)
    }
}

pub(super) fn run<S: System>(runner: &Runner<S>, args: RunArgs) -> Result<(), Failure> {
    let (mutant, flags) = runner.mutant(&args.mutant)?;
    let mut entries: Vec<Entry<S::Op>> = Vec::new();
    for name in &args.scenarios {
        entries.push(runner.load(name, &mutant)?);
    }
    for path in &args.files {
        entries.push(runner.load_file(path, &mutant)?);
    }
    if args.scenarios.is_empty() && args.files.is_empty() {
        for s in &runner.catalogue {
            entries.push(runner.load(&s.name, &mutant)?);
        }
    }
    if entries.is_empty() {
        return Err(Failure::environment(anyhow!("the catalogue is empty: no scenario to run")));
    }
    for entry in &mut entries {
        entry.allow_vacuous |= runner.allow_vacuous.contains(&entry.scenario.name);
    }
    for name in &args.allow_vacuous {
        match entries.iter_mut().find(|e| e.scenario.name == *name) {
            Some(entry) => entry.allow_vacuous = true,
            None => {
                return Err(Failure::environment(anyhow!(
                    "--allow-vacuous {name}: no such scenario in this run"
                )));
            }
        }
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
        system: runner.system.clone(),
        entries,
        seeds,
        shard: args.shard,
        swarm: args.swarm,
        check_determinism: args.check_determinism,
        stepping: if args.every_tick { Stepping::EveryTick } else { Stepping::default() },
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
    let mut report = Report::start(Header::of(&sweep), outputs, runner.replay_command(Some(&flags)))?;
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
    let result = report.finish(started.elapsed());
    if result.is_err()
        && !args.json
        && let Some(search) = &runner.search
    {
        shrink(runner, search, mutant);
    }
    result
}

/// Searches for a small failing case and prints it, saved as a file, with its replay line.
fn shrink<S: System>(runner: &Runner<S>, search: &super::Search<S::Op>, mutant: Option<String>) {
    println!("\nsearching for a small failing case ({} cases) ...", search.config.cases);
    let nodes = runner.system.nodes();
    let strategy = crate::search::scenario_in(search.ops.clone(), search.max_faults, mutant, nodes);
    match crate::search::search(&runner.system, strategy, search.config) {
        Ok(Some(found)) => println!("{}", describe(runner, &found)),
        Ok(None) => println!("the search found no failing case in {} cases", search.config.cases),
        Err(e) => println!("the search stopped: {e}"),
    }
}

/// A found case: written to `faultline-found-SEED.toml` in the working directory (or shown
/// only, when that cannot be written), with the command that replays it. The file names its
/// own mutant, so the replay needs no flags.
fn describe<S: System>(runner: &Runner<S>, found: &Found<S::Op>) -> String {
    let path = PathBuf::from(format!("faultline-found-{}.toml", found.seed));
    let saved = std::fs::write(&path, found.scenario.to_toml()).is_ok();
    let replay = runner.replay_command(None).line(&path.display().to_string(), found.seed, false);
    let mut text = found.describe(&replay);
    if saved {
        text += &format!("\n(the scenario file is saved as {})", path.display());
    }
    text
}

pub(super) fn replay<S: System>(runner: &Runner<S>, args: ReplayArgs) -> Result<(), Failure> {
    let (mutant, _) = runner.mutant(&args.mutant)?;
    let entry = runner.load(&args.scenario, &mutant)?;
    let scenario = if args.swarm { entry.scenario.swarm(args.seed) } else { entry.scenario };
    let report = run_checked(&runner.system, &scenario, args.seed, false);
    println!("scenario {} seed {} ({})", scenario.name, args.seed, scenario.description);
    let names = scenario.fault_names();
    println!("faults: {}", if names.is_empty() { "none".to_owned() } else { names.join(", ") });
    for event in &report.events {
        println!("{event}");
    }
    println!("trace hash {:016x}, {} events", report.trace_hash, report.events.len());
    if let Some(path) = &args.timeline {
        let html = crate::timeline::render(&scenario, &report);
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
