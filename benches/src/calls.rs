//! The calls every benchmark makes, one fixed workload per method, and two
//! ways to make them: with the generated tonic clients (`Mode::Typed`, what
//! an application does) or with pre-encoded request bytes and undecoded
//! replies (`Mode::Raw`, what a load generator does so that the client is
//! not the bottleneck; `ci/bench_client.py` does the same with grpcio).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, Rectangle, RouteNote};
use faultline_services::FeatureDb;
use faultline_wire::RawCodec;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Points each RecordRoute call sends (database locations, cycled).
pub const ROUTE_POINTS: usize = 100;
/// Round trips of each RouteChat call.
pub const CHAT_ROUND_TRIPS: usize = 50;
/// The rectangle ListFeatures asks for: the whole world, so every one of the
/// reference database's 100 features comes back.
pub const WORLD: Rectangle = Rectangle {
    lo: Some(Point { latitude: -900_000_000, longitude: -1_800_000_000 }),
    hi: Some(Point { latitude: 900_000_000, longitude: 1_800_000_000 }),
};

/// A method under load, with its fixed workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `Greeter.SayHello` for "world": one message each way.
    SayHello,
    /// `RouteGuide.GetFeature` at the tutorial's known point (a hit).
    GetFeature,
    /// `RouteGuide.ListFeatures` over [`WORLD`]: 100 features streamed back.
    ListFeatures,
    /// `RouteGuide.RecordRoute` of [`ROUTE_POINTS`] points, one summary back.
    RecordRoute,
    /// `RouteGuide.RouteChat` of [`CHAT_ROUND_TRIPS`] round trips: the client
    /// sends a note at a fresh location and a second one at the same
    /// location, then waits for the one reply (the first note) before the
    /// next round trip.
    RouteChat,
}

impl CallKind {
    /// Every kind, in the order tables show them.
    pub const ALL: [CallKind; 5] = [
        CallKind::SayHello,
        CallKind::GetFeature,
        CallKind::ListFeatures,
        CallKind::RecordRoute,
        CallKind::RouteChat,
    ];

    /// The kebab-case name used on command lines and in tables.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::SayHello => "say-hello",
            CallKind::GetFeature => "get-feature",
            CallKind::ListFeatures => "list-features",
            CallKind::RecordRoute => "record-route",
            CallKind::RouteChat => "route-chat",
        }
    }

    /// What one call's message count counts.
    pub fn unit(self) -> &'static str {
        match self {
            CallKind::SayHello | CallKind::GetFeature => "calls",
            CallKind::ListFeatures => "messages",
            CallKind::RecordRoute => "points",
            CallKind::RouteChat => "round trips",
        }
    }

    fn path(self) -> PathAndQuery {
        PathAndQuery::from_static(match self {
            CallKind::SayHello => "/helloworld.Greeter/SayHello",
            CallKind::GetFeature => "/routeguide.RouteGuide/GetFeature",
            CallKind::ListFeatures => "/routeguide.RouteGuide/ListFeatures",
            CallKind::RecordRoute => "/routeguide.RouteGuide/RecordRoute",
            CallKind::RouteChat => "/routeguide.RouteGuide/RouteChat",
        })
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CallKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let known: Vec<&str> = CallKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown call kind `{s}` (known: {})", known.join(", "))
        })
    }
}

/// How calls are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Generated clients, messages encoded and decoded.
    Typed,
    /// Pre-encoded requests, replies counted but not decoded.
    Raw,
}

/// The route RecordRoute sends: database locations, cycled.
pub fn route() -> Vec<Point> {
    let db = FeatureDb::reference();
    db.features().iter().cycle().take(ROUTE_POINTS).map(|f| f.location.unwrap_or_default()).collect()
}

/// The two notes of RouteChat round trip `i`: both at a location no other
/// round trip uses, so the second one gets exactly one reply (the first).
pub fn chat_pair(i: usize) -> [RouteNote; 2] {
    let location = Some(Point { latitude: i as i32, longitude: -(i as i32) });
    [
        RouteNote { location, message: format!("note {i}") },
        RouteNote { location, message: format!("again {i}") },
    ]
}

fn hello_request() -> HelloRequest {
    HelloRequest { name: "world".to_owned() }
}

