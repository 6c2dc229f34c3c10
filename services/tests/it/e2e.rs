//! All six methods over real loopback TCP, through tonic's generated clients.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, RouteNote};
use faultline_services::tutorial::{self, Printer, TUTORIAL_RECTANGLE, chat_notes, plan_route};
use faultline_services::{Clock, FeatureDb, Greeter, Mutant, RouteGuide};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;

use crate::model::{db_entries, p, route_distance};

/// Advances 1.5 s on every reading, so a call that reads it twice sees 1.5 s.
#[derive(Debug, Default)]
struct SteppingClock(AtomicU64);

impl Clock for SteppingClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.fetch_add(1500, Ordering::SeqCst))
    }
}

async fn serve(route_guide: RouteGuide) -> (SocketAddr, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Greeter.into_service())
            .add_service(route_guide.into_service())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (addr, channel)
}

fn reference_with_clock() -> RouteGuide {
    RouteGuide::new(Arc::new(FeatureDb::reference()), Arc::new(SteppingClock::default()))
}

#[tokio::test]
async fn greeter_over_tcp() {
    let (_, channel) = serve(reference_with_clock()).await;
    let mut client = GreeterClient::new(channel);
    let req = || HelloRequest { name: "you".into() };
    assert_eq!(client.say_hello(req()).await.unwrap().into_inner().message, "Hello, you!");
    assert_eq!(client.say_hello_again(req()).await.unwrap().into_inner().message, "Hello again, you!");
}

#[tokio::test]
async fn route_guide_methods_over_tcp() {
    let (_, channel) = serve(reference_with_clock()).await;
    let mut client = RouteGuideClient::new(channel);

    let miss = client.get_feature(p(0, 0)).await.unwrap().into_inner();
    assert_eq!((miss.name.as_str(), miss.location), ("", Some(p(0, 0))));

    let mut stream = client.list_features(TUTORIAL_RECTANGLE).await.unwrap().into_inner();
    let mut listed = Vec::new();
    while let Some(f) = stream.message().await.unwrap() {
        listed.push(f.name);
    }
    let names: Vec<String> = db_entries().into_iter().map(|e| e.0).collect();
    assert_eq!(listed, names);

    let route = [(0, 0), (10000000, 0), (20000000, 0), (407838351, -746143763)];
    let points: Vec<Point> = route.iter().map(|&(a, b)| p(a, b)).collect();
    let summary = client.record_route(tokio_stream::iter(points)).await.unwrap().into_inner();
    assert_eq!(summary.point_count, 4);
    assert_eq!(summary.feature_count, 1);
    assert_eq!(summary.distance, route_distance(&route));
    assert_eq!(summary.elapsed_time, 1, "1.5 s of clock is 1 whole second");

    let empty = client.record_route(tokio_stream::iter(Vec::<Point>::new())).await.unwrap().into_inner();
    assert_eq!((empty.point_count, empty.feature_count, empty.distance), (0, 0, 0));

    let replies = chat(&mut client, chat_notes()).await;
    assert_eq!(replies, ["First message", "Third message"]);
}

async fn chat(client: &mut RouteGuideClient<Channel>, notes: Vec<RouteNote>) -> Vec<String> {
    let mut stream = client.route_chat(tokio_stream::iter(notes)).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(n) = stream.message().await.unwrap() {
        out.push(n.message);
    }
    out
}

#[tokio::test]
async fn chat_state_is_per_call_unless_the_mutant_shares_it() {
    let (_, channel) = serve(reference_with_clock()).await;
    let mut client = RouteGuideClient::new(channel);
    assert_eq!(chat(&mut client, chat_notes()).await.len(), 2);
    assert_eq!(chat(&mut client, chat_notes()).await.len(), 2, "a second call starts empty");

    let (_, channel) = serve(reference_with_clock().with_mutant(Some(Mutant::SharedChat))).await;
    let mut client = RouteGuideClient::new(channel);
    assert_eq!(chat(&mut client, chat_notes()).await.len(), 2);
    assert!(chat(&mut client, chat_notes()).await.len() > 2, "the mutant leaks notes across calls");
}

#[tokio::test]
async fn tutorial_run_prints_what_the_python_client_prints() {
    let (_, channel) = serve(reference_with_clock()).await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let out: Printer = Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned()));
    let db = FeatureDb::reference();
    let no_sleep: Option<fn(Duration) -> std::future::Ready<()>> = None;
    tutorial::route_guide(&mut RouteGuideClient::new(channel), &db, 42, no_sleep, &out).await.unwrap();
    let lines = lines.lock().unwrap().clone();

    let route: Vec<(i32, i32)> =
        plan_route(&db, 42).iter().map(|(pt, _)| (pt.latitude, pt.longitude)).collect();
    let mut expected = vec![
        "-------------- GetFeature --------------".to_owned(),
        "Feature called Berkshire Valley Management Area Trail, Jefferson, NJ, USA at latitude: 409146138\nlongitude: -746188906\n".to_owned(),
        "Found no feature at ".to_owned(),
        "-------------- ListFeatures --------------".to_owned(),
        "Looking for features between 40, -75 and 42, -73".to_owned(),
    ];
    for (name, lat, lon) in db_entries() {
        expected.push(format!("Feature called {name} at latitude: {lat}\nlongitude: {lon}\n"));
    }
    expected.push("-------------- RecordRoute --------------".to_owned());
    for (lat, lon) in &route {
        expected.push(format!("Visiting point latitude: {lat}\nlongitude: {lon}\n"));
    }
    expected.extend([
        "Finished trip with 10 points ".to_owned(),
        "Passed 10 features ".to_owned(),
        format!("Travelled {} meters ", route_distance(&route)),
        "It took 1 seconds ".to_owned(),
        "-------------- RouteChat --------------".to_owned(),
    ]);
    assert_eq!(lines[..expected.len()], expected[..]);
    let chat: Vec<&str> = lines[expected.len()..].iter().map(String::as_str).collect();
    let sent: Vec<&str> = chat.iter().copied().filter(|l| l.starts_with("Sending")).collect();
    let received: Vec<&str> = chat.iter().copied().filter(|l| l.starts_with("Received")).collect();
    assert_eq!(
        sent,
        [
            "Sending First message at ",
            "Sending Second message at longitude: 1\n",
            "Sending Third message at latitude: 1\n",
            "Sending Fourth message at ",
            "Sending Fifth message at latitude: 1\n",
        ]
    );
    assert_eq!(
        received,
        ["Received message First message at ", "Received message Third message at latitude: 1\n"]
    );
    assert_eq!(chat.len(), 7);
}
