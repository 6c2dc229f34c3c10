//! Workloads: generated call inputs, and a client that runs them and records
//! exactly what it sent, what it received and how each call ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Feature, Point, Rectangle, RouteNote};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status};

use crate::model::{Model, ModelFeature, ModelNote, Pt};
use crate::net::SimChannel;
use crate::server::CALL_ID;
use crate::trace::{EventKind, Trace, sim_now_us};

/// The six methods, by name.
pub const METHODS: [&str; 6] =
    ["SayHello", "SayHelloAgain", "GetFeature", "ListFeatures", "RecordRoute", "RouteChat"];

/// One call's input: which method, with which request message(s).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "method")]
pub enum CallInput {
    /// `Greeter.SayHello`.
    SayHello { name: String },
    /// `Greeter.SayHelloAgain`.
    SayHelloAgain { name: String },
    /// `RouteGuide.GetFeature`.
    GetFeature { point: Pt },
    /// `RouteGuide.ListFeatures`.
    ListFeatures { lo: Pt, hi: Pt },
    /// `RouteGuide.RecordRoute`.
    RecordRoute { points: Vec<Pt> },
    /// `RouteGuide.RouteChat`.
    RouteChat { notes: Vec<(String, Pt)> },
}

impl CallInput {
    /// The method's name.
    pub fn method(&self) -> &'static str {
        match self {
            CallInput::SayHello { .. } => METHODS[0],
            CallInput::SayHelloAgain { .. } => METHODS[1],
            CallInput::GetFeature { .. } => METHODS[2],
            CallInput::ListFeatures { .. } => METHODS[3],
            CallInput::RecordRoute { .. } => METHODS[4],
            CallInput::RouteChat { .. } => METHODS[5],
        }
    }
}

/// A message a client received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Reply {
    /// A `HelloReply.message`.
    Hello(String),
    /// A `Feature` (GetFeature or ListFeatures).
    Feature(ModelFeature),
    /// A `RouteSummary`: point_count, feature_count, distance, elapsed_time.
    Summary { point_count: i32, feature_count: i32, distance: i32, elapsed_time: i32 },
    /// A `RouteNote`.
    Note(ModelNote),
}

/// Everything observed about one call, from the client's side.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Unique within a run, stable across runs of the same seed.
    pub id: u64,
    /// The client host that made it.
    pub client: String,
    /// The request(s).
    pub input: CallInput,
    /// How many request messages the client handed to the transport.
    pub sent: u32,
    /// Responses in arrival order.
    pub replies: Vec<Reply>,
    /// Final status code (`Ok` for success).
    #[serde(serialize_with = "crate::trace::code_name")]
    pub code: Code,
    /// Final status message.
    pub message: String,
    /// Simulated start and end, microseconds.
    pub start_us: u64,
    /// See `start_us`.
    pub end_us: u64,
    /// The call's deadline, microseconds after start.
    pub deadline_us: u64,
    /// When the client ended its request stream (client-streaming calls), if it did.
    pub half_close_us: Option<u64>,
    /// The client itself cancelled the call.
    pub cancelled_by_client: bool,
    /// A post-heal liveness probe rather than workload.
    pub probe: bool,
}

/// Generates inputs that exercise the interesting cases: database hits and
/// misses, rectangles with features on their edges, inverted and degenerate
/// corners, empty and repeated routes, notes at repeated locations.
#[derive(Debug, Clone)]
pub struct InputGen {
    locations: Vec<Pt>,
}

impl InputGen {
    /// A generator over the model's database locations.
    pub fn new(model: &Model) -> Self {
        Self { locations: model.locations().collect() }
    }

    fn point(&self, rng: &mut ChaCha8Rng) -> Pt {
        match rng.random_range(0..4) {
            0 | 1 => self.locations[rng.random_range(0..self.locations.len())],
            2 => (rng.random_range(-3..=3), rng.random_range(-3..=3)),
            _ => (rng.random_range(400_000_000..=420_000_000), rng.random_range(-750_000_000..=-730_000_000)),
        }
    }

    fn name(rng: &mut ChaCha8Rng) -> String {
        const NAMES: [&str; 5] = ["you", "", "世界", "O'Brien \"quoted\"", "a\u{1F600}b"];
        NAMES[rng.random_range(0..NAMES.len())].to_owned()
    }

