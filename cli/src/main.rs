//! `faultline`: the one binary. Exit codes: 0 ok, 1 a check failed, 2 bad
//! input or environment (bad address, port in use, server unreachable).

mod buggy;
mod client;
mod conformance;
mod proxy;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use faultline_sim::cli::{Failure, MergeArgs, ReplayArgs, RunArgs, Runner, one_line};
use faultline_tutorial::Tutorial;

// The simulator allocates per message; mimalloc runs it about 1.27x faster than glibc's malloc
// (measured by the sim bench, see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic simulation testing and conformance for gRPC (the tutorial's
/// Greeter and RouteGuide on tonic).
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios over seeds in the simulator; print a table; exit 1 on failure.
    Run(RunArgs),
    /// Merge the `--json` outputs of a sweep's shards into the whole sweep's report.
    Merge(MergeArgs),
    /// Replay one scenario and seed verbosely, optionally writing a timeline.
    Replay(ReplayArgs),
    /// List the scenario catalogue.
    List,
    /// Serve a tutorial service over real TCP until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Run the tutorial's client against a server over real TCP.
    Client(client::ClientArgs),
    /// Proxy real gRPC traffic (h2c) to a server, injecting a scenario's proxy faults.
    Proxy(proxy::ProxyArgs),
    /// Run the grpcio conformance transcripts against the Rust server and client; print a table.
    Conformance(conformance::ConformanceArgs),
    /// Serve calls that misbehave on purpose (RST_STREAM, GOAWAY, no grpc-status, ...), or check tonic's client against them.
    BuggyServer(buggy::BuggyArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version, and bare `faultline` (help, exit 2), print as clap does.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // The simulator builds its own runtimes (one per simulated host).
    // The tutorial's sweeps run through the runner any system's `main` gets.
    let runner = || Runner::shared(Tutorial::shared()).command("cargo run --release --");
    let command = match cli.command {
        Command::Run(args) => return finish(runner().execute(faultline_sim::cli::Command::Run(args))),
        Command::Replay(args) => return finish(runner().execute(faultline_sim::cli::Command::Replay(args))),
        Command::Merge(args) => return finish(runner().execute(faultline_sim::cli::Command::Merge(args))),
        Command::List => return finish(runner().execute(faultline_sim::cli::Command::List)),
        Command::Conformance(args) => return finish(conformance::run(args)),
        // The proxy sizes its own runtime (`--threads`).
        Command::Proxy(args) => return finish(proxy::main(args)),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::environment(e.into()).report(),
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve::run(args).await,
            Command::Client(args) => client::run(args).await,
            Command::BuggyServer(args) => buggy::run(args).await,
            Command::Run(_)
            | Command::Replay(_)
            | Command::Merge(_)
            | Command::List
            | Command::Conformance(_)
            | Command::Proxy(_) => {
                unreachable!("handled above")
            }
        }
    });
    finish(result)
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
