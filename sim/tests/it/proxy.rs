//! Tests of the HTTP/2 fault proxy: a turmoil sim per test with the real
//! services on host "server", the proxy on host "proxy" and a tonic client
//! that talks to the server through the proxy.

use std::sync::Arc;
use std::time::Duration;

use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Feature, Point, RouteNote};
use faultline_services::route_guide::list_features as reference_list;
use faultline_services::tutorial::{self, KNOWN_POINT, TUTORIAL_RECTANGLE};
use faultline_sim::World;
use faultline_sim::fault::{Fault, TimedFault};
use faultline_sim::net::{self, SimChannel, Traffic};
use faultline_sim::proxy::Proxy;
use faultline_sim::server::{self, ServerHost};
use faultline_sim::trace::{Event, EventKind, Phase, Trace, first_difference};
use faultline_tutorial::Scenario;
use faultline_tutorial::Tutorial;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tonic::{Code, Response, Status, Streaming};

/// Upper bound for any one call, in simulated time.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The world of these tests: the catalogue's network, 300 s to run.
fn world(seed: u64) -> World {
    let mut scenario: Scenario = Scenario::new("proxy-test");
    scenario.limit_ms = 300_000;
    World::new(&scenario, seed)
}

fn build_sim<'a>(seed: u64) -> turmoil::Sim<'a> {
    world(seed).sim()
}

/// The one server, as the simulator runs it.
fn add_server(sim: &mut turmoil::Sim<'_>, seed: u64, trace: &Trace) {
    let host = ServerHost {
        host: server::HOST.to_owned(),
        peers: None,
        system: Tutorial::shared(),
        mutant: None,
        disk: Arc::default(),
        starts: Arc::default(),
        faults: Vec::new(),
        trace: trace.clone(),
        traffic: Traffic::default(),
        world: world(seed),
        handlers: Arc::default(),
    };
    sim.host(server::HOST, move || server::serve(host.clone()));
}

/// The proxy, with every fault on for the whole run.
fn add_proxy(sim: &mut turmoil::Sim<'_>, faults: Vec<Fault>, seed: u64, trace: &Trace) {
    let faults = faults.into_iter().map(|fault| TimedFault::new(0, 300_000, fault)).enumerate();
    let proxy = Proxy {
        host: "proxy".to_owned(),
        upstream: format!("server:{}", net::GRPC_PORT),
        faults: faults.collect(),
        world: world(seed),
        trace: trace.clone(),
        traffic: Traffic::default(),
    };
    sim.host("proxy", move || {
        let proxy = proxy.clone();
        async move {
            proxy.run().await?;
            Ok(())
        }
    });
}

/// A sim with server and proxy; the caller adds clients.
fn sim_with_proxy<'a>(seed: u64, faults: Vec<Fault>, trace: &Trace) -> turmoil::Sim<'a> {
    let mut sim = build_sim(seed);
    add_server(&mut sim, seed, trace);
    add_proxy(&mut sim, faults, seed, trace);
    sim
}

fn channel(trace: &Trace) -> SimChannel {
    net::channel("client", "proxy:50051", &world(0).net, trace, &Traffic::default())
}

fn expected_features() -> Vec<Feature> {
    reference_list(&faultline_services::FeatureDb::reference(), &TUTORIAL_RECTANGLE, None)
}

fn point(latitude: i32, longitude: i32) -> Point {
    Point { latitude, longitude }
}

/// What a streaming call delivered, and how it ended (`None` = OK).
#[derive(Debug)]
struct Streamed<T> {
    items: Vec<T>,
    status: Option<Status>,
}

impl<T> Streamed<T> {
    fn code(&self) -> Code {
        self.status.as_ref().map_or(Code::Ok, Status::code)
    }
}

async fn collect<T>(response: Result<Response<Streaming<T>>, Status>) -> Streamed<T> {
    let mut items = Vec::new();
    let mut stream = match response {
        Ok(response) => response.into_inner(),
        Err(status) => return Streamed { items, status: Some(status) },
    };
    loop {
        match stream.message().await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Streamed { items, status: None },
            Err(status) => return Streamed { items, status: Some(status) },
        }
    }
}

async fn list_features(channel: &SimChannel) -> Streamed<Feature> {
    let mut client = RouteGuideClient::new(channel.clone());
    let call = async { collect(client.list_features(TUTORIAL_RECTANGLE).await).await };
    timeout(CALL_TIMEOUT, call).await.expect("ListFeatures hung")
}