    /// One call's input.
    pub fn input(&self, rng: &mut ChaCha8Rng) -> CallInput {
        match rng.random_range(0..6) {
            0 => CallInput::SayHello { name: Self::name(rng) },
            1 => CallInput::SayHelloAgain { name: Self::name(rng) },
            2 => CallInput::GetFeature { point: self.point(rng) },
            3 => {
                let (lo, hi) = (self.point(rng), self.point(rng));
                match rng.random_range(0..4) {
                    0 => CallInput::ListFeatures { lo, hi: lo },
                    1 => CallInput::ListFeatures { lo: hi, hi: lo },
                    _ => CallInput::ListFeatures { lo, hi },
                }
            }
            4 => {
                let n = rng.random_range(0..8);
                CallInput::RecordRoute { points: (0..n).map(|_| self.point(rng)).collect() }
            }
            _ => {
                let n = rng.random_range(0..7);
                let notes = (0..n)
                    .map(|i| (format!("note {i}"), (rng.random_range(0..2), rng.random_range(0..2))))
                    .collect();
                CallInput::RouteChat { notes }
            }
        }
    }
}

/// A request with its deadline and the metadata naming its call (for the server's hook and
/// the proxy, which attribute faults to calls).
fn request<T>(message: T, deadline: Duration, id: u64) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request.metadata_mut().insert(CALL_ID, MetadataValue::from(id));
    request
}

fn point(p: Pt) -> Point {
    Point { latitude: p.0, longitude: p.1 }
}

fn pt(p: Option<Point>) -> Option<Pt> {
    p.map(|p| (p.latitude, p.longitude))
}

fn feature(f: Feature) -> ModelFeature {
    (f.name, pt(f.location))
}

/// Makes calls on one channel and records them.
#[derive(Debug, Clone)]
pub struct Caller {
    greeter: GreeterClient<SimChannel>,
    guide: RouteGuideClient<SimChannel>,
    host: String,
    trace: Trace,
}

/// How one call is made: its input, its deadline, and what its client does on the side.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Unique within a run, stable across runs of the same seed.
    pub id: u64,
    /// The method and request(s).
    pub input: CallInput,
    /// The deadline, sent as `grpc-timeout` and enforced by the client and server under test.
    pub deadline: Duration,
    /// The client cancels the call this long after it starts, if it has not ended.
    pub cancel_after: Option<Duration>,
    /// RecordRoute: the pause after each point (the tutorial client's pacing).
    pub pauses: Vec<Duration>,
    /// A post-heal recovery probe rather than workload.
    pub probe: bool,
}

/// What a call has seen so far; shared so a deadline that drops the call
/// future keeps what had already arrived.
#[derive(Debug, Default)]
struct Progress {
    sent: u32,
    replies: Vec<Reply>,
    half_close_us: Option<u64>,
}

type Shared = Arc<Mutex<Progress>>;

impl Caller {
    /// A caller on `channel`, recording to `trace` as `host`.
    pub fn new(channel: SimChannel, host: &str, trace: Trace) -> Self {
        Self {
            greeter: GreeterClient::new(channel.clone()),
            guide: RouteGuideClient::new(channel),
            host: host.to_owned(),
            trace,
        }
    }

    fn sent(&self, progress: &Shared, call: u64, message: String) {
        let seq = {
            let mut p = progress.lock().expect("progress lock");
            p.sent += 1;
            p.sent - 1
        };
        self.trace.record(&self.host, EventKind::Sent { call, seq, message });
    }

    fn received(&self, progress: &Shared, call: u64, reply: Reply) {
        let seq = {
            let mut p = progress.lock().expect("progress lock");
            p.replies.push(reply.clone());
            p.replies.len() as u32 - 1
        };
        self.trace.record(&self.host, EventKind::Received { call, seq, message: format!("{reply:?}") });
    }

