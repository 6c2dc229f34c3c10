//! `faultline client`: the tutorial's client runs over real TCP.

use faultline_sim::cli::parse_seed;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_services::FeatureDb;
use faultline_services::tutorial::{self, Printer};
use tonic::transport::{Channel, Endpoint};

use crate::serve::Service;
use faultline_sim::cli::Failure;

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The service to call (`greeter` or `route-guide`).
    service: Service,
    /// Server address as host:port.
    #[arg(long, default_value = "localhost:50051")]
    addr: String,
    /// Seed for RecordRoute's random route (decimal or 0x-prefixed hex).
    #[arg(long, default_value = "0", value_parser = parse_seed)]
    seed: u64,
    /// Send RecordRoute's points without the tutorial's 0.5-1.5 s pauses.
    #[arg(long)]
    no_pause: bool,
    /// Give up connecting after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// Fail any call that takes longer than this many seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

fn seconds(what: &str, s: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        Failure::environment(anyhow!("{what} must be a non-negative number of seconds, got {s}"))
    })
}

async fn connect(args: &ClientArgs) -> Result<Channel, Failure> {
    let uri = format!("http://{}", args.addr);
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|_| Failure::environment(anyhow!("`{}` is not a host:port address", args.addr)))?
        .connect_timeout(seconds("--connect-timeout", args.connect_timeout)?)
        .timeout(seconds("--timeout", args.timeout)?);
    if endpoint.uri().port_u16().is_none() {
        return Err(Failure::environment(anyhow!("`{}` has no port (expected host:port)", args.addr)));
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach a server at {}", args.addr))
        .map_err(Failure::environment)
}

pub async fn run(args: ClientArgs) -> Result<(), Failure> {
    let channel = connect(&args).await?;
    // A closed pipe (`| head`) just ends the output; it is not an error worth a panic.
    let out: Printer = Arc::new(|line: &str| {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    });
    let outcome = match args.service {
        Service::Greeter => tutorial::greeter(&mut GreeterClient::new(channel), &out).await,
        Service::RouteGuide => {
            let sleep = (!args.no_pause).then_some(tokio::time::sleep);
            tutorial::route_guide(
                &mut RouteGuideClient::new(channel),
                &FeatureDb::reference(),
                args.seed,
                sleep,
                &out,
            )
            .await
        }
        Service::All => {
            return Err(Failure::environment(anyhow!(
                "`all` is for `serve`; call `greeter` or `route-guide`"
            )));
        }
    };
    outcome
        .map_err(|status| Failure::check(anyhow!("call failed: {} ({:?})", status.message(), status.code())))
}