async fn route_chat(channel: &SimChannel) -> Streamed<RouteNote> {
    let mut client = RouteGuideClient::new(channel.clone());
    let notes = futures::stream::iter(tutorial::chat_notes());
    let call = async { collect(client.route_chat(notes).await).await };
    timeout(CALL_TIMEOUT, call).await.expect("RouteChat hung")
}

async fn get_feature(channel: &SimChannel, at: Point) -> Result<Feature, Status> {
    let mut client = RouteGuideClient::new(channel.clone());
    let call = client.get_feature(at);
    timeout(CALL_TIMEOUT, call).await.expect("GetFeature hung").map(Response::into_inner)
}

async fn say_hello(channel: &SimChannel, name: &str) -> Result<String, Status> {
    let mut client = GreeterClient::new(channel.clone());
    let call = client.say_hello(HelloRequest { name: name.to_owned() });
    timeout(CALL_TIMEOUT, call).await.expect("SayHello hung").map(|r| r.into_inner().message)
}

/// The tutorial's RouteChat answer: `First message` at (0,0), then `Third message` at (1,0).
fn assert_tutorial_chat(replies: &Streamed<RouteNote>) {
    assert_eq!(replies.code(), Code::Ok, "{:?}", replies.status);
    let got: Vec<(&str, Option<Point>)> =
        replies.items.iter().map(|n| (n.message.as_str(), n.location)).collect();
    assert_eq!(got, vec![("First message", Some(point(0, 0))), ("Third message", Some(point(1, 0)))]);
}

fn assert_known_feature(feature: &Feature) {
    let db = faultline_services::FeatureDb::reference();
    let expected = db.feature_at(&KNOWN_POINT).expect("the tutorial's point is in the database");
    assert_eq!(feature, expected);
    assert!(!feature.name.is_empty());
}

/// (fault, detail) of every time a fault acted, in order.
fn faults(trace: &Trace) -> Vec<(String, String)> {
    trace
        .events()
        .into_iter()
        .filter_map(|event| match event.kind {
            EventKind::Fault(f) if f.phase == Phase::Acted => Some((f.fault.to_owned(), f.detail)),
            _ => None,
        })
        .collect()
}

/// What every protocol error the proxy met says.
fn protocol_errors(trace: &Trace) -> Vec<String> {
    trace
        .events()
        .into_iter()
        .filter_map(|event| match event.kind {
            EventKind::ProtocolError { detail } => Some(detail),
            _ => None,
        })
        .collect()
}

fn fired(trace: &Trace, name: &str) -> Vec<String> {
    faults(trace).into_iter().filter(|(fault, _)| fault == name).map(|(_, detail)| detail).collect()
}

/// Successful TCP connections opened by `host`.
fn connects(trace: &Trace, host: &str) -> usize {
    trace
        .events()
        .iter()
        .filter(|event| event.host == host && matches!(event.kind, EventKind::Connect { ok: true, .. }))
        .count()
}

#[test]
fn without_faults_the_proxy_is_transparent() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(1, Vec::new(), &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        let listed = list_features(&channel).await;
        assert_eq!(listed.code(), Code::Ok, "{:?}", listed.status);
        assert_eq!(listed.items.len(), 100);
        assert_eq!(listed.items, expected_features());
        assert_tutorial_chat(&route_chat(&channel).await);
        assert_eq!(say_hello(&channel, "you").await?, "Hello, you!");
        assert_known_feature(&get_feature(&channel, KNOWN_POINT).await?);
        Ok(())
    });
    sim.run().expect("simulation");
    assert_eq!(faults(&trace), Vec::<(String, String)>::new());
    assert_eq!(connects(&trace, "client"), 1);
    assert_eq!(connects(&trace, "proxy"), 1, "one upstream connection per client connection");
}

