//! The simulated server host: `faultline serve`'s assembly (`faultline_server`) around the
//! system's services, on turmoil TCP and simulated time, with a hook that injects the
//! server-side faults of the schedule and watches every handler's life.

use std::any::Any;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_server::{CallHook, HookAction, Server, ServerConfig};
use faultline_services::Clock;
use tonic::body::Body;
use tonic::{Code, Status};

use crate::fault::{Fault, TimedFault};
use crate::net::{self, InTask, Traffic};
use crate::system::{ServerStart, System};
use crate::topology::Dialer;
use crate::trace::{EventKind, FaultEvent, HostState, Phase, Scope, Trace, sim_now_us};
use crate::world::World;

pub use crate::net::{CALL_ID, DEADLINE};

/// The server host's name.
pub const HOST: &str = "server";

/// Simulated time for RecordRoute's `elapsed_time`: tokio's clock, which turmoil drives, never
/// the machine's.
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

/// What the server host runs with (every restart builds fresh services from it).
pub struct ServerHost<S> {
    /// Its host name: [`HOST`], or a cluster's node.
    pub host: String,
    /// In a cluster, how its handlers dial the other nodes ([`ServerStart::peer`]).
    pub peers: Option<Dialer>,
    /// The system whose services it serves.
    pub system: Arc<S>,
    /// A deliberately buggy service variant, by name.
    pub mutant: Option<String>,
    /// What survives a crash ([`ServerStart::durable`]).
    pub disk: Arc<Mutex<Option<Box<dyn Any + Send>>>>,
    /// Starts so far.
    pub starts: Arc<AtomicU32>,
    /// The scenario's server-side faults, with their indices in its fault list.
    pub faults: Vec<(usize, TimedFault)>,
    /// Where events go.
    pub trace: Trace,
    /// Where traffic is counted.
    pub traffic: Traffic,
    /// The world's settings.
    pub world: World,
    /// How many handlers are running now (the runner waits for them at the end of a run).
    pub handlers: Arc<AtomicUsize>,
}

impl<S> Clone for ServerHost<S> {
    fn clone(&self) -> Self {
        Self {
            host: self.host.clone(),
            peers: self.peers.clone(),
            system: self.system.clone(),
            mutant: self.mutant.clone(),
            disk: self.disk.clone(),
            starts: self.starts.clone(),
            faults: self.faults.clone(),
            trace: self.trace.clone(),
            traffic: self.traffic.clone(),
            world: self.world.clone(),
            handlers: self.handlers.clone(),
        }
    }
}

/// The server host's software: binds the gRPC port and serves the system's services until the
/// host is crashed. Every (re)start builds fresh service values, so a bounce loses all state
/// but what the system keeps durable.
pub async fn serve<S: System>(host: ServerHost<S>) -> turmoil::Result {
    host.trace.record(&host.host, EventKind::Host { state: HostState::Start });
    let listener = net::bind_grpc().await?;
    let hook = SimHook {
        host: host.host.clone(),
        faults: host.faults,
        calls: AtomicU64::new(0),
        trace: host.trace.clone(),
        live: host.handlers.clone(),
    };
    let limits = host.world.server_limits();
    // The start's background work and outgoing channels run inside this task, beside the
    // connections: a crash drops them all in one fixed order.
    let (executor, tasks) = InTask::new();
    let start = ServerStart {
        mutant: host.mutant.clone(),
        limits,
        incarnation: host.starts.fetch_add(1, Ordering::SeqCst),
        node: host.host.clone(),
        disk: host.disk.clone(),
        peers: host.peers.as_ref().map(|d| d.fresh(executor.clone())),
        executor,
    };
    let config = ServerConfig::custom(host.system.routes(&start))
        .limits(limits)
        .date_header(false)
        .hook(Arc::new(hook));
    let server = Server::new(config);
    let serving = server.serve_in_task(net::incoming(listener, &host.host, &host.traffic));
    let (served, ()) = futures::future::join(serving, tasks.run()).await;
    served?;
    Ok(())
}

/// The server side of the fault schedule, and the handler watch.
struct SimHook {
    host: String,
    faults: Vec<(usize, TimedFault)>,
    /// Calls seen by this server incarnation, for `every`-th faults.
    calls: AtomicU64,
    trace: Trace,
    /// Handlers running now.
    live: Arc<AtomicUsize>,
}

impl CallHook for SimHook {
    fn on_call(&self, request: &http::Request<Body>) -> HookAction {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let call = call_id(request);
        let now_us = sim_now_us();
        let path = request.uri().path();
        let mut action = HookAction::default();
        for (index, f) in self.faults.iter().filter(|(_, f)| f.active_at(now_us)) {
            let detail = match f.fault {
                Fault::TrailersOnly { code, every } if n.is_multiple_of(u64::from(every)) => {
                    let status = Status::new(Code::from(code), "injected trailers-only error");
                    let detail = format!("{path} -> {:?}", status.code());
                    action.answer = Some(status);
                    detail
                }
                Fault::SlowHandler { delay_ms } => {
                    let delay = Duration::from_millis(delay_ms);
                    action.delay = Some(action.delay.map_or(delay, |d| d.max(delay)));
                    format!("{path} +{delay_ms}ms")
                }
                _ => continue,
            };
            let scope = call.map_or(Scope::Unstamped, |call| Scope::Call { call });
            let event = FaultEvent {
                fault: f.fault.name(),
                index: *index,
                phase: Phase::Acted,
                touched: 1,
                scope,
                detail,
            };
            self.trace.record(&self.host, EventKind::Fault(event));
        }
        if action.answer.is_none()
            && let Some(call) = call
        {
            // The handler runs once the injected delay is over (a sleep of exactly that long).
            let start = now_us + action.delay.map_or(0, |d| d.as_micros() as u64);
            self.trace.record_at(start, &self.host, EventKind::Handler { call, running: true });
            self.live.fetch_add(1, Ordering::SeqCst);
            let (host, trace, live) = (self.host.clone(), self.trace.clone(), self.live.clone());
            action.life = Some(Arc::new(HandlerWatch { host, call, trace, live }));
        }
        // When the call must end, for the calls its handler makes to other nodes.
        if let Some(timeout) = faultline_wire::deadline::timeout_of(request) {
            let by = now_us.saturating_add(u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX));
            action.headers.push((http::HeaderName::from_static(DEADLINE), http::HeaderValue::from(by)));
        }
        action
    }
}

/// The call a request belongs to, from its `faultline-call` metadata.
pub fn call_id<B>(request: &http::Request<B>) -> Option<u64> {
    request.headers().get(CALL_ID)?.to_str().ok()?.parse().ok()
}

/// Alive exactly as long as a call's handler; records its end when dropped (also when a crash
/// drops the host's tasks).
struct HandlerWatch {
    host: String,
    call: u64,
    trace: Trace,
    live: Arc<AtomicUsize>,
}

impl Drop for HandlerWatch {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.trace.record(&self.host, EventKind::Handler { call: self.call, running: false });
    }
}
