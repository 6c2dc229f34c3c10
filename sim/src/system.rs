//! The system under test, as its author describes it: the services a server start builds, how a
//! client performs an operation, and the oracle that judges what came back. Everything else —
//! the network, the faults, the generic properties, shrinking, replay — is the harness's.
//!
//! The tutorial services are one `System` (`faultline_tutorial::Tutorial`); the ledger example
//! (`examples/ledger`) is another.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use faultline_server::Limits;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::service::Routes;
use tonic::{Request, Status};

use crate::check::{Property, Violation};
use crate::fault::NetParams;
use crate::net::{InTask, SimChannel};
use crate::scenario::Scenario;
pub use faultline_model::report::CallSummary;

use crate::server::{CALL_ID, DEADLINE};
use crate::topology::Dialer;
use crate::trace::{EventKind, Trace, sim_now_us};

/// A service under test: what its server runs, what its clients do, and what may come back.
///
/// Implement it for a type of your own and hand it to [`crate::Harness`]. Everything it does
/// must be a function of its inputs: no wall clock (use `tokio::time`, which the simulator
/// drives), no OS randomness (use the `rng` given to [`System::generate`]), no threads spawned
/// outside the runtime, no `HashMap` iteration order in anything a reply depends on.
///
/// A greeter whose oracle checks each reply:
///
/// ```
/// use faultline_proto::helloworld::HelloRequest;
/// use faultline_proto::helloworld::greeter_client::GreeterClient;
/// use faultline_sim::{Call, CallContext, CallRecord, Harness, Property, Scenario, ServerStart, System};
/// use rand::Rng;
///
/// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Hello {
///     name: String,
/// }
///
/// struct Greeter;
///
/// impl System for Greeter {
///     type Op = Hello;
///     type Reply = String;
///
///     fn routes(&self, _: &ServerStart) -> tonic::service::Routes {
///         tonic::service::Routes::new(faultline_services::Greeter.into_service())
///     }
///
///     fn generate(&self, rng: &mut rand_chacha::ChaCha8Rng) -> Hello {
///         Hello { name: format!("n{}", rng.random_range(0..100)) }
///     }
///
///     async fn perform(&self, op: Hello, call: Call<String>) -> Result<(), tonic::Status> {
///         call.sent(&op.name);
///         let request = call.request(HelloRequest { name: op.name });
///         let reply = GreeterClient::new(call.channel()).say_hello(request).await?;
///         call.received(reply.into_inner().message);
///         Ok(())
///     }
///
///     fn check_call(
///         &self,
///         record: &CallRecord<Hello, String>,
///         _: &CallContext<'_>,
///         fail: &mut dyn FnMut(Property, String),
///     ) {
///         let want = format!("Hello, {}!", record.op.name);
///         if record.replies.iter().any(|r| *r != want) {
///             fail(Property::Oracle("greeting"), format!("{:?}, not {want:?}", record.replies));
///         }
///     }
/// }
///
/// let smoke = Scenario::new("smoke").clients(1).calls_per_client(3);
/// let report = Harness::new(Greeter).replay(&smoke, 7);
/// assert!(report.passed(), "{:?}", report.violations);
/// assert_eq!(report.calls, 3);
/// ```
pub trait System: Send + Sync + 'static {
    /// One operation a client performs: generated, or scripted in a scenario file (so it
    /// reads and writes as a TOML table; a `#[serde(tag = "op")]` enum works well).
    type Op: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// One message a client received during an operation.
    type Reply: Clone + fmt::Debug + PartialEq + Send + Sync + 'static;

    /// The tonic services of one server start. Called at every (re)start: a crash loses what
    /// these values hold, and keeps only what they take from [`ServerStart::durable`]. In a
    /// cluster, every node runs them: [`ServerStart::node`] says which, and
    /// [`ServerStart::peer`] gives a channel to another.
    fn routes(&self, start: &ServerStart) -> Routes;

    /// A cluster's nodes, by name (`["a", "b", "c"]`): one host each, every one serving
    /// [`System::routes`] with durable state of its own, each behind its own proxy when the
    /// scenario has proxy faults. Clients call the first unless they choose
    /// ([`Call::channel_to`]). Default: none, a single server (host `server`).
    fn nodes(&self) -> Vec<String> {
        Vec::new()
    }

    /// One operation, drawn from `rng` (a client's own seeded stream).
    fn generate(&self, rng: &mut ChaCha8Rng) -> Self::Op;

    /// Performs `op`: one or several RPCs (a retry loop is one operation) made with
    /// [`Call::channel`] and [`Call::request`], reporting each message received with
    /// [`Call::received`]. The status returned is the operation's outcome.
    fn perform(
        &self,
        op: Self::Op,
        call: Call<Self::Reply>,
    ) -> impl Future<Output = Result<(), Status>> + Send;

    /// The operation's name in traces, timelines and violations (default: the `Debug` form's
    /// first word, which for an enum is its variant).
    fn name(&self, op: &Self::Op) -> String {
        let text = format!("{op:?}");
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or_default().to_owned()
    }

    /// Operations every client must get through once the last fault has healed (the
    /// `recovery` property); the runs of a scenario without faults make none. Default: none.
    fn probes(&self) -> Vec<Self::Op> {
        Vec::new()
    }

    /// Pauses a client takes inside `op` (between streamed messages, say), drawn from `rng`;
    /// they extend the operation's deadline and reach it as [`Call::pauses`]. Default: none.
    fn pauses(&self, op: &Self::Op, scenario: &Scenario<Self::Op>, rng: &mut ChaCha8Rng) -> Vec<Duration> {
        let _ = (op, scenario, rng);
        Vec::new()
    }

    /// The oracle, one call at a time: report what the model does not allow with `fail`.
    /// Default: nothing to check.
    fn check_call(
        &self,
        record: &CallRecord<Self::Op, Self::Reply>,
        context: &CallContext<'_>,
        fail: &mut dyn FnMut(Property, String),
    ) {
        let _ = (record, context, fail);
    }

    /// The oracle over the whole history, in call order (an invariant: money is conserved,
    /// every acknowledged write is readable). Default: nothing to check.
    fn check_history(&self, history: &[CallRecord<Self::Op, Self::Reply>]) -> Vec<Violation> {
        let _ = history;
        Vec::new()
    }

    /// The scenarios a runner sweeps by default (`cli::Runner`). Default: the fault
    /// catalogue, [`crate::catalogue::faults`].
    fn catalogue(&self) -> Vec<Scenario<Self::Op>> {
        crate::catalogue::faults()
    }

    /// Rejects a scenario this system cannot run (an unknown `mutant`, say).
    fn validate(&self, scenario: &Scenario<Self::Op>) -> Result<(), String> {
        match &scenario.mutant {
            Some(m) => Err(format!("this system has no mutant `{m}`")),
            None => Ok(()),
        }
    }
}