#[test]
fn rst_stream_cuts_a_stream_after_the_nth_message_and_the_connection_survives() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(2, vec![Fault::RstStream { after_messages: 3, every: 1 }], &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        let expected = expected_features();
        // Several rounds on one connection: after the first reset the proxy
        // drops the server's trailers, so later header blocks only decode if
        // the proxy kept the client's HPACK state in step.
        for round in 0..3 {
            let listed = list_features(&channel).await;
            assert_eq!(listed.items, expected[..3], "round {round}: exactly three features, in order");
            // tonic surfaces the RST_STREAM(CANCEL) as CANCELLED.
            assert_eq!(listed.code(), Code::Cancelled, "round {round}: {:?}", listed.status);
            assert_eq!(say_hello(&channel, "again").await?, "Hello, again!");
            assert_known_feature(&get_feature(&channel, KNOWN_POINT).await?);
        }
        // RouteChat answers two messages: fewer than three, never reset.
        assert_tutorial_chat(&route_chat(&channel).await);
        Ok(())
    });
    sim.run().expect("simulation");
    let resets = fired(&trace, "rst-stream");
    assert_eq!(resets.len(), 3, "{resets:?}");
    assert!(resets.iter().all(|detail| detail.ends_with("after 3 messages")), "{resets:?}");
    assert_eq!(connects(&trace, "client"), 1, "the reset never broke the connection");
    assert_eq!(protocol_errors(&trace), Vec::<String>::new());
}

#[test]
fn rst_stream_every_second_stream_from_the_start() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(3, vec![Fault::RstStream { after_messages: 0, every: 2 }], &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        for i in 0..6 {
            let result = get_feature(&channel, KNOWN_POINT).await;
            if i % 2 == 0 {
                assert_known_feature(&result?);
            } else {
                let status = result.expect_err("every second stream is reset");
                assert_eq!(status.code(), Code::Cancelled, "call {i}: {status:?}");
            }
        }
        Ok(())
    });
    sim.run().expect("simulation");
    let resets = fired(&trace, "rst-stream");
    assert_eq!(resets.len(), 3, "{resets:?}");
    assert_eq!(resets[0], "conn 0: stream 3 after 0 messages");
    assert_eq!(connects(&trace, "client"), 1);
}

#[test]
fn goaway_makes_the_client_reconnect() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(4, vec![Fault::GoAway { after_frames: 4 }], &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        // The GOAWAY arrives in the middle of this call, which still completes.
        assert_eq!(say_hello(&channel, "one").await?, "Hello, one!");
        // Right after: the connection is draining or closed, tonic reconnects.
        assert_eq!(say_hello(&channel, "two").await?, "Hello, two!");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let listed = list_features(&channel).await;
        assert_eq!(listed.code(), Code::Ok, "{:?}", listed.status);
        assert_eq!(listed.items, expected_features());
        assert_eq!(say_hello(&channel, "three").await?, "Hello, three!");
        Ok(())
    });
    sim.run().expect("simulation");
    let goaways = fired(&trace, "goaway");
    assert!(goaways.len() >= 2, "{goaways:?}");
    assert!(goaways[0].starts_with("conn 0: after 4 frames server->client, last stream 1"), "{goaways:?}");
    assert!(connects(&trace, "client") >= 2, "the client reconnected");
}

#[test]
fn connection_reset_fails_the_call_in_flight_and_later_calls_reconnect() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(5, vec![Fault::ConnectionReset { after_bytes: 3_000 }], &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        let expected = expected_features();
        let listed = list_features(&channel).await;
        // The response headers had arrived, so the cut surfaces while reading
        // the body: tonic reports UNKNOWN ("error reading a body from connection").
        assert_eq!(listed.code(), Code::Unknown, "{:?}", listed.status);
        assert!(listed.items.len() < expected.len());
        assert_eq!(listed.items, expected[..listed.items.len()], "what arrived is a prefix");
        // A small call fits in a fresh connection's budget.
        assert_eq!(say_hello(&channel, "after").await?, "Hello, after!");
        assert_known_feature(&get_feature(&channel, KNOWN_POINT).await?);
        Ok(())
    });
    sim.run().expect("simulation");
    assert_eq!(fired(&trace, "connection-reset"), vec!["conn 0: after 3000 bytes server->client".to_owned()]);
    assert!(connects(&trace, "client") >= 2);
}

