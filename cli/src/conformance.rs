//! `faultline conformance`: the grpcio transcripts against the Rust server and client, or
//! against any server at an address (`--target`).

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use faultline_conformance::known::{KnownFailures, load_target_known};
use faultline_conformance::{Direction, Report, Suite, Target, TranscriptSet};
use faultline_services::Mutant;

use faultline_sim::cli::Failure;

/// A direction to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    /// The recorded client against the Rust server.
    RustServer,
    /// The Rust client against the recorded server.
    RustClient,
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Folder with cases.toml, rules.toml and known-failures.toml [default: the conformance crate's].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Transcripts to run [default: DIR/transcripts].
    #[arg(long, value_name = "DIR")]
    transcripts: Option<PathBuf>,
    /// Run only this direction.
    #[arg(long, value_enum)]
    direction: Option<DirectionArg>,
    /// Skip the runs inside the simulator.
    #[arg(long)]
    no_sim: bool,
    /// Seed of the simulated runs (decimal or 0x-prefixed hex).
    #[arg(long, default_value = "0", value_parser = faultline_sim::cli::parse_seed)]
    seed: u64,
    /// Run the Rust server with a deliberately wrong rule (the suite must fail).
    #[arg(long)]
    mutant: Option<Mutant>,
    /// Replay the recorded client side of every case against the server at ADDR (HOST:PORT,
    /// h2c) instead: any gRPC implementation of the tutorial services. Exit 2 when nothing
    /// answers HTTP/2 there.
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with_all = ["live_client", "recorded_against_rust", "drift", "direction", "no_sim", "mutant"]
    )]
    target: Option<String>,
    /// With --target: the target's known differences (known-failures.toml's format, every entry
    /// of direction `target`; an entry that excuses nothing fails) [default: none].
    #[arg(long, value_name = "FILE", requires = "target")]
    known_failures: Option<PathBuf>,
    /// Live: run the Rust client against the server at ADDR (grpcio's, in CI) instead.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["recorded_against_rust", "drift"])]
    live_client: Option<String>,
    /// Live: compare transcripts recorded by grpcio's client against the Rust server with the
    /// committed ones.
    #[arg(long, value_name = "DIR", conflicts_with = "drift")]
    recorded_against_rust: Option<PathBuf>,
    /// Drift: compare transcripts re-recorded against grpcio with the committed ones (nothing may differ).
    #[arg(long, value_name = "DIR")]
    drift: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Also print the differences behind known failures.
    #[arg(long)]
    verbose: bool,
}

pub fn run(args: ConformanceArgs) -> Result<(), Failure> {
    let dir = args.dir.clone().unwrap_or_else(Suite::default_dir);
    let transcripts = args.transcripts.clone().unwrap_or_else(|| dir.join("transcripts"));
    let suite = Suite::load_with_transcripts(&dir, &transcripts)
        .context("cannot load the conformance suite")
        .map_err(Failure::environment)?;
    let load = |d: &PathBuf| {
        TranscriptSet::load(d).with_context(|| format!("cannot load the transcripts in {}", d.display()))
    };
    let report = if let Some(addr) = &args.target {
        let target = Target::new(addr).map_err(|e| Failure::environment(e.into()))?;
        let known = match &args.known_failures {
            Some(path) => load_target_known(path, &suite.cases)
                .context("cannot load the target's known failures")
                .map_err(Failure::environment)?,
            None => KnownFailures::default(),
        };
        suite.run_target(&target, &known).context("conformance --target").map_err(Failure::environment)?
    } else if let Some(addr) = &args.live_client {
        suite.run_live_client(addr).context("live run").map_err(Failure::environment)?
    } else if let Some(d) = &args.recorded_against_rust {
        suite.compare_recording(&load(d).map_err(Failure::environment)?, Direction::RustServer)
    } else if let Some(d) = &args.drift {
        suite.compare_recording(&load(d).map_err(Failure::environment)?, Direction::Drift)
    } else {
        local_runs(&suite, &args)?
    };
    let text = if args.json {
        let json =
            serde_json::to_string_pretty(&report).context("results as JSON").map_err(Failure::environment)?;
        format!("{json}\n")
    } else {
        let details = report.details(args.verbose);
        if details.is_empty() { report.table() } else { format!("{}\n{details}", report.table()) }
    };
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if report.passed() {
        Ok(())
    } else {
        let failed = report
            .results
            .iter()
            .filter(|r| {
                !matches!(
                    r.verdict,
                    faultline_conformance::Verdict::Pass | faultline_conformance::Verdict::KnownFailure
                )
            })
            .count();
        Err(Failure::check(anyhow!("{failed} conformance check(s) failed (differences above)")))
    }
}

fn local_runs(suite: &Suite, args: &ConformanceArgs) -> Result<Report, Failure> {
    let directions: &[Direction] = match args.direction {
        Some(DirectionArg::RustServer) => &[Direction::RustServer],
        Some(DirectionArg::RustClient) => &[Direction::RustClient],
        None => &[Direction::RustServer, Direction::RustClient],
    };
    let mut report = Report::default();
    for &direction in directions {
        // A mutant changes the server; the client direction has none to change.
        let mutant = if direction == Direction::RustServer { args.mutant } else { None };
        report.extend(
            suite
                .run_in_process(direction, mutant)
                .context("in-process run")
                .map_err(Failure::environment)?,
        );
        if !args.no_sim {
            report.extend(suite.run_simulated(direction, args.seed, mutant));
        }
    }
    Ok(report)
}