/// What a server start is given.
pub struct ServerStart {
    /// The scenario's `mutant`: a deliberately buggy variant the system knows by name.
    pub mutant: Option<String>,
    /// The server's limits (`max_message_size` for tonic's decoders).
    pub limits: Limits,
    /// 0 at the first start, then one more at every restart.
    pub incarnation: u32,
    /// The host: a cluster's node, or `server`.
    pub node: String,
    pub(crate) disk: Arc<Mutex<Option<Box<dyn Any + Send>>>>,
    pub(crate) peers: Option<Dialer>,
    pub(crate) executor: InTask,
}

impl ServerStart {
    /// A client of node `name` for this node's handlers: its channel goes over the simulated
    /// network (through `name`'s proxy when the scenario has proxy faults), so node-to-node
    /// calls meet the faults on that link. Build requests with [`Peer::request`], which
    /// carries the client's call id along. Panics with one server, which has no peers.
    pub fn peer(&self, name: &str) -> Peer {
        let dialer = self.peers.as_ref().expect("a single server has no peers: System::nodes is empty");
        Peer {
            to: name.into(),
            from: dialer.from().into(),
            channel: dialer.channel(name),
            trace: dialer.trace(),
        }
    }

    /// Runs futures in the background of this server start, inside the host's one task: use
    /// it rather than `tokio::spawn`, because a crash drops them with the start's connections
    /// in a fixed order, where tokio's order depends on the runs before in the process.
    pub fn spawner(&self) -> InTask {
        self.executor.clone()
    }

    /// State that survives crashes within one run (a database's disk): the same value at
    /// every start of this run, created with `T::default()` at the first. Hold it behind an
    /// `Arc` to share it. A run has one durable slot per node; asking for another type
    /// replaces it.
    pub fn durable<T: Default + Clone + Send + 'static>(&self) -> T {
        let mut slot = self.disk.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slot.as_ref().and_then(|v| v.downcast_ref::<T>()) {
            return value.clone();
        }
        let value = T::default();
        *slot = Some(Box::new(value.clone()));
        value
    }
}

/// A node's client of another node ([`ServerStart::peer`]).
#[derive(Debug, Clone)]
pub struct Peer {
    to: Arc<str>,
    from: Arc<str>,
    channel: SimChannel,
    trace: Trace,
}

impl Peer {
    /// The node it calls.
    pub fn name(&self) -> &str {
        &self.to
    }