    /// Makes one call as `plan` says and records what it saw. The deadline is the stack's
    /// business (tonic's channel, Faultline's client deadline layer, the server): the caller
    /// only observes. A planned cancel drops the call, as a cancelling tonic client does.
    pub async fn call(&self, plan: Plan) -> CallRecord {
        let Plan { id, input, deadline, cancel_after, pauses, probe } = plan;
        let start_us = sim_now_us();
        let deadline_us = deadline.as_micros() as u64;
        let method = input.method().to_owned();
        self.trace.record(&self.host, EventKind::CallStart { call: id, method, deadline_us });
        let progress: Shared = Arc::default();
        let exchange = self.clone().exchange(id, input.clone(), deadline, progress.clone(), pauses);
        let (status, cancelled_by_client) = match cancel_after {
            None => (exchange.await.err(), false),
            Some(after) => match tokio::time::timeout(after, exchange).await {
                Ok(outcome) => (outcome.err(), false),
                Err(_) => (Some(Status::cancelled("cancelled by the client")), true),
            },
        };
        let status = status.unwrap_or_else(|| Status::ok(""));
        let end_us = sim_now_us();
        let (code, message) = (status.code(), status.message().to_owned());
        self.trace.record(&self.host, EventKind::CallEnd { call: id, code, message: message.clone() });
        let progress = std::mem::take(&mut *progress.lock().expect("progress lock"));
        CallRecord {
            id,
            client: self.host.clone(),
            input,
            sent: progress.sent,
            replies: progress.replies,
            code,
            message,
            start_us,
            end_us,
            deadline_us,
            half_close_us: progress.half_close_us,
            cancelled_by_client,
            probe,
        }
    }

    async fn exchange(
        mut self,
        id: u64,
        input: CallInput,
        deadline: Duration,
        progress: Shared,
        pauses: Vec<Duration>,
    ) -> Result<(), Status> {
        match input {
            CallInput::SayHello { ref name } | CallInput::SayHelloAgain { ref name } => {
                let again = matches!(input, CallInput::SayHelloAgain { .. });
                let name = name.clone();
                self.sent(&progress, id, format!("HelloRequest {name:?}"));
                let request = request(HelloRequest { name }, deadline, id);
                let reply = if again {
                    self.greeter.say_hello_again(request).await?
                } else {
                    self.greeter.say_hello(request).await?
                };
                self.received(&progress, id, Reply::Hello(reply.into_inner().message));
            }
            CallInput::GetFeature { point: p } => {
                self.sent(&progress, id, format!("Point {p:?}"));
                let reply = self.guide.get_feature(request(point(p), deadline, id)).await?.into_inner();
                self.received(&progress, id, Reply::Feature(feature(reply)));
            }
            CallInput::ListFeatures { lo, hi } => {
                self.sent(&progress, id, format!("Rectangle {lo:?} {hi:?}"));
                let rect = Rectangle { lo: Some(point(lo)), hi: Some(point(hi)) };
                let mut stream = self.guide.list_features(request(rect, deadline, id)).await?.into_inner();
                while let Some(f) = stream.message().await? {
                    self.received(&progress, id, Reply::Feature(feature(f)));
                }
            }
            CallInput::RecordRoute { points } => {
                let this = self.clone();
                let (p2, mut guide) = (progress.clone(), self.guide.clone());
                let outbound = async_stream::stream! {
                    for (i, p) in points.into_iter().enumerate() {
                        this.sent(&p2, id, format!("Point {p:?}"));
                        yield point(p);
                        if let Some(pause) = pauses.get(i).filter(|d| !d.is_zero()) {
                            tokio::time::sleep(*pause).await;
                        }
                    }
                    p2.lock().expect("progress lock").half_close_us = Some(sim_now_us());
                };
                let s = guide.record_route(request(outbound, deadline, id)).await?.into_inner();
                let summary = Reply::Summary {
                    point_count: s.point_count,
                    feature_count: s.feature_count,
                    distance: s.distance,
                    elapsed_time: s.elapsed_time,
                };
                self.received(&progress, id, summary);
            }
            CallInput::RouteChat { notes } => {
                let this = self.clone();
                let (p2, mut guide) = (progress.clone(), self.guide.clone());
                let outbound = async_stream::stream! {
                    for (message, p) in notes {
                        this.sent(&p2, id, format!("RouteNote {message:?} {p:?}"));
                        yield RouteNote { location: Some(point(p)), message };
                    }
                };
                let mut stream = guide.route_chat(request(outbound, deadline, id)).await?.into_inner();
                while let Some(n) = stream.message().await? {
                    self.received(&progress, id, Reply::Note((n.message, pt(n.location))));
                }
            }
        }
        Ok(())
    }
}
