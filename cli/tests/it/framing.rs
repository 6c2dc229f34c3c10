//! What `faultline serve` puts on the wire for a call that ends before its first message: one
//! HEADERS frame with END_STREAM (gRPC's Trailers-Only), checked frame by frame, not through
//! an HTTP/2 library that reports a split response and a real one alike.

use bytes::Bytes;
use faultline_proto::routeguide::{Point, Rectangle, RouteNote};
use faultline_wire::frame::{Frame, flag, kind};
use faultline_wire::tap::TapLog;
use h2::client::SendRequest;
use prost::Message;

use crate::support::Server;
use crate::wire::{Reply, framed, grpc_frame, grpc_frame_raw, h2_connect_tapped, start, start_with};

const GET_FEATURE: &str = "/routeguide.RouteGuide/GetFeature";
const LIST_FEATURES: &str = "/routeguide.RouteGuide/ListFeatures";
const RECORD_ROUTE: &str = "/routeguide.RouteGuide/RecordRoute";
const ROUTE_CHAT: &str = "/routeguide.RouteGuide/RouteChat";

/// The response frames of one stream, for a person: `HEADERS+END_STREAM`, `DATA(empty)`, ...
/// A RST_STREAM(NO_ERROR) after the response is left out: it only tells a client still
/// sending to stop, and comes or not depending on whether its END_STREAM arrived first.
fn shape(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| !(f.kind() == kind::RST_STREAM && f.error_code() == Some(0)))
        .filter(|f| f.kind() != kind::WINDOW_UPDATE)
        .map(|f| {
            let mut text = kind::name(f.kind());
            if f.kind() == kind::DATA && f.payload().is_empty() {
                text.push_str("(empty)");
            }
            if f.has(flag::END_STREAM) {
                text.push_str("+END_STREAM");
            }
            text
        })
        .collect()
}

/// The frames of `stream` once its response is over (the tap sees them before `h2` does).
fn frames_of(log: &TapLog, stream: u32) -> Vec<String> {
    assert_eq!(log.error(), None, "the server's bytes are HTTP/2");
    shape(&log.stream(stream))
}

async fn call(
    client: &mut SendRequest<Bytes>,
    log: &TapLog,
    path: &str,
    messages: &[Bytes],
) -> (Reply, Vec<String>) {
    let mut call = start(client, path).await;
    let stream = call.stream_id();
    // The server may answer (and reset the stream) before it has read everything: fine.
    let _ = call.send_all(messages).await;
    let reply = call.finish().await.expect("a response");
    (reply, frames_of(log, stream))
}

fn trailers_only() -> Vec<String> {
    vec!["HEADERS+END_STREAM".to_owned()]
}

fn point(latitude: i32, longitude: i32) -> Point {
    Point { latitude, longitude }
}

/// Every early error of the server is Trailers-Only, and a call with a message is not.
#[tokio::test]
async fn early_errors_are_one_headers_frame_with_end_stream() {
    const OK: i32 = 0;
    const RESOURCE_EXHAUSTED: i32 = 8;
    const UNIMPLEMENTED: i32 = 12;
    const INTERNAL: i32 = 13;
    let server = Server::start("all");
    let (mut client, log) = h2_connect_tapped(&server.addr).await;
    let good = framed(&point(1, 2));
    let nowhere = framed(&Rectangle { lo: Some(point(1, 1)), hi: Some(point(1, 1)) });
    /// (case, path, request messages, status code, response frames)
    type Case<'a> = (&'a str, &'a str, Vec<Bytes>, i32, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "unknown method",
            "/routeguide.RouteGuide/GetFeatures",
            vec![good.clone()],
            UNIMPLEMENTED,
            trailers_only(),
        ),
        (
            "unknown service",
            "/routeguide.RouteGuider/GetFeature",
            vec![good.clone()],
            UNIMPLEMENTED,
            trailers_only(),
        ),
        ("malformed request", GET_FEATURE, vec![grpc_frame(&[0xff, 0xff])], INTERNAL, trailers_only()),
        (
            "over the size limit",
            GET_FEATURE,
            vec![grpc_frame_raw(0, 5 << 20, &[])],
            RESOURCE_EXHAUSTED,
            trailers_only(),
        ),
        ("a stream with no message", LIST_FEATURES, vec![nowhere], OK, trailers_only()),
        (
            "a unary answer, for contrast",
            GET_FEATURE,
            vec![good],
            OK,
            vec!["HEADERS".to_owned(), "DATA".to_owned(), "HEADERS+END_STREAM".to_owned()],
        ),
    ];
    for (case, path, messages, code, want) in cases {
        let (reply, frames) = call(&mut client, &log, path, &messages).await;
        assert_eq!(reply.code, Some(code), "{case}: {reply:?}");
        assert_eq!(frames, want, "{case}: {reply:?}");
    }
}

/// The caps and the deadline answer Trailers-Only too, through every layer that wraps bodies.
#[tokio::test]
async fn caps_and_deadlines_are_trailers_only() {
    const RESOURCE_EXHAUSTED: i32 = 8;
    const DEADLINE_EXCEEDED: i32 = 4;

    // --max-calls 1 with one RouteChat open: the next call is refused at once.
    let server = Server::start_with(&["all", "--max-calls", "1"]);
    let (mut client, log) = h2_connect_tapped(&server.addr).await;
    let mut chat = start(&mut client, ROUTE_CHAT).await;
    let note = RouteNote { location: Some(point(3, 3)), message: "held".to_owned() };
    chat.send(framed(&note), false).await.unwrap();
    // The chat holds the only slot once the server has answered its headers.
    chat.headers().await.unwrap();
    let (reply, frames) = call(&mut client, &log, GET_FEATURE, &[framed(&point(1, 2))]).await;
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
    assert!(reply.message.contains("--max-calls"), "{reply:?}");
    assert_eq!(frames, trailers_only(), "{reply:?}");
    chat.cancel();

    // --max-inflight-bytes 64: a 100-byte request is over the budget.
    let server = Server::start_with(&["all", "--max-inflight-bytes", "64"]);
    let (mut client, log) = h2_connect_tapped(&server.addr).await;
    let big = Point { latitude: 1, longitude: 2 }.encode_to_vec();
    let padded = [big.as_slice(), &[0x7a, 90], &[b'.'; 90]].concat();
    let (reply, frames) = call(&mut client, &log, GET_FEATURE, &[grpc_frame(&padded)]).await;
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
    assert!(reply.message.contains("--max-inflight-bytes"), "{reply:?}");
    assert_eq!(frames, trailers_only(), "{reply:?}");

    // A RecordRoute left open past its 100 ms grpc-timeout: DEADLINE_EXCEEDED, Trailers-Only.
    let server = Server::start("all");
    let (mut client, log) = h2_connect_tapped(&server.addr).await;
    let mut route = start_with(&mut client, RECORD_ROUTE, &[("grpc-timeout", "100m")]).await;
    let stream = route.stream_id();
    route.send(framed(&point(1, 2)), false).await.unwrap();
    let reply = route.finish().await.expect("a response");
    assert_eq!(reply.code, Some(DEADLINE_EXCEEDED), "{reply:?}");
    assert_eq!(frames_of(&log, stream), trailers_only(), "{reply:?}");
}