    /// The channel (it enforces each request's `grpc-timeout` over the whole RPC).
    pub fn channel(&self) -> SimChannel {
        self.channel.clone()
    }

    /// `message` as a request made for the call whose request carried `incoming`: it carries
    /// that call's id, and the hop is recorded, so a fault on this link is attributed to the
    /// client's call (and only to the calls that crossed it). It carries what is left of that
    /// call's deadline too, as gRPC propagates deadlines (zero once it has passed);
    /// `set_timeout` replaces it.
    pub fn request<T>(&self, incoming: &MetadataMap, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let number =
            |name: &str| incoming.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if let Some(by) = number(DEADLINE) {
            request.set_timeout(Duration::from_micros(by.saturating_sub(sim_now_us())));
        }
        if let Some(call) = number(CALL_ID) {
            request.metadata_mut().insert(CALL_ID, MetadataValue::from(call));
            self.trace.record(&self.from, EventKind::Hop { call, to: self.to.to_string() });
        }
        request
    }
}

impl fmt::Debug for ServerStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerStart")
            .field("mutant", &self.mutant)
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}

/// What the oracle is told about a call besides its record.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The world's network settings (tick, latencies, grace).
    pub net: &'a NetParams,
    /// When the call's server handler started and ended (`None` inside: still running at the
    /// end), if the server saw the call; of its last attempt, if it retried.
    pub handler: Option<(u64, Option<u64>)>,
}

/// How one call is made: its operation, its deadline, and what its client does on the side.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<O> {
    /// Unique within a run, stable across runs of the same seed.
    pub id: u64,
    /// What to do.
    pub op: O,
    /// The deadline over the whole operation, retries included.
    pub deadline: Duration,
    /// The client cancels the operation this long after it starts, if it has not ended.
    pub cancel_after: Option<Duration>,
    /// Pauses inside the operation ([`System::pauses`]).
    pub pauses: Vec<Duration>,
    /// A post-heal recovery probe rather than workload.
    pub probe: bool,
}

/// One call of the history: its summary, its operation and every message received, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord<O, R> {
    /// What every property reads.
    #[serde(flatten)]
    pub call: CallSummary,
    /// The operation.
    pub op: O,
    /// Messages received, in arrival order.
    #[serde(skip)]
    pub replies: Vec<R>,
}

/// The history of a run of `S`: one record per call.
pub type History<S> = Vec<CallRecord<<S as System>::Op, <S as System>::Reply>>;

/// What a call has seen so far; shared, so a deadline or a cancel that drops the operation
/// keeps what had already arrived.
#[derive(Debug)]
struct Progress<R> {
    sent: u32,
    replies: Vec<R>,
    half_close_us: Option<u64>,
    /// The nodes it called (a cluster's).
    hops: Vec<String>,
}

impl<R> Default for Progress<R> {
    fn default() -> Self {
        Self { sent: 0, replies: Vec::new(), half_close_us: None, hops: Vec::new() }
    }
}

/// Where a client's calls go: the single server's channel, or a cluster's nodes.
#[derive(Debug, Clone)]
enum Route {
    Server(SimChannel),
    Nodes(Dialer),
}

/// One operation in progress, handed to [`System::perform`]: the channel, requests stamped
/// with the call's deadline and id, and the record of what was sent and received.
#[derive(Debug)]
pub struct Call<R> {
    id: u64,
    host: Arc<str>,
    route: Route,
    trace: Trace,
    started: tokio::time::Instant,
    deadline: Duration,
    pauses: Vec<Duration>,
    progress: Arc<Mutex<Progress<R>>>,
}

impl<R: fmt::Debug> Call<R> {
    /// The call's id (stable for a seed; what server-side faults are attributed to).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A channel to the server (through the proxy when the scenario has proxy faults); in a
    /// cluster, to the first node. It enforces each request's `grpc-timeout` over the whole
    /// RPC, as DEADLINE_EXCEEDED.
    pub fn channel(&self) -> SimChannel {
        match &self.route {
            Route::Nodes(dialer) => self.channel_to(&dialer.topology().first()),
            Route::Server(channel) => channel.clone(),
        }
    }

    /// In a cluster, a channel to node `name` (through its proxy when the scenario has proxy
    /// faults); the call's path then includes that link. With one server, the server's.
    pub fn channel_to(&self, name: &str) -> SimChannel {
        let dialer = match &self.route {
            Route::Nodes(dialer) => dialer,
            Route::Server(channel) => return channel.clone(),
        };
        let first = {
            let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            let first = !p.hops.iter().any(|h| h == name);
            if first {
                p.hops.push(name.to_owned());
            }
            first
        };
        if first {
            self.trace.record(&self.host, EventKind::Hop { call: self.id, to: name.to_owned() });
        }
        dialer.channel(name)
    }