/// Eight concurrent calls over one channel: 3 ListFeatures, 3 RouteChat,
/// 2 GetFeature; each must deliver exactly the right answer.
async fn eight_concurrent_calls(channel: &SimChannel) {
    enum Outcome {
        Listed(Streamed<Feature>),
        Chat(Streamed<RouteNote>),
        Got(Result<Feature, Status>, Point),
    }
    let mut calls: Vec<BoxFuture<'_, Outcome>> = Vec::new();
    for i in 0..8 {
        calls.push(match i % 3 {
            0 => list_features(channel).map(Outcome::Listed).boxed(),
            1 => route_chat(channel).map(Outcome::Chat).boxed(),
            _ => {
                let at = if i == 2 { KNOWN_POINT } else { point(0, 0) };
                get_feature(channel, at).map(move |r| Outcome::Got(r, at)).boxed()
            }
        });
    }
    let expected = expected_features();
    for outcome in futures::future::join_all(calls).await {
        match outcome {
            Outcome::Listed(listed) => {
                assert_eq!(listed.code(), Code::Ok, "{:?}", listed.status);
                assert_eq!(listed.items, expected);
            }
            Outcome::Chat(replies) => assert_tutorial_chat(&replies),
            Outcome::Got(result, at) => {
                let feature = result.expect("GetFeature");
                if at == KNOWN_POINT {
                    assert_known_feature(&feature);
                } else {
                    assert_eq!(feature, Feature { name: String::new(), location: Some(at) });
                }
            }
        }
    }
}

fn run_concurrent(seed: u64, faults: Vec<Fault>) -> Trace {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(seed, faults, &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        eight_concurrent_calls(&channel).await;
        Ok(())
    });
    sim.run().expect("simulation");
    trace
}

#[test]
fn frame_reorder_across_streams_keeps_every_answer_exact() {
    let trace = run_concurrent(6, vec![Fault::FrameReorder { window: 4, max_delay_ms: 5 }]);
    let reorders = fired(&trace, "frame-reorder");
    assert!(!reorders.is_empty(), "frames were actually reordered across streams");
    assert_eq!(connects(&trace, "client"), 1, "all eight calls shared one connection");
    assert_eq!(protocol_errors(&trace), Vec::<String>::new());
}

#[test]
fn frame_delay_keeps_every_answer_exact() {
    let trace = run_concurrent(7, vec![Fault::FrameDelay { max_delay_ms: 20 }]);
    assert!(!fired(&trace, "frame-delay").is_empty());
    assert_eq!(connects(&trace, "client"), 1);
}

#[test]
fn frame_reorder_and_delay_together_keep_every_answer_exact() {
    let trace = run_concurrent(
        8,
        vec![Fault::FrameReorder { window: 3, max_delay_ms: 4 }, Fault::FrameDelay { max_delay_ms: 3 }],
    );
    assert!(!fired(&trace, "frame-reorder").is_empty());
    assert!(!fired(&trace, "frame-delay").is_empty());
    assert_eq!(connects(&trace, "client"), 1);
}

/// A run that uses every random choice the proxy makes, with the outcome of
/// each call recorded in the trace.
fn recorded_run(seed: u64) -> Vec<Event> {
    let faults = vec![
        Fault::RstStream { after_messages: 2, every: 2 },
        Fault::FrameReorder { window: 4, max_delay_ms: 5 },
        Fault::FrameDelay { max_delay_ms: 10 },
    ];
    let trace = Trace::default();
    let mut sim = sim_with_proxy(seed, faults, &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let channel = channel(&client_trace);
        let calls = (0..6u64).map(|call| {
            let (channel, trace) = (channel.clone(), client_trace.clone());
            async move {
                let method = if call % 2 == 0 { "ListFeatures" } else { "RouteChat" };
                let start = EventKind::CallStart { call, method: method.to_owned(), deadline_us: 0 };
                trace.record("client", start);
                let (messages, code) = if call % 2 == 0 {
                    let listed = list_features(&channel).await;
                    (listed.items.iter().map(|f| f.name.clone()).collect::<Vec<_>>(), listed.code())
                } else {
                    let chat = route_chat(&channel).await;
                    (chat.items.iter().map(|n| n.message.clone()).collect(), chat.code())
                };
                for (seq, message) in messages.into_iter().enumerate() {
                    let seq = u32::try_from(seq).unwrap_or(u32::MAX);
                    trace.record("client", EventKind::Received { call, seq, message });
                }
                trace.record("client", EventKind::CallEnd { call, code, message: String::new() });
            }
        });
        futures::future::join_all(calls).await;
        Ok(())
    });
    sim.run().expect("simulation");
    trace.events()
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let first = recorded_run(42);
    let second = recorded_run(42);
    assert_eq!(first_difference(&first, &second), None);
    assert!(first.iter().any(|e| matches!(&e.kind, EventKind::Fault(f) if f.fault == "rst-stream")));
    assert!(first.iter().any(|e| matches!(&e.kind, EventKind::Fault(f) if f.fault == "frame-reorder")));
    assert!(first.iter().any(|e| matches!(&e.kind, EventKind::CallEnd { code: Code::Ok, .. })));
}

