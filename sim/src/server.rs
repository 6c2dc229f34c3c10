//! The simulated server host: the real services, on simulated time, behind a
//! layer that injects server-side faults (slow handlers, trailers-only errors).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use faultline_services::{Clock, FeatureDb, Greeter, Mutant, RouteGuide};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tonic::body::Body;
use tonic::{Code, Status};

use crate::net;
use crate::scenario::{Fault, TimedFault};
use crate::trace::{EventKind, Trace, sim_now_us};

/// Simulated time for RecordRoute's `elapsed_time`: tokio's clock, which
/// turmoil drives, never the machine's.
#[derive(Debug)]
pub struct SimClock {
    origin: tokio::time::Instant,
}

impl SimClock {
    /// A clock whose origin is now (in simulated time).
    pub fn new() -> Self {
        Self { origin: tokio::time::Instant::now() }
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// What the server host runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The feature database, shared across restarts.
    pub db: Arc<FeatureDb>,
    /// A deliberately buggy service variant.
    pub mutant: Option<Mutant>,
    /// Server-side faults (others are ignored here).
    pub faults: Vec<TimedFault>,
    /// Where events go.
    pub trace: Trace,
}

/// The server host's software: binds the gRPC port and serves both services
/// until the host is crashed. Every (re)start builds fresh service values, so
/// a bounce loses all per-call state but keeps the database.
pub async fn serve(config: ServerConfig) -> turmoil::Result {
    config.trace.record("server", EventKind::Host { state: "start".to_owned() });
    let listener = net::bind_grpc().await?;
    let guide = RouteGuide::new(config.db.clone(), Arc::new(SimClock::new())).with_mutant(config.mutant);
    let faults: Vec<TimedFault> = config
        .faults
        .into_iter()
        .filter(|f| matches!(f.fault, Fault::SlowHandler { .. } | Fault::TrailersOnly { .. }))
        .collect();
    let layer = FaultLayer { faults: Arc::new(faults), calls: Arc::default(), trace: config.trace.clone() };
    let routes = tonic::service::Routes::new(Greeter.into_service()).add_service(guide.into_service());
    let service = tower::Layer::layer(&layer, routes);
    // hyper directly rather than tonic's `Server`: tonic cannot turn off
    // hyper's `date` header, which carries wall time into the simulation.
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .auto_date_header(false)
        .keep_alive_interval(Some(Duration::from_millis(500)))
        .keep_alive_timeout(Duration::from_millis(500));
    // Connections are driven inside this one task rather than spawned: when
    // the host crashes, tokio drops spawned tasks in an order that depends on
    // process-wide task ids, which would make the FIN order (and the trace)
    // depend on what ran earlier in the process.
    let mut connections = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(_) = connections.next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let service = service.clone();
                let connection = http2.serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        tower::ServiceExt::oneshot(service.clone(), request.map(Body::new))
                    }),
                );
                // A connection ending in error is the network's business; the
                // call outcomes are what the checkers look at.
                connections.push(async move {
                    let _ = connection.await;
                });
            }
        }
    }
}

/// Injects server-side faults into every call while they are active.
#[derive(Debug, Clone)]
struct FaultLayer {
    faults: Arc<Vec<TimedFault>>,
    /// Calls seen by this server incarnation, for `every`-th faults.
    calls: Arc<AtomicU64>,
    trace: Trace,
}

impl<S> tower::Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService { inner, layer: self.clone() }
    }
}

#[derive(Debug, Clone)]
struct FaultService<S> {
    inner: S,
    layer: FaultLayer,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for FaultService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let n = self.layer.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let now_ms = sim_now_us() / 1000;
        let active = self.layer.faults.iter().filter(|f| (f.at_ms..f.at_ms + f.for_ms).contains(&now_ms));
        let mut delay = Duration::ZERO;
        let path = request.uri().path().to_owned();
        for f in active {
            match f.fault {
                Fault::TrailersOnly { code, every } if n.is_multiple_of(u64::from(every)) => {
                    let status = Status::new(Code::from(code), "injected trailers-only error");
                    self.layer.trace.record(
                        "server",
                        EventKind::Fault {
                            fault: f.fault.name().to_owned(),
                            detail: format!("{path} -> {:?}", status.code()),
                        },
                    );
                    return Box::pin(async move { Ok(status.into_http()) });
                }
                Fault::SlowHandler { delay_ms } => {
                    delay = delay.max(Duration::from_millis(delay_ms));
                    self.layer.trace.record(
                        "server",
                        EventKind::Fault {
                            fault: f.fault.name().to_owned(),
                            detail: format!("{path} +{delay_ms}ms"),
                        },
                    );
                }
                _ => {}
            }
        }
        // Take the ready service, leave a fresh clone behind (tower's clone-and-swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            inner.call(request).await
        })
    }
}