const KNOWN_POINT: Point = faultline_services::tutorial::KNOWN_POINT;

/// Makes calls on one channel (one HTTP/2 connection).
#[derive(Debug, Clone)]
pub struct Caller {
    mode: Mode,
    greeter: GreeterClient<Channel>,
    guide: RouteGuideClient<Channel>,
    raw: Grpc<Channel>,
    requests: RawRequests,
}

/// Every request of every workload, encoded once.
#[derive(Debug, Clone)]
struct RawRequests {
    hello: Bytes,
    point: Bytes,
    world: Bytes,
    route: Vec<Bytes>,
    chat: Vec<[Bytes; 2]>,
}

impl RawRequests {
    fn new() -> Self {
        let encode = |m: &dyn Fn(&mut Vec<u8>)| {
            let mut buf = Vec::new();
            m(&mut buf);
            Bytes::from(buf)
        };
        Self {
            hello: encode(&|b| hello_request().encode(b).expect("Vec grows")),
            point: encode(&|b| KNOWN_POINT.encode(b).expect("Vec grows")),
            world: encode(&|b| WORLD.encode(b).expect("Vec grows")),
            route: route().iter().map(|p| encode(&|b| p.encode(b).expect("Vec grows"))).collect(),
            chat: (0..CHAT_ROUND_TRIPS)
                .map(|i| chat_pair(i).map(|n| encode(&|b| n.encode(b).expect("Vec grows"))))
                .collect(),
        }
    }
}

impl Caller {
    /// A caller on `channel`.
    pub fn new(channel: Channel, mode: Mode) -> Self {
        Self {
            mode,
            greeter: GreeterClient::new(channel.clone()),
            guide: RouteGuideClient::new(channel.clone()),
            raw: Grpc::new(channel),
            requests: RawRequests::new(),
        }
    }

    /// Makes one call of `kind`; returns how many of the kind's units it
    /// moved (1 for a unary call, features, points or round trips).
    pub async fn call(&mut self, kind: CallKind) -> Result<u64, Status> {
        match self.mode {
            Mode::Typed => self.typed(kind).await,
            Mode::Raw => self.raw(kind).await,
        }
    }

