//! The tutorial's workload: generated call inputs, and how a client makes each call with the
//! generated tonic clients, reporting what it sent and received.

use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Feature, Point, Rectangle, RouteNote};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tonic::Status;

use super::model::{Model, ModelFeature, ModelNote, Pt};
use faultline_sim::system::Call;

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
    /// `RouteGuide.RouteChat`. A `lockstep` client sends each note only once the replies to
    /// the one before have arrived (a chat client that answers what it hears).
    RouteChat {
        notes: Vec<(String, Pt)>,
        #[serde(default)]
        lockstep: bool,
    },
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
                CallInput::RouteChat { notes, lockstep: rng.random_bool(0.5) }
            }
        }
    }
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

/// Makes one call of `input` with tonic's generated clients on `call`'s channel.
pub async fn perform(input: CallInput, call: Call<Reply>) -> Result<(), Status> {
    let channel = call.channel();
    match input {
        CallInput::SayHello { ref name } | CallInput::SayHelloAgain { ref name } => {
            let mut greeter = GreeterClient::new(channel);
            let name = name.clone();
            call.sent(format_args!("HelloRequest {name:?}"));
            let request = call.request(HelloRequest { name });
            let reply = if matches!(input, CallInput::SayHelloAgain { .. }) {
                greeter.say_hello_again(request).await?
            } else {
                greeter.say_hello(request).await?
            };
            call.received(Reply::Hello(reply.into_inner().message));
        }
        CallInput::GetFeature { point: p } => {
            call.sent(format_args!("Point {p:?}"));
            let reply =
                RouteGuideClient::new(channel).get_feature(call.request(point(p))).await?.into_inner();
            call.received(Reply::Feature(feature(reply)));
        }
        CallInput::ListFeatures { lo, hi } => {
            call.sent(format_args!("Rectangle {lo:?} {hi:?}"));
            let rect = Rectangle { lo: Some(point(lo)), hi: Some(point(hi)) };
            let mut stream =
                RouteGuideClient::new(channel).list_features(call.request(rect)).await?.into_inner();
            while let Some(f) = stream.message().await? {
                call.received(Reply::Feature(feature(f)));
            }
        }
        CallInput::RecordRoute { points } => {
            let (out, pauses) = (call.clone(), call.pauses().to_vec());
            let outbound = async_stream::stream! {
                for (i, p) in points.into_iter().enumerate() {
                    out.sent(format_args!("Point {p:?}"));
                    yield point(p);
                    if let Some(pause) = pauses.get(i).filter(|d| !d.is_zero()) {
                        tokio::time::sleep(*pause).await;
                    }
                }
                out.half_closed();
            };
            let s = RouteGuideClient::new(channel).record_route(call.request(outbound)).await?.into_inner();
            call.received(Reply::Summary {
                point_count: s.point_count,
                feature_count: s.feature_count,
                distance: s.distance,
                elapsed_time: s.elapsed_time,
            });
        }
        CallInput::RouteChat { notes, lockstep } => {
            let out = call.clone();
            // Replies due once each note is in: one per earlier note at the same location.
            let due: Vec<usize> = (0..notes.len())
                .scan(0, |sum, i| {
                    *sum += notes[..i].iter().filter(|n| n.1 == notes[i].1).count();
                    Some(*sum)
                })
                .collect();
            let (heard, mut hearing) = tokio::sync::watch::channel(0usize);
            let outbound = async_stream::stream! {
                for (i, (message, p)) in notes.into_iter().enumerate() {
                    out.sent(format_args!("RouteNote {message:?} {p:?}"));
                    yield RouteNote { location: Some(point(p)), message };
                    // A lock-step client waits for the answers before it speaks again; the
                    // call's deadline bounds the wait.
                    if lockstep && hearing.wait_for(|n| *n >= due[i]).await.is_err() {
                        break;
                    }
                }
            };
            let mut stream =
                RouteGuideClient::new(channel).route_chat(call.request(outbound)).await?.into_inner();
            while let Some(n) = stream.message().await? {
                call.received(Reply::Note((n.message, pt(n.location))));
                heard.send_modify(|n| *n += 1);
            }
        }
    }
    Ok(())
}
