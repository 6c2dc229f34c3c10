//! `faultline-example-ledger`: the ledger against the fault catalogue; with `--with-bug`, the
//! ledger without idempotency keys, whose failure is then searched for and shrunk.
//!
//! Exit codes: 0 every scenario passed, 1 a scenario failed (the shrunk case is printed),
//! 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use faultline_example_ledger::{BUG, Ledger, Op, ops};
use faultline_sim::search::SearchConfig;
use faultline_sim::{Harness, Scenario, System, catalogue};

/// The ledger example: every scenario of the fault catalogue over seeds; on a failure, a
/// property search that shrinks it to a small scenario file and prints it with its seed.
#[derive(Debug, Parser)]
#[command(name = "faultline-example-ledger", about, long_about = None)]
struct Args {
    /// Serve the buggy ledger (transfer ids are not idempotency keys).
    #[arg(long)]
    with_bug: bool,
    /// Seeds per scenario, from 0.
    #[arg(long, default_value_t = 4, conflicts_with = "seed")]
    seeds: u64,
    /// Run only this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run only the catalogue scenario of this name.
    #[arg(long, conflicts_with = "file")]
    scenario: Option<String>,
    /// Replay this scenario file (what a search printed) instead, under `--seed`.
    #[arg(long, requires = "seed")]
    file: Option<PathBuf>,
}

const COMMAND: &str = "cargo run -p faultline-example-ledger --release --";
const REPLAY: &str = "cargo run -p faultline-example-ledger --release -- --file {file} --seed {seed}";

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", e.render().to_string().lines().next().unwrap_or("bad arguments"));
            return ExitCode::from(2);
        }
    };
    let mutant = args.with_bug.then(|| BUG.to_owned());
    if let (Some(path), Some(seed)) = (&args.file, args.seed) {
        return replay(path, seed);
    }
    let catalogue: Vec<Scenario<Op>> = catalogue::faults::<Op>()
        .into_iter()
        .filter(|s| args.scenario.as_ref().is_none_or(|name| s.name == *name))
        .map(|s| Scenario { mutant: mutant.clone(), ..s })
        .collect();
    if catalogue.is_empty() {
        eprintln!("unknown scenario `{}`", args.scenario.unwrap_or_default());
        return ExitCode::from(2);
    }
    let seeds = args.seed.map_or(0..args.seeds, |seed| seed..seed.saturating_add(1));
    let bug = if args.with_bug { " --with-bug" } else { "" };
    let replay = format!("{COMMAND}{bug} --scenario {{scenario}} --seed {{seed}}");
    let harness = Harness::new(Ledger).scenarios(catalogue.clone()).seeds(seeds.clone()).replay_as(&replay);
    let findings = match harness.run() {
        Ok(findings) => findings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ledger = if args.with_bug { "the ledger without idempotency keys" } else { "the ledger" };
    println!("{ledger}, {} scenarios x seeds {seeds:?}:", catalogue.len());
    for s in &catalogue {
        let verdict = if findings.iter().any(|f| f.scenario == s.name) { "FAIL" } else { "pass" };
        println!("  {verdict}  {}", s.name);
    }
    if findings.is_empty() {
        return ExitCode::SUCCESS;
    }
    for f in &findings {
        println!("\n{}", f.text);
    }
    println!("\nsearching for a small failing case ...");
    let config = SearchConfig { cases: 512, ..SearchConfig::default() };
    match harness.search(ops(), 2, mutant, config) {
        Ok(Some(found)) => println!("{}", found.describe(REPLAY)),
        Ok(None) => println!("the search found no smaller case in {} cases", config.cases),
        Err(e) => println!("{e}"),
    }
    ExitCode::from(1)
}

fn replay(path: &PathBuf, seed: u64) -> ExitCode {
    let scenario = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| Scenario::<Op>::from_toml(&text).map_err(|e| e.to_string()))
        .and_then(|s| Ledger.validate(&s).map(|()| s))
    {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let report = Harness::new(Ledger).replay(&scenario, seed);
    println!("SEED={seed} {}: {} calls, trace {:016x}", scenario.name, report.calls, report.trace_hash);
    for v in &report.violations {
        println!("  {v}");
    }
    if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