    async fn typed(&mut self, kind: CallKind) -> Result<u64, Status> {
        match kind {
            CallKind::SayHello => {
                self.greeter.say_hello(hello_request()).await?;
                Ok(1)
            }
            CallKind::GetFeature => {
                self.guide.get_feature(KNOWN_POINT).await?;
                Ok(1)
            }
            CallKind::ListFeatures => {
                let mut stream = self.guide.list_features(WORLD).await?.into_inner();
                let mut n = 0;
                while stream.message().await?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            CallKind::RecordRoute => {
                let points = route();
                let n = points.len() as u64;
                self.guide.record_route(tokio_stream::iter(points)).await?;
                Ok(n)
            }
            CallKind::RouteChat => {
                let (tx, rx) = first_pair(chat_pair).await;
                let mut replies = self.guide.route_chat(ReceiverStream::new(rx)).await?.into_inner();
                ping_pong(tx, &mut replies, chat_pair).await
            }
        }
    }

    async fn raw(&mut self, kind: CallKind) -> Result<u64, Status> {
        self.raw.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let path = kind.path();
        let r = &self.requests;
        match kind {
            CallKind::SayHello | CallKind::GetFeature => {
                let body = if kind == CallKind::SayHello { r.hello.clone() } else { r.point.clone() };
                self.raw.unary(Request::new(body), path, RawCodec).await?;
                Ok(1)
            }
            CallKind::ListFeatures => {
                let request = Request::new(r.world.clone());
                let mut stream = self.raw.server_streaming(request, path, RawCodec).await?.into_inner();
                let mut n = 0;
                while stream.message().await?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            CallKind::RecordRoute => {
                let n = r.route.len() as u64;
                let request = Request::new(tokio_stream::iter(r.route.clone()));
                self.raw.client_streaming(request, path, RawCodec).await?;
                Ok(n)
            }
            CallKind::RouteChat => {
                let chat = r.chat.clone();
                let (tx, rx) = first_pair(|i| chat[i].clone()).await;
                let request = Request::new(ReceiverStream::new(rx));
                let mut replies = self.raw.streaming(request, path, RawCodec).await?.into_inner();
                ping_pong(tx, &mut replies, |i| chat[i].clone()).await
            }
        }
    }
}

/// The request channel of a RouteChat with the first round trip's notes
/// already queued: a server may hold its response headers until it has a
/// reply to send (grpcio's synchronous server does), and tonic's client
/// waits for those headers before it hands over the reply stream.
async fn first_pair<T>(pair: impl Fn(usize) -> [T; 2]) -> (mpsc::Sender<T>, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel(2);
    for note in pair(0) {
        tx.send(note).await.expect("the receiver is alive and has room for two");
    }
    (tx, rx)
}

/// Drives one RouteChat whose first pair of notes is queued (see
/// [`first_pair`]): each round trip waits for its reply, then sends the next
/// pair; returns the round trips made.
async fn ping_pong<T, R>(
    tx: mpsc::Sender<T>,
    replies: &mut tonic::Streaming<R>,
    pair: impl Fn(usize) -> [T; 2],
) -> Result<u64, Status> {
    let closed = || Status::unavailable("request stream closed early");
    for i in 0..CHAT_ROUND_TRIPS {
        for note in pair(i).into_iter().filter(|_| i > 0) {
            tx.send(note).await.map_err(|_| closed())?;
        }
        if replies.message().await?.is_none() {
            return Err(Status::internal(format!("chat ended after {i} of {CHAT_ROUND_TRIPS} replies")));
        }
    }
    drop(tx);
    if replies.message().await?.is_some() {
        return Err(Status::internal("more chat replies than round trips"));
    }
    Ok(CHAT_ROUND_TRIPS as u64)
}

/// Checks once, with the generated clients, that the server at the other
/// end of `channel` answers every workload as the reference does, so a load
/// run never measures a server that is fast because it is wrong.
pub async fn verify(channel: Channel) -> Result<(), String> {
    let db = FeatureDb::reference();
    let mut greeter = GreeterClient::new(channel.clone());
    let mut guide = RouteGuideClient::new(channel);
    let fail = |what: &str, e: Status| format!("{what}: {e}");
    let reply = greeter.say_hello(hello_request()).await.map_err(|e| fail("SayHello", e))?.into_inner();
    check("SayHello", &reply, &faultline_services::greeter::hello("world"))?;
    let feature = guide.get_feature(KNOWN_POINT).await.map_err(|e| fail("GetFeature", e))?.into_inner();
    check("GetFeature", &feature, &faultline_services::route_guide::get_feature(&db, KNOWN_POINT, None))?;
    let mut stream = guide.list_features(WORLD).await.map_err(|e| fail("ListFeatures", e))?.into_inner();
    let mut features = Vec::new();
    while let Some(f) = stream.message().await.map_err(|e| fail("ListFeatures", e))? {
        features.push(f);
    }
    check("ListFeatures", &features, &faultline_services::route_guide::list_features(&db, &WORLD, None))?;
    let summary = guide
        .record_route(tokio_stream::iter(route()))
        .await
        .map_err(|e| fail("RecordRoute", e))?
        .into_inner();
    let mut want = faultline_services::geo::RouteAccumulator::new(None);
    for p in route() {
        want.push(&db, p);
    }
    check("RecordRoute", &summary, &want.finish(summary.elapsed_time))?;
    let (tx, rx) = first_pair(chat_pair).await;
    let mut replies =
        guide.route_chat(ReceiverStream::new(rx)).await.map_err(|e| fail("RouteChat", e))?.into_inner();
    for i in 0..CHAT_ROUND_TRIPS {
        for note in chat_pair(i).into_iter().filter(|_| i > 0) {
            tx.send(note).await.map_err(|_| "RouteChat: request stream closed early".to_owned())?;
        }
        let reply = replies.message().await.map_err(|e| fail("RouteChat", e))?;
        check("RouteChat", &reply, &Some(chat_pair(i)[0].clone()))?;
    }
    Ok(())
}

fn check<T: PartialEq + fmt::Debug>(what: &str, got: &T, want: &T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, the reference says {want:?}")) }
}
