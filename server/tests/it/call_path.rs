//! Calls straight into `Server::service()`, the path every transport uses: the response's
//! headers and whether hyper could end the stream on them (Trailers-Only).

use std::convert::Infallible;
use std::time::Duration;

use faultline_proto::routeguide::{Point, Rectangle};
use faultline_server::{Server, ServerConfig, Services};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use tonic::body::Body;
use tower::ServiceExt;

fn request(path: &str, body: Body, timeout: Option<&str>) -> http::Request<Body> {
    let mut request = http::Request::post(format!("http://test{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(t) = timeout {
        request = request.header("grpc-timeout", t);
    }
    request.body(body).unwrap()
}

fn message(m: &impl Message) -> Body {
    Body::new(
        http_body_util::Full::new(faultline_wire::grpc::encode(&m.encode_to_vec())).map_err(|e| match e {}),
    )
}

/// A request stream that sends one message and never ends.
fn endless(m: &impl Message) -> Body {
    let first = futures::stream::iter([Ok::<_, Infallible>(Frame::data(faultline_wire::grpc::encode(
        &m.encode_to_vec(),
    )))]);
    let stream = futures::StreamExt::chain(first, futures::stream::pending());
    Body::new(StreamBody::new(stream).map_err(|e: Infallible| match e {}))
}

fn status(response: &http::Response<Body>) -> Option<&str> {
    response.headers().get("grpc-status").map(|v| v.to_str().unwrap())
}

async fn call(req: http::Request<Body>) -> http::Response<Body> {
    Server::new(ServerConfig::new(Services::All)).service().oneshot(req).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn early_errors_and_empty_streams_are_trailers_only() {
    let unknown = call(request("/routeguide.RouteGuide/Nope", Body::empty(), None)).await;
    assert_eq!(status(&unknown), Some("12"));
    assert!(unknown.body().is_end_stream(), "hyper can end the stream on the HEADERS frame");

    let flat = Rectangle {
        lo: Some(Point { latitude: 1, longitude: 1 }),
        hi: Some(Point { latitude: 1, longitude: 1 }),
    };
    let empty = call(request("/routeguide.RouteGuide/ListFeatures", message(&flat), None)).await;
    assert_eq!(status(&empty), Some("0"), "no feature there: a stream over before its first message");
    assert!(empty.body().is_end_stream());

    let hit = Point { latitude: 409146138, longitude: -746188906 };
    let answer = call(request("/routeguide.RouteGuide/GetFeature", message(&hit), None)).await;
    assert_eq!(status(&answer), None, "a message to send: headers first, status in the trailers");
    let collected = answer.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().and_then(|t| t.get("grpc-status")).map(|v| v.to_str().unwrap()),
        Some("0")
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_grpc_timeout_is_deadline_exceeded_before_and_during_a_response() {
    // RecordRoute waits for points that never end: the handler has not answered.
    let point = Point { latitude: 1, longitude: 2 };
    let waiting = call(request("/routeguide.RouteGuide/RecordRoute", endless(&point), Some("100m"))).await;
    assert_eq!(status(&waiting), Some("4"));
    assert!(waiting.body().is_end_stream());

    // RouteChat answers at once with a stream that waits for notes: its trailers say it.
    let note = faultline_proto::routeguide::RouteNote { location: Some(point), message: "n".into() };
    let chat = call(request("/routeguide.RouteGuide/RouteChat", endless(&note), Some("100m"))).await;
    assert_eq!(status(&chat), None);
    let started = tokio::time::Instant::now();
    let collected = chat.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().and_then(|t| t.get("grpc-status")).map(|v| v.to_str().unwrap()),
        Some("4")
    );
    assert!(started.elapsed() <= Duration::from_millis(100), "ended by the deadline");
}

#[tokio::test(start_paused = true)]
async fn the_cut_off_ends_running_calls_with_unavailable() {
    let server = Server::new(ServerConfig::new(Services::All));
    let note = faultline_proto::routeguide::RouteNote { location: None, message: "n".into() };
    let chat = server
        .service()
        .oneshot(request("/routeguide.RouteGuide/RouteChat", endless(&note), None))
        .await
        .unwrap();
    let waiting = server.service().oneshot(request(
        "/routeguide.RouteGuide/RecordRoute",
        endless(&Point::default()),
        None,
    ));
    let waiting = tokio::spawn(waiting);
    tokio::task::yield_now().await;
    server.cut_off();
    let collected = chat.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().and_then(|t| t.get("grpc-status")).map(|v| v.to_str().unwrap()),
        Some("14")
    );
    let waiting = waiting.await.unwrap().unwrap();
    assert_eq!(status(&waiting), Some("14"));
    assert_eq!(server.cut_off_calls(), 2);
}