    /// The time left of the operation's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_sub(self.started.elapsed())
    }

    /// `message` as a request of this call: its `grpc-timeout` is the time left of the
    /// deadline, and it carries the call's id (so faults are attributed to it).
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.remaining());
        request.metadata_mut().insert(CALL_ID, MetadataValue::from(self.id));
        request
    }

    /// Pauses the client takes inside this operation ([`System::pauses`]).
    pub fn pauses(&self) -> &[Duration] {
        &self.pauses
    }

    /// Records a request message handed to the transport (`what` is for the trace).
    pub fn sent(&self, what: impl fmt::Display) {
        let seq = {
            let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            p.sent += 1;
            p.sent - 1
        };
        self.trace.record(&self.host, EventKind::Sent { call: self.id, seq, message: what.to_string() });
    }

    /// Records a message received.
    pub fn received(&self, reply: R) {
        let message = format!("{reply:?}");
        let seq = {
            let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            p.replies.push(reply);
            p.replies.len() as u32 - 1
        };
        self.trace.record(&self.host, EventKind::Received { call: self.id, seq, message });
    }

    /// Records that the client ended its request stream now.
    pub fn half_closed(&self) {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).half_close_us = Some(sim_now_us());
    }

    fn share(&self) -> Self {
        Self {
            id: self.id,
            host: self.host.clone(),
            route: self.route.clone(),
            trace: self.trace.clone(),
            started: self.started,
            deadline: self.deadline,
            pauses: self.pauses.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<R: fmt::Debug> Clone for Call<R> {
    fn clone(&self) -> Self {
        self.share()
    }
}

/// Makes calls from one client host on one channel, and records them.
#[derive(Debug)]
pub struct Caller<S> {
    system: Arc<S>,
    route: Route,
    host: Arc<str>,
    trace: Trace,
}

impl<S> Clone for Caller<S> {
    fn clone(&self) -> Self {
        Self {
            system: self.system.clone(),
            route: self.route.clone(),
            host: self.host.clone(),
            trace: self.trace.clone(),
        }
    }
}

impl<S: System> Caller<S> {
    /// A caller of `system` on `channel`, recording to `trace` as `host`.
    pub fn new(system: Arc<S>, channel: SimChannel, host: &str, trace: Trace) -> Self {
        Self { system, route: Route::Server(channel), host: host.into(), trace }
    }

    /// A caller of a cluster's `system`, dialing its nodes with `dialer`.
    pub fn cluster(system: Arc<S>, dialer: Dialer, trace: Trace) -> Self {
        Self { system, host: dialer.from().into(), route: Route::Nodes(dialer), trace }
    }

    /// Performs one operation as `plan` says and records what it saw. Deadlines are the
    /// stack's business (the channel's deadline layer, the server): the caller only observes.
    /// A planned cancel drops the operation, as a cancelling tonic client does.
    pub async fn call(&self, plan: Plan<S::Op>) -> CallRecord<S::Op, S::Reply> {
        let Plan { id, op, deadline, cancel_after, pauses, probe } = plan;
        let start_us = sim_now_us();
        let deadline_us = deadline.as_micros() as u64;
        let method = self.system.name(&op);
        self.trace.record(&self.host, EventKind::CallStart { call: id, method: method.clone(), deadline_us });
        let call = Call {
            id,
            host: self.host.clone(),
            route: self.route.clone(),
            trace: self.trace.clone(),
            started: tokio::time::Instant::now(),
            deadline,
            pauses,
            progress: Arc::default(),
        };
        let progress = call.progress.clone();
        let performed = self.system.perform(op.clone(), call);
        let (status, cancelled_by_client) = match cancel_after {
            None => (performed.await.err(), false),
            Some(after) => match tokio::time::timeout(after, performed).await {
                Ok(outcome) => (outcome.err(), false),
                Err(_) => (Some(Status::cancelled("cancelled by the client")), true),
            },
        };
        let status = status.unwrap_or_else(|| Status::ok(""));
        let end_us = sim_now_us();
        let (code, message) = (status.code(), status.message().to_owned());
        self.trace.record(&self.host, EventKind::CallEnd { call: id, code, message: message.clone() });
        let progress = std::mem::take(&mut *progress.lock().unwrap_or_else(PoisonError::into_inner));
        CallRecord {
            call: CallSummary {
                id,
                client: self.host.to_string(),
                method,
                sent: progress.sent,
                received: progress.replies.len(),
                code,
                message,
                start_us,
                end_us,
                deadline_us,
                half_close_us: progress.half_close_us,
                cancelled_by_client,
                probe,
            },
            op,
            replies: progress.replies,
        }
    }
}
