//! `faultline serve`: the tutorial services over real TCP.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, ValueEnum};
use faultline_services::{Greeter, RouteGuide};
use tokio_stream::wrappers::TcpListenerStream;

use crate::exit::Failure;

/// Which service to serve or call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// helloworld.Greeter (SayHello, SayHelloAgain).
    Greeter,
    /// routeguide.RouteGuide (GetFeature, ListFeatures, RecordRoute, RouteChat).
    RouteGuide,
    /// Both services on one port (`serve` only).
    All,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service to serve.
    service: Service,
    /// Address to listen on (the tutorial listens on port 50051).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
}

pub async fn run(args: ServeArgs) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))
        .map_err(Failure::environment)?;
    let local = listener.local_addr().map_err(|e| Failure::environment(e.into()))?;
    // Tests and scripts read this line to learn the port when given port 0.
    println!("listening on {local}");
    let router = tonic::transport::Server::builder().add_optional_service(
        matches!(args.service, Service::Greeter | Service::All).then(|| Greeter.into_service()),
    );
    let router = router.add_optional_service(
        matches!(args.service, Service::RouteGuide | Service::All)
            .then(|| RouteGuide::reference().into_service()),
    );
    router
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown_signal())
        .await
        .context("server failed")
        .map_err(Failure::environment)?;
    eprintln!("shut down cleanly");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight calls then finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
