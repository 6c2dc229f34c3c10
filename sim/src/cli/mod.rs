//! The runner any system's `main` calls: `run` (scenarios over seeds, shards, `--json`,
//! `--junit`, swarm, determinism), `replay` (one run, verbosely, with a timeline), `list` and
//! `merge`, with the flags and exit codes of `faultline run`.
//!
//! ```no_run
//! # use faultline_tutorial::Tutorial;
//! fn main() -> std::process::ExitCode {
//!     faultline_sim::cli::Runner::new(Tutorial::default()).main()
//! }
//! ```
//!
//! Exit codes: 0 every scenario met its expectation, 1 one did not (each failure printed with
//! `SEED=` and the command that replays it), 2 bad input (an unknown scenario, an unreadable
//! file, bad flags). Without a subcommand the runner runs (`my-runner --seeds 16` is
//! `my-runner run --seeds 16`).
//!
//! This module is the binary side of the library: it prints, and its errors are `anyhow`'s.

mod exit;
mod junit;
mod merge;
mod report;
mod run;
mod table;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use proptest::strategy::{BoxedStrategy, Strategy};

pub use self::exit::Failure;
pub use self::merge::MergeArgs;
pub use self::report::{FORMAT, Header, Line, ScenarioInfo};
pub use self::run::{ReplayArgs, RunArgs, parse_seed};
use crate::scenario::Scenario;
use crate::search::SearchConfig;
use crate::sweep::ReplayCommand;
use crate::system::System;

/// A runner's subcommands (a binary with more of its own flattens these into its own).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios over seeds in the simulator; print a table; exit 1 on failure.
    Run(RunArgs),
    /// Merge the `--json` outputs of a sweep's shards into the whole sweep's report.
    Merge(MergeArgs),
    /// Replay one scenario and seed verbosely, optionally writing a timeline.
    Replay(ReplayArgs),
    /// List the scenario catalogue.
    List,
}

/// The command line of a runner: a subcommand, or `run`'s flags alone.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// The search a runner makes after a failing `run`: scenarios of scripted operations drawn from
/// a strategy, shrunk to a small failing case.
struct Search<O> {
    ops: BoxedStrategy<O>,
    max_faults: usize,
    config: SearchConfig,
}

/// A system's command-line runner. Build it, then call [`Runner::main`].
pub struct Runner<S: System> {
    system: Arc<S>,
    name: String,
    catalogue: Vec<Scenario<S::Op>>,
    program: Option<String>,
    bug: Option<String>,
    search: Option<Search<S::Op>>,
    allow_vacuous: Vec<String>,
}

impl<S: System> Runner<S> {
    /// A runner of `system` over its catalogue ([`System::catalogue`]).
    pub fn new(system: S) -> Self {
        Self::shared(Arc::new(system))
    }

    /// The same, for a system already shared.
    pub fn shared(system: Arc<S>) -> Self {
        let catalogue = system.catalogue();
        let name = std::env::args()
            .next()
            .map(PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "faultline".to_owned());
        Self { system, name, catalogue, program: None, bug: None, search: None, allow_vacuous: Vec::new() }
    }

    /// Runs these scenarios by default instead of the system's catalogue.
    pub fn catalogue(mut self, scenarios: impl IntoIterator<Item = Scenario<S::Op>>) -> Self {
        self.catalogue = scenarios.into_iter().collect();
        self
    }

    /// How replay lines start (default: `cargo run --release -p PACKAGE --` when run by cargo,
    /// else this program's path).
    pub fn command(mut self, program: &str) -> Self {
        self.program = Some(program.to_owned());
        self
    }

    /// Replay lines run this package's binary: `cargo run --release -p PACKAGE --` (pass
    /// `env!("CARGO_PKG_NAME")`).
    pub fn package(self, package: &str) -> Self {
        self.command(&format!("cargo run --release -p {package} --"))
    }

    /// The mutant `--with-bug` plants in every scenario (see [`System::validate`]).
    pub fn with_bug(mut self, mutant: &str) -> Self {
        self.bug = Some(mutant.to_owned());
        self
    }

    /// Lets these scenarios pass though their faults never act on the system's traffic on any
    /// seed (as `--allow-vacuous` does): a unary service never meets `rst-stream`.
    pub fn allow_vacuous<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.allow_vacuous.extend(names.into_iter().map(str::to_owned));
        self
    }

    /// After a failing `run`, search scenarios of operations from `ops` (and up to
    /// `max_faults` faults) for a small failing case, and print it as a file with its replay.
    pub fn search_on_failure(
        mut self,
        ops: impl Strategy<Value = S::Op> + 'static,
        max_faults: usize,
        config: SearchConfig,
    ) -> Self {
        self.search = Some(Search { ops: ops.boxed(), max_faults, config });
        self
    }

    /// The system run.
    pub fn system(&self) -> &Arc<S> {
        &self.system
    }

    /// Parses the process's arguments and runs; the exit code to return from `main`.
    pub fn main(self) -> ExitCode {
        self.main_from(std::env::args_os())
    }

    /// Parses `args` (the program's name first) and runs.
    pub fn main_from(self, args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
        let matches = match <Cli as clap::CommandFactory>::command()
            .name(self.name.clone())
            .about("Deterministic simulation tests of this system: scenarios over seeds, replay, merge.")
            .try_get_matches_from(args)
        {
            Ok(matches) => matches,
            Err(e) => return usage_error(e),
        };
        let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => return usage_error(e),
        };
        let result = self.execute(cli.command.unwrap_or(Command::Run(cli.run)));
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => failure.report(),
        }
    }

    /// Runs one subcommand.
    pub fn execute(&self, command: Command) -> Result<(), Failure> {
        match command {
            Command::Run(args) => run::run(self, args),
            Command::Replay(args) => run::replay(self, args),
            Command::Merge(args) => merge::run(args, self.replay_command(None)),
            Command::List => {
                for s in &self.catalogue {
                    println!("{:<18} {}", s.name, s.description);
                }
                Ok(())
            }
        }
    }

    /// How this runner's replay lines read, with the flags that chose the mutant.
    fn replay_command(&self, flags: Option<&str>) -> ReplayCommand {
        let program = self.program.clone().unwrap_or_else(|| match std::env::var("CARGO_PKG_NAME") {
            Ok(package) => format!("cargo run --release -p {package} --"),
            Err(_) => std::env::args().next().unwrap_or_else(|| self.name.clone()),
        });
        ReplayCommand { program, flags: flags.unwrap_or_default().to_owned() }
    }
}

/// A clap error: help and version as clap prints them (exit 0), anything else on one line
/// (exit 2).
fn usage_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    eprintln!("{}", one_line(&e.render().to_string()));
    ExitCode::from(2)
}

/// A clap usage error on one line: the error and its details, without the usage block and the
/// "For more information" hint.
pub fn one_line(rendered: &str) -> String {
    let kept: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    format!("{} (see --help)", kept.join(" "))
}