#[test]
fn garbage_closes_the_connection_and_the_proxy_keeps_serving() {
    let trace = Trace::default();
    let mut sim = sim_with_proxy(9, vec![Fault::FrameDelay { max_delay_ms: 1 }], &trace);
    let client_trace = trace.clone();
    sim.client("client", async move {
        let garbage: [&[u8]; 3] = [
            b"GET / HTTP/1.1\r\nHost: proxy\r\n\r\n",
            // A valid preface, then HEADERS on stream 0.
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x01\x01\x04\x00\x00\x00\x00\x82",
            // A valid preface, then a frame header promising more than ever comes, then EOF.
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\x00\x00\x00\x00\x00\x01abc",
        ];
        for bytes in garbage {
            let mut socket = turmoil::net::TcpStream::connect("proxy:50051").await?;
            socket.write_all(bytes).await?;
            if bytes.starts_with(b"PRI") && bytes.ends_with(b"abc") {
                socket.shutdown().await?;
            }
            let mut sink = Vec::new();
            // The proxy closes: EOF (or a reset) within the timeout.
            let _ =
                timeout(CALL_TIMEOUT, socket.read_to_end(&mut sink)).await.expect("proxy closed the socket");
        }
        let channel = channel(&client_trace);
        assert_eq!(say_hello(&channel, "still here").await?, "Hello, still here!");
        Ok(())
    });
    sim.run().expect("simulation");
    let errors = protocol_errors(&trace);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("not an HTTP/2 client preface"), "{errors:?}");
    assert!(errors[1].contains("HEADERS on stream 0"), "{errors:?}");
    assert!(errors[2].contains("over the receiver's SETTINGS_MAX_FRAME_SIZE 16384"), "{errors:?}");
}

/// Frame-shaped junk: mostly well-framed frames of every type with random
/// flags, stream ids and payloads, sometimes raw garbage.
fn junk_frames(rng: &mut rand_chacha::ChaCha8Rng, count: usize) -> Vec<u8> {
    use rand::Rng;
    let mut out = Vec::new();
    for _ in 0..count {
        if rng.random_ratio(1, 20) {
            out.extend((0..rng.random_range(1..30)).map(|_| rng.random::<u8>()));
            continue;
        }
        let kind = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xfa][rng.random_range(0..11)];
        let stream = [0u32, 1, 1, 3, 5][rng.random_range(0..5)];
        let mut payload: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        if kind == 0 && rng.random_bool(0.5) {
            // A plausible gRPC message or two.
            for _ in 0..rng.random_range(1..3) {
                let body = rng.random_range(0..8u8);
                payload.extend_from_slice(&[0, 0, 0, 0, body]);
                payload.extend((0..body).map(|_| rng.random::<u8>()));
            }
        }
        let len = payload.len() as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(kind);
        out.push(rng.random());
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

#[test]
fn junk_from_either_side_never_panics_the_proxy() {
    use rand::SeedableRng;
    let faults = vec![
        Fault::RstStream { after_messages: 1, every: 1 },
        Fault::GoAway { after_frames: 3 },
        Fault::FrameReorder { window: 3, max_delay_ms: 2 },
        Fault::FrameDelay { max_delay_ms: 2 },
    ];
    for seed in 0..48u64 {
        let trace = Trace::default();
        let mut sim = build_sim(seed);
        // A fake server that answers every connection with junk, then closes.
        sim.host("server", move || async move {
            let listener = net::bind_grpc().await?;
            let mut connection = 0u64;
            loop {
                let (mut socket, _) = listener.accept().await?;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 1000 + connection);
                connection += 1;
                let junk = junk_frames(&mut rng, 12);
                tokio::spawn(async move {
                    let _ = socket.write_all(&junk).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                });
            }
        });
        add_proxy(&mut sim, faults.clone(), seed, &trace);
        sim.client("client", async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut socket = turmoil::net::TcpStream::connect("proxy:50051").await?;
            let mut bytes = PREFACE.to_vec();
            bytes.extend(junk_frames(&mut rng, 12));
            socket.write_all(&bytes).await?;
            let mut sink = Vec::new();
            let _ = timeout(CALL_TIMEOUT, socket.read_to_end(&mut sink))
                .await
                .expect("the proxy closed the socket");
            Ok(())
        });
        sim.run().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let errors = protocol_errors(&trace);
        assert!(errors.len() <= 1, "seed {seed}: one connection, at most one error: {errors:?}");
    }
}

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
