//! `faultline buggy-server`: serve the buggy-server cases, or check tonic's client against them.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use faultline_buggy::Outcome;
use faultline_buggy::compare::{self, DIFFERENCES, Difference, GRPCIO_RECORD};
use faultline_buggy::{Case, server};
use tokio::net::TcpListener;

use faultline_sim::cli::Failure;

#[derive(Debug, Args)]
pub struct BuggyArgs {
    /// Serve on this address (port 0: any free port; prints `listening on ADDR` first).
    #[arg(long, conflicts_with_all = ["check", "list"])]
    listen: Option<String>,
    /// The case of calls without `faultline-case` metadata (see --list).
    #[arg(long, default_value = "clean", value_parser = parse_case)]
    case: Case,
    /// Play every case with tonic's client and compare with grpcio's record; exit 1 on a
    /// difference not listed, or a listed one not seen.
    #[arg(long)]
    check: bool,
    /// With --check: the buggy server to play against (default: one started in process).
    #[arg(long, requires = "check")]
    target: Option<String>,
    /// With --check or --drift: grpcio's outcomes (JSON lines; default: the committed record).
    #[arg(long)]
    grpcio: Option<PathBuf>,
    /// With --check or --drift: the differences file (default: the committed one).
    #[arg(long)]
    differences: Option<PathBuf>,
    /// grpcio's outcomes from a fresh run (`ci/checks/buggy_probe.py`): exit 1 where they
    /// differ from the record (--grpcio, default the committed one) beyond a listed race.
    #[arg(long, conflicts_with_all = ["check", "listen", "list"])]
    drift: Option<PathBuf>,
    /// List the cases: name, tab, what the server sends.
    #[arg(long)]
    list: bool,
}

fn parse_case(name: &str) -> Result<Case, String> {
    Case::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Case::ALL.iter().map(|c| c.name()).collect();
        format!("unknown case `{name}` (known: {})", known.join(", "))
    })
}

pub async fn run(args: BuggyArgs) -> Result<(), Failure> {
    if args.list {
        for case in Case::ALL {
            println!("{}\t{}", case.name(), case.description());
        }
        return Ok(());
    }
    if args.check {
        return check(&args).await;
    }
    if let Some(fresh) = &args.drift {
        let (recorded, differences) = inputs(&args)?;
        let fresh = compare::parse_record(&read(fresh)?).map_err(|e| Failure::environment(e.into()))?;
        let drift = compare::drift(&recorded, &fresh, &differences);
        for line in &drift {
            println!("{line}");
        }
        if drift.is_empty() {
            println!("{} outcomes as recorded", fresh.len());
            return Ok(());
        }
        return Err(Failure::check(anyhow!("grpcio's outcomes drifted from the record")));
    }
    let Some(addr) = args.listen.as_deref() else {
        return Err(Failure::environment(anyhow!("give --listen ADDR, --check, --drift FILE or --list")));
    };
    let listener = bind(addr).await?;
    let local = listener.local_addr().map_err(|e| Failure::environment(e.into()))?;
    println!("listening on {local}");
    server::serve(listener, args.case, shutdown()).await;
    Ok(())
}

async fn bind(addr: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
        .map_err(Failure::environment)
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn read(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Failure::environment)
}

/// grpcio's record and the differences, from the flags or the committed files.
fn inputs(args: &BuggyArgs) -> Result<(Vec<Outcome>, Vec<Difference>), Failure> {
    let grpcio = match &args.grpcio {
        Some(path) => read(path)?,
        None => GRPCIO_RECORD.to_owned(),
    };
    let grpcio = compare::parse_record(&grpcio).map_err(|e| Failure::environment(e.into()))?;
    let differences = match &args.differences {
        Some(path) => read(path)?,
        None => DIFFERENCES.to_owned(),
    };
    let differences = compare::parse_differences(&differences).map_err(|e| Failure::environment(e.into()))?;
    Ok((grpcio, differences))
}

async fn check(args: &BuggyArgs) -> Result<(), Failure> {
    let (grpcio, differences) = inputs(args)?;
    let tonic = match &args.target {
        Some(addr) => {
            let channel =
                faultline_buggy::probe::channel(addr).map_err(|e| Failure::environment(anyhow!(e)))?;
            let mut client = faultline_proto::routeguide::route_guide_client::RouteGuideClient::new(channel);
            // Unreachable is bad input (exit 2), not 28 differences.
            if let Err(status) = client.get_feature(faultline_buggy::probe::tutorial_point()).await
                && status.code() == tonic::Code::Unavailable
            {
                return Err(Failure::environment(anyhow!(
                    "cannot reach a server at {addr}: {}",
                    status.message()
                )));
            }
            faultline_buggy::probe_all(addr).await.map_err(|e| Failure::environment(anyhow!(e)))?
        }
        None => {
            let listener = bind("127.0.0.1:0").await?;
            let addr = listener.local_addr().map_err(|e| Failure::environment(e.into()))?.to_string();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let served = tokio::spawn(server::serve(listener, Case::Clean, async {
                let _ = stopped.await;
            }));
            let outcomes = faultline_buggy::probe_all(&addr).await;
            let _ = stop.send(());
            let _ = served.await;
            outcomes.map_err(|e| Failure::environment(anyhow!(e)))?
        }
    };
    let comparison = faultline_buggy::compare(&grpcio, &tonic, &differences);
    print!("{}", comparison.render());
    if comparison.passed() {
        Ok(())
    } else {
        Err(Failure::check(anyhow!(
            "tonic's client differs from grpcio's or the spec where nothing lists it"
        )))
    }
}
