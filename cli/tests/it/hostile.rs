//! The real server (`faultline serve`, tonic over loopback TCP) against broken and hostile
//! peers: every hostile call or connection fails alone, with the status or GOAWAY code the
//! protocol prescribes, while a bystander keeps being served; and a RecordRoute that completes
//! has counted every point exactly once.

use std::io::Read;
use std::process::ExitStatus;
use std::time::Instant;

use bytes::Bytes;
use faultline_proto::routeguide::{Feature, Point, RouteNote, RouteSummary};
use faultline_services::FeatureDb;
use faultline_services::geo::RouteAccumulator;
use h2::client::SendRequest;
use prost::Message;
use tokio::io::AsyncWriteExt;

use crate::support::Server;
use crate::wire::{
    PATIENCE, Reply, call, closed, flag, frame, frame_raw, framed, goaway_code, grpc_frame, grpc_frame_raw,
    grpc_headers, h2_connect, kind, raw_h2, read_frame, start, start_request, start_with, within,
};

const GET_FEATURE: &str = "/routeguide.RouteGuide/GetFeature";
const LIST_FEATURES: &str = "/routeguide.RouteGuide/ListFeatures";
const RECORD_ROUTE: &str = "/routeguide.RouteGuide/RecordRoute";
const ROUTE_CHAT: &str = "/routeguide.RouteGuide/RouteChat";

// gRPC status codes as `grpc-status` carries them.
const OK: i32 = tonic::Code::Ok as i32;
const RESOURCE_EXHAUSTED: i32 = tonic::Code::ResourceExhausted as i32;
const UNIMPLEMENTED: i32 = tonic::Code::Unimplemented as i32;
const INTERNAL: i32 = tonic::Code::Internal as i32;

// HTTP/2 error codes (RFC 9113 §7).
const PROTOCOL_ERROR: h2::Reason = h2::Reason::PROTOCOL_ERROR;
const FRAME_SIZE_ERROR: h2::Reason = h2::Reason::FRAME_SIZE_ERROR;
const ENHANCE_YOUR_CALM: h2::Reason = h2::Reason::ENHANCE_YOUR_CALM;

fn point(latitude: i32, longitude: i32) -> Point {
    Point { latitude, longitude }
}

/// A bystander's call that must keep working whatever else the server is being fed: the
/// tutorial's first GetFeature.
async fn assert_served(client: &mut SendRequest<Bytes>, context: &str) {
    let reply = call(client, GET_FEATURE, &[framed(&point(409146138, -746188906))]).await;
    assert_eq!(reply.code, Some(OK), "{context}: bystander call failed: {reply:?}");
    let feature = Feature::decode(reply.messages[0].clone()).unwrap();
    assert_eq!(feature.name, "Berkshire Valley Management Area Trail, Jefferson, NJ, USA", "{context}");
}

/// `n` distinct points, every third one a database location, so that a lost or repeated
/// point changes the count, the feature count or the distance.
fn route(n: usize, salt: i32) -> Vec<Point> {
    let db = FeatureDb::reference();
    let features = db.features();
    (0..n)
        .map(|i| match i % 3 {
            0 => features[(i / 3 + salt as usize) % features.len()].location.unwrap(),
            _ => point(400_000_000 + salt * 10_000 + i as i32, -740_000_000 - i as i32),
        })
        .collect()
}

/// The summary of `points` with elapsed time left out (wall time is not ours to assert).
fn expected_summary(points: &[Point]) -> RouteSummary {
    let db = FeatureDb::reference();
    let mut route = RouteAccumulator::new(None);
    for p in points {
        route.push(&db, *p);
    }
    route.finish(0)
}

fn assert_exact_summary(reply: &Reply, points: &[Point], context: &str) {
    assert_eq!(reply.code, Some(OK), "{context}: {reply:?}");
    let mut got = RouteSummary::decode(reply.messages[0].clone()).unwrap();
    got.elapsed_time = 0;
    assert_eq!(got, expected_summary(points), "{context}: a point was lost or counted twice");
}

async fn record_route(client: &mut SendRequest<Bytes>, points: &[Point]) -> Reply {
    let frames: Vec<Bytes> = points.iter().map(framed).collect();
    call(client, RECORD_ROUTE, &frames).await
}

fn note(latitude: i32, longitude: i32, message: &str) -> RouteNote {
    RouteNote { location: Some(point(latitude, longitude)), message: message.into() }
}

#[tokio::test]
async fn malformed_grpc_bodies_fail_only_their_own_call() {
    let server = Server::start("all");
    let mut client = h2_connect(&server.addr).await;
    let good = framed(&point(1, 2));
    let not_protobuf = grpc_frame(&[0xff, 0xff, 0xff]); // field 31, wire type 7: no such type
    let over_limit = (4 << 20) + 1;
    // (case, path, request frames, grpc-status, text in grpc-message)
    let cases: Vec<(&str, &str, Vec<Bytes>, i32, &str)> = vec![
        (
            "not protobuf",
            GET_FEATURE,
            vec![not_protobuf.clone()],
            INTERNAL,
            "failed to decode Protobuf message",
        ),
        (
            "not protobuf, mid-RecordRoute",
            RECORD_ROUTE,
            vec![good.clone(), good.clone(), not_protobuf.clone()],
            INTERNAL,
            "failed to decode",
        ),
        (
            "not protobuf, mid-RouteChat",
            ROUTE_CHAT,
            vec![framed(&note(0, 0, "a")), not_protobuf.clone()],
            INTERNAL,
            "failed to decode",
        ),
        ("not protobuf, ListFeatures", LIST_FEATURES, vec![not_protobuf], INTERNAL, "failed to decode"),
        (
            "message cut short",
            GET_FEATURE,
            vec![grpc_frame_raw(0, 10, &[8, 1, 16])],
            INTERNAL,
            "Unexpected EOF",
        ),
        ("header cut short", GET_FEATURE, vec![Bytes::from_static(&[0, 0, 0])], INTERNAL, "Unexpected EOF"),
        (
            "compressed flag, no grpc-encoding",
            GET_FEATURE,
            vec![grpc_frame_raw(1, 2, &[8, 1])],
            INTERNAL,
            "compressed-flag but no grpc-encoding",
        ),
        (
            "compression flag 2",
            GET_FEATURE,
            vec![grpc_frame_raw(2, 2, &[8, 1])],
            INTERNAL,
            "invalid compression flag",
        ),
        // The server answers from the length prefix alone, before any of the body arrives, with
        // RESOURCE_EXHAUSTED as gRPC's spec and grpcio do (tonic's own limit says OUT_OF_RANGE).
        (
            "declared over the limit",
            GET_FEATURE,
            vec![grpc_frame_raw(0, over_limit, &[])],
            RESOURCE_EXHAUSTED,
            "larger than max",
        ),
        (
            "declared over the limit, mid-RecordRoute",
            RECORD_ROUTE,
            vec![good.clone(), grpc_frame_raw(0, u32::MAX, &[])],
            RESOURCE_EXHAUSTED,
            "larger than max",
        ),
        ("no message for a unary call", GET_FEATURE, vec![], INTERNAL, "Missing request message"),
        ("unknown method", "/routeguide.RouteGuide/GetFeatures", vec![good.clone()], UNIMPLEMENTED, ""),
        ("unknown service", "/routeguide.RouteGuider/GetFeature", vec![good.clone()], UNIMPLEMENTED, ""),
        ("no service at all", "/", vec![good.clone()], UNIMPLEMENTED, ""),
    ];
    for (case, path, frames, code, message) in cases {
        let reply = call(&mut client, path, &frames).await;
        assert_eq!(reply.http_status, 200, "{case}: {reply:?}");
        assert_eq!(reply.code, Some(code), "{case}: {reply:?}");
        assert!(reply.message.contains(message), "{case}: expected {message:?} in {reply:?}");
        // Each failure is confined to its call: the same connection still serves.
        assert_served(&mut client, case).await;
    }
}

#[tokio::test]
async fn requests_that_are_not_grpc_are_answered_not_dropped() {
    let server = Server::start("all");
    let mut client = h2_connect(&server.addr).await;
    let good = framed(&point(1, 2));

    // An unsupported compression: UNIMPLEMENTED, as gRPC's compression spec prescribes.
    let mut gzip = start_with(&mut client, GET_FEATURE, &[("grpc-encoding", "gzip")]).await;
    let _ = gzip.send_all(&[grpc_frame_raw(1, 2, &[8, 1])]).await;
    let reply = gzip.finish().await.unwrap();
    assert_eq!(reply.code, Some(UNIMPLEMENTED), "{reply:?}");
    assert!(reply.message.contains("gzip"), "{reply:?}");

    // tonic routes on the path alone: the method and content-type are not checked, so a GET
    // or a text/plain body is served like any gRPC call (gRPC's spec would have HTTP 415 for
    // the content-type). Recorded here so a change in tonic shows up.
    for (method, content_type) in [("GET", "application/grpc"), ("POST", "text/plain")] {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost{GET_FEATURE}"))
            .header("content-type", content_type)
            .body(())
            .unwrap();
        let mut odd = start_request(&mut client, request).await;
        let _ = odd.send_all(std::slice::from_ref(&good)).await;
        let reply = odd.finish().await.unwrap();
        assert_eq!((reply.http_status, reply.code), (200, Some(OK)), "{method} {content_type}: {reply:?}");
    }

    // Two messages for a unary method.
    let reply = call(&mut client, GET_FEATURE, &[good.clone(), good]).await;
    assert_eq!(reply.code, Some(OK), "{reply:?}");
    assert_eq!(reply.messages.len(), 1, "{reply:?}");
    assert_served(&mut client, "after odd requests").await;
}

#[tokio::test]
async fn a_message_at_the_size_limit_is_served_and_one_byte_over_is_refused() {
    let limit: usize = 4 << 20;
    let server = Server::start("all");
    let mut client = h2_connect(&server.addr).await;
    // A Point padded with an unknown field (number 15, length-delimited), which protobuf
    // decoders skip: tag 0x7a, a 4-byte varint length, the padding.
    let padded = |total: usize| {
        let pad = total - 1 - 4;
        let mut bytes = vec![0x7a];
        let mut n = pad;
        for i in 0..4 {
            // Always 4 bytes, zero-padded if need be (decoders accept that).
            let low = (n & 0x7f) as u8;
            n >>= 7;
            bytes.push(if i < 3 { low | 0x80 } else { low });
        }
        assert_eq!(n, 0);
        bytes.resize(total, b'.');
        bytes
    };
    let at_limit = padded(limit);
    assert_eq!(Point::decode(at_limit.as_slice()).unwrap(), point(0, 0), "the padding is skippable");
    let reply = call(&mut client, GET_FEATURE, &[grpc_frame(&at_limit)]).await;
    assert_eq!(reply.code, Some(OK), "{:?}", (reply.code, &reply.message));
    assert_eq!(Feature::decode(reply.messages[0].clone()).unwrap().location, Some(point(0, 0)));

    let reply = call(&mut client, GET_FEATURE, &[grpc_frame(&padded(limit + 1))]).await;
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{:?}", (reply.code, &reply.message));
    assert!(reply.message.contains(&format!("larger than max ({} vs. {limit})", limit + 1)), "{reply:?}");
    assert_served(&mut client, "after an oversize message").await;

    // The limit is a flag.
    let small = Server::start_with(&["route-guide", "--max-message-size", "16"]);
    let mut client = h2_connect(&small.addr).await;
    let reply = call(&mut client, GET_FEATURE, &[grpc_frame(&padded(17))]).await;
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
    let reply = call(&mut client, GET_FEATURE, &[grpc_frame(&padded(16))]).await;
    assert_eq!(reply.code, Some(OK), "{reply:?}");
}

/// A header block that never ends: HEADERS, then CONTINUATION frames with ever more fields,
/// 64 KiB in all, past any header list size limit (the 2024 "CONTINUATION flood").
fn continuation_flood() -> Vec<u8> {
    let name = "x-padding";
    let value = "v".repeat(100);
    let fields: Vec<(&str, &str)> = (0..36).map(|_| (name, value.as_str())).collect();
    let chunk = crate::wire::hpack(&fields);
    let mut bytes = frame(kind::HEADERS, 0, 1, &grpc_headers(GET_FEATURE));
    for _ in 0..16 {
        bytes.extend(frame(kind::CONTINUATION, 0, 1, &chunk));
    }
    bytes
}

#[tokio::test]
async fn malformed_http2_frames_close_only_their_connection() {
    let server = Server::start("all");
    let mut bystander = h2_connect(&server.addr).await;
    let headers = grpc_headers(GET_FEATURE);
    // (case, bytes after the preface and SETTINGS, GOAWAY code). The codes are what the `h2`
    // crate sends: where RFC 9113 asks for FRAME_SIZE_ERROR (§6.5, §6.7) or COMPRESSION_ERROR
    // (§4.3) it says PROTOCOL_ERROR, which closes the connection all the same.
    let cases: Vec<(&str, Vec<u8>, h2::Reason)> = vec![
        (
            "frame longer than SETTINGS_MAX_FRAME_SIZE",
            frame_raw(1 << 20, kind::DATA, 0, 1, &[]),
            FRAME_SIZE_ERROR,
        ),
        ("SETTINGS of 5 bytes", frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0]), PROTOCOL_ERROR),
        ("PING of 7 bytes", frame(kind::PING, 0, 0, &[0; 7]), PROTOCOL_ERROR),
        ("HEADERS on stream 0", frame(kind::HEADERS, flag::END_HEADERS, 0, &headers), PROTOCOL_ERROR),
        ("HEADERS on an even stream", frame(kind::HEADERS, flag::END_HEADERS, 2, &headers), PROTOCOL_ERROR),
        ("HPACK garbage", frame(kind::HEADERS, flag::END_HEADERS, 1, &[0xff; 8]), PROTOCOL_ERROR),
        ("DATA on an idle stream", frame(kind::DATA, 0, 1, &[0; 5]), PROTOCOL_ERROR),
        (
            "CONTINUATION without HEADERS",
            frame(kind::CONTINUATION, flag::END_HEADERS, 1, &headers),
            PROTOCOL_ERROR,
        ),
        ("WINDOW_UPDATE of 0", frame(kind::WINDOW_UPDATE, 0, 0, &[0; 4]), PROTOCOL_ERROR),
        ("CONTINUATION flood", continuation_flood(), ENHANCE_YOUR_CALM),
        ("RST_STREAM on stream 0", frame(kind::RST_STREAM, 0, 0, &[0, 0, 0, 8]), PROTOCOL_ERROR),
        (
            "HEADERS interrupted by another frame",
            [frame(kind::HEADERS, 0, 1, &headers), frame(kind::PING, 0, 0, &[0; 8])].concat(),
            PROTOCOL_ERROR,
        ),
    ];
    for (case, bytes, code) in cases {
        let mut tcp = raw_h2(&server.addr).await;
        // The server may hang up before it has read everything: the GOAWAY is sent anyway.
        let _ = tcp.write_all(&bytes).await;
        assert_eq!(goaway_code(&mut tcp).await.map(h2::Reason::from), Some(code), "{case}");
        closed(&mut tcp).await;
        assert_served(&mut bystander, case).await;
    }

    // Unknown frame types must be ignored (RFC 9113 §4.1): the connection carries on, and
    // answers a PING sent after one.
    let mut tcp = raw_h2(&server.addr).await;
    tcp.write_all(&[frame(0xfa, 0xff, 1, b"what is this"), frame(kind::PING, 0, 0, b"12345678")].concat())
        .await
        .unwrap();
    let ack = within("PING ack", async {
        loop {
            let frame = read_frame(&mut tcp).await.expect("connection kept open");
            if frame.kind == kind::PING && frame.flags & flag::ACK != 0 {
                return frame.payload;
            }
        }
    })
    .await;
    assert_eq!(ack, b"12345678");
}

#[tokio::test]
async fn peers_that_do_not_speak_http2_are_disconnected() {
    let server = Server::start("all");
    let mut bystander = h2_connect(&server.addr).await;
    let tls_client_hello = [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03];
    let cases: Vec<(&str, &[u8])> = vec![
        ("HTTP/1.1", b"POST /routeguide.RouteGuide/GetFeature HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("TLS ClientHello", &tls_client_hello),
        ("a wrong preface", b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"),
        ("binary noise", &[0u8; 64]),
    ];
    for (case, bytes) in cases {
        let mut tcp = within("connect", tokio::net::TcpStream::connect(&server.addr)).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        closed(&mut tcp).await;
        assert_served(&mut bystander, case).await;
    }
}

#[tokio::test]
async fn clients_that_vanish_mid_stream_leave_completed_routes_exact() {
    let server = Server::start("all");
    let mut bystander = h2_connect(&server.addr).await;

    // Calls abandoned each way a client can vanish: RST_STREAM(CANCEL) on a connection
    // that lives on, and a TCP connection dropped with streams open, mid-RecordRoute and
    // mid-RouteChat.
    let mut vanishing = raw_h2(&server.addr).await;
    for (stream, path) in [(1, RECORD_ROUTE), (3, ROUTE_CHAT), (5, RECORD_ROUTE), (7, ROUTE_CHAT)] {
        let mut call = start(&mut bystander, path).await;
        let message = if path == RECORD_ROUTE { framed(&point(1, 1)) } else { framed(&note(0, 0, "lost")) };
        call.send(message.clone(), false).await.unwrap();
        call.send(message.clone(), false).await.unwrap();
        call.cancel();
        let raw = [
            frame(kind::HEADERS, flag::END_HEADERS, stream, &grpc_headers(path)),
            frame(kind::DATA, 0, stream, &message),
            frame(kind::DATA, 0, stream, &message),
        ];
        vanishing.write_all(&raw.concat()).await.unwrap();
    }
    // A chat that the server has certainly taken in (it replied), then abandoned.
    let mut chat = start(&mut bystander, ROUTE_CHAT).await;
    chat.send(framed(&note(0, 0, "x")), false).await.unwrap();
    chat.send(framed(&note(0, 0, "y")), false).await.unwrap();
    assert!(chat.next_message().await.unwrap().is_some());
    chat.cancel();
    drop(vanishing);

    // Meanwhile, and after: routes on the same connection and on fresh ones are exact.
    let mut calls = Vec::new();
    for salt in 0..16 {
        let points = route(30 + salt as usize, salt);
        let mut call = start(&mut bystander, RECORD_ROUTE).await;
        for p in &points[..10] {
            call.send(framed(p), false).await.unwrap();
        }
        calls.push((points, call));
    }
    let mut fresh = h2_connect(&server.addr).await;
    for (points, mut call) in calls {
        for p in &points[10..] {
            call.send(framed(p), false).await.unwrap();
        }
        call.send(Bytes::new(), true).await.unwrap();
        assert_exact_summary(&call.finish().await.unwrap(), &points, "interleaved RecordRoute");
        let points = route(12, 99);
        assert_exact_summary(&record_route(&mut fresh, &points).await, &points, "fresh RecordRoute");
    }

    // A new chat at the abandoned chats' location sees none of their notes.
    let notes =
        [note(0, 0, "First message"), note(0, 1, "Second"), note(1, 0, "Third"), note(0, 0, "Fourth")];
    let frames: Vec<Bytes> = notes.iter().map(framed).collect();
    let reply = call(&mut fresh, ROUTE_CHAT, &frames).await;
    assert_eq!(reply.code, Some(OK), "{reply:?}");
    let replies: Vec<RouteNote> =
        reply.messages.iter().map(|m| RouteNote::decode(m.clone()).unwrap()).collect();
    assert_eq!(replies, vec![notes[0].clone()]);
}

#[tokio::test]
async fn many_routes_on_one_connection_with_every_other_one_cancelled_are_exact() {
    let server = Server::start("all");
    let mut client = h2_connect(&server.addr).await;
    let mut calls = Vec::new();
    for i in 0..200 {
        let points = route(6 + i % 7, i as i32);
        let mut call = start(&mut client, RECORD_ROUTE).await;
        for p in &points[..3] {
            call.send(framed(p), false).await.unwrap();
        }
        calls.push((i, points, call));
    }
    let mut completed = 0;
    for (i, points, mut call) in calls {
        if i % 2 == 1 {
            call.cancel();
            continue;
        }
        for p in &points[3..] {
            call.send(framed(p), false).await.unwrap();
        }
        call.send(Bytes::new(), true).await.unwrap();
        assert_exact_summary(&call.finish().await.unwrap(), &points, &format!("route {i}"));
        completed += 1;
    }
    assert_eq!(completed, 100);
}

#[tokio::test]
async fn calls_past_the_server_wide_cap_fail_at_once_and_slots_come_back() {
    let server = Server::start_with(&["all", "--max-calls", "3"]);
    let mut client = h2_connect(&server.addr).await;
    let mut chats = Vec::new();
    for i in 0..3 {
        let mut chat = start(&mut client, ROUTE_CHAT).await;
        chat.send(framed(&note(i, 0, "a")), false).await.unwrap();
        chat.send(framed(&note(i, 0, "b")), false).await.unwrap();
        assert!(chat.next_message().await.unwrap().is_some(), "chat {i} is running");
        chats.push(chat);
    }
    let reply = call(&mut client, GET_FEATURE, &[framed(&point(0, 0))]).await;
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
    assert!(reply.message.contains("--max-calls"), "{reply:?}");

    // End one chat; its slot frees once the server has dropped the call: retry until then.
    let mut chat = chats.pop().unwrap();
    chat.send(Bytes::new(), true).await.unwrap();
    assert_eq!(chat.finish().await.unwrap().code, Some(OK));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = call(&mut client, GET_FEATURE, &[framed(&point(0, 0))]).await;
        if reply.code == Some(OK) {
            break;
        }
        assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
        assert!(Instant::now() < deadline, "the call slot did not come back within {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_chat_that_never_ends_cannot_hold_more_than_the_memory_budget() {
    let budget = 200_000;
    let server = Server::start_with(&["all", "--max-inflight-bytes", &budget.to_string()]);
    let mut bystander = h2_connect(&server.addr).await;
    let mut hog_connection = h2_connect(&server.addr).await;
    // Notes of 10 kB, each at a new location: no replies, and the server keeps them all.
    let big = "n".repeat(10_000);
    let mut hog = start(&mut hog_connection, ROUTE_CHAT).await;
    let mut sent = 0;
    while hog.send(framed(&note(sent, 0, &big)), false).await.is_ok() {
        sent += 1;
        // Far more than the budget, yet bounded: the loop ends either way.
        assert!(sent < 1_000, "the server took {sent} notes of 10 kB within a {budget}-byte budget");
    }
    let reply = hog.finish().await.unwrap();
    assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
    assert!(reply.message.contains("--max-inflight-bytes"), "{reply:?}");
    assert!(reply.messages.is_empty(), "{reply:?}");
    assert_served(&mut bystander, "with the budget spent").await;

    // The budget comes back once the call is gone (in the server's own time: retry).
    let notes: Vec<Bytes> = (0..15).map(|i| framed(&note(i, 1, &big))).collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = call(&mut bystander, ROUTE_CHAT, &notes).await;
        if reply.code == Some(OK) {
            break;
        }
        assert_eq!(reply.code, Some(RESOURCE_EXHAUSTED), "{reply:?}");
        assert!(Instant::now() < deadline, "the budget did not come back within {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn stalled_and_silent_connections_are_closed_and_never_block_others() {
    let server = Server::start_with(&[
        "all",
        "--handshake-timeout",
        "1",
        "--keepalive-interval",
        "1",
        "--keepalive-timeout",
        "1",
    ]);
    let mut bystander = h2_connect(&server.addr).await;
    let mut stalled = Vec::new();
    for i in 0..300 {
        let mut tcp = within("connect", tokio::net::TcpStream::connect(&server.addr)).await.unwrap();
        match i % 3 {
            0 => {}                                                         // says nothing
            1 => tcp.write_all(&crate::wire::PREFACE[..10]).await.unwrap(), // half a preface
            _ => {
                // A full handshake, then a HEADERS frame whose CONTINUATION never comes,
                // and no answer to the server's keepalive PINGs.
                tcp.write_all(crate::wire::PREFACE).await.unwrap();
                tcp.write_all(&frame(kind::SETTINGS, 0, 0, &[])).await.unwrap();
                tcp.write_all(&frame(kind::HEADERS, 0, 1, &grpc_headers(GET_FEATURE))).await.unwrap();
            }
        }
        stalled.push(tcp);
    }
    assert_served(&mut bystander, "with 300 stalled connections open").await;
    for tcp in &mut stalled {
        closed(tcp).await;
    }
    // The bystander answers the server's PINGs (h2 does), so it was never in danger.
    assert_served(&mut bystander, "after the stalled connections were closed").await;
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_at_once_and_slots_come_back() {
    let server = Server::start_with(&["all", "--max-connections", "3"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut client = h2_connect(&server.addr).await;
        assert_served(&mut client, "under the cap").await;
        held.push(client);
    }
    let mut over = within("connect", tokio::net::TcpStream::connect(&server.addr)).await.unwrap();
    let _ = over.write_all(crate::wire::PREFACE).await; // may already be closed
    closed(&mut over).await;
    for client in &mut held {
        assert_served(client, "the held connections are unaffected").await;
    }

    // Close one held connection; its slot frees as soon as the server sees it go, which it
    // does in its own time: retry until a new connection gets through.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let tcp = within("connect", tokio::net::TcpStream::connect(&server.addr)).await.unwrap();
        if let Ok(Ok((client, connection))) = tokio::time::timeout(PATIENCE, h2::client::handshake(tcp)).await
        {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut client = client;
            if let Ok(Ok(reply)) = tokio::time::timeout(PATIENCE, async {
                let mut call = start(&mut client, GET_FEATURE).await;
                call.send_all(&[framed(&point(0, 0))]).await?;
                call.finish().await
            })
            .await
                && reply.code == Some(OK)
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no connection slot came back within {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rapid_reset_floods_do_not_starve_other_connections() {
    let server = Server::start("all");
    let mut bystander = h2_connect(&server.addr).await;
    // CVE-2023-44487: open streams and reset them at once, as fast as the socket takes them.
    let mut tcp = raw_h2(&server.addr).await;
    let headers = grpc_headers(LIST_FEATURES);
    let mut flood = Vec::new();
    for stream in (1..20_000u32).step_by(2) {
        flood.extend(frame(kind::HEADERS, flag::END_HEADERS, stream, &headers));
        flood.extend(frame(kind::RST_STREAM, 0, stream, &[0, 0, 0, 8]));
    }
    // The server may hang up partway (h2 answers a reset flood with GOAWAY): that is fine.
    let _ = within("flood", tcp.write_all(&flood)).await;
    assert_served(&mut bystander, "during a rapid-reset flood").await;
    closed(&mut tcp).await;
    assert_served(&mut bystander, "after a rapid-reset flood").await;
}

/// Sends SIGTERM to the server.
#[cfg(unix)]
fn terminate(server: &Server) {
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
}

/// Waits (bounded) for the server to exit; returns its status and what it printed on stderr.
async fn exit_of(server: &mut Server) -> (ExitStatus, String) {
    let status = within("server exit", async {
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut stderr = String::new();
    server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stderr)
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish_then_exits_0() {
    let mut server = Server::start("all");
    let mut client = h2_connect(&server.addr).await;
    let points = route(20, 7);
    let mut recording = start(&mut client, RECORD_ROUTE).await;
    for p in &points[..10] {
        recording.send(framed(p), false).await.unwrap();
    }
    // A reply proves the server has read this connection up to here, RecordRoute included.
    let mut chat = start(&mut client, ROUTE_CHAT).await;
    chat.send(framed(&note(5, 5, "a")), false).await.unwrap();
    chat.send(framed(&note(5, 5, "b")), false).await.unwrap();
    assert_eq!(RouteNote::decode(chat.next_message().await.unwrap().unwrap()).unwrap(), note(5, 5, "a"));

    terminate(&server);
    // Both calls go on to the end, with correct results.
    chat.send(framed(&note(5, 5, "c")), true).await.unwrap();
    let chat = chat.finish().await.unwrap();
    assert_eq!(chat.code, Some(OK), "{chat:?}");
    let replies: Vec<RouteNote> =
        chat.messages.iter().map(|m| RouteNote::decode(m.clone()).unwrap()).collect();
    assert_eq!(replies, vec![note(5, 5, "a"), note(5, 5, "b")]);
    for p in &points[10..] {
        recording.send(framed(p), false).await.unwrap();
    }
    recording.send(Bytes::new(), true).await.unwrap();
    assert_exact_summary(&recording.finish().await.unwrap(), &points, "RecordRoute across SIGTERM");

    let (status, stderr) = exit_of(&mut server).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_cuts_off_calls_that_outlive_the_grace_period_with_unavailable() {
    use faultline_proto::routeguide::route_guide_client::RouteGuideClient;

    let mut server = Server::start_with(&["all", "--shutdown-grace", "0.5"]);
    let channel = within(
        "connect",
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr)).unwrap().connect(),
    )
    .await
    .unwrap();
    let mut client = RouteGuideClient::new(channel);
    let (notes, outgoing) = tokio::sync::mpsc::channel(4);
    let mut replies =
        within("RouteChat", client.route_chat(tokio_stream::wrappers::ReceiverStream::new(outgoing)))
            .await
            .unwrap()
            .into_inner();
    notes.send(note(5, 5, "a")).await.unwrap();
    notes.send(note(5, 5, "b")).await.unwrap();
    assert_eq!(within("first reply", replies.message()).await.unwrap(), Some(note(5, 5, "a")));

    terminate(&server);
    // The chat never ends by itself; the server gives up on it after the grace period.
    let (status, stderr) = exit_of(&mut server).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 call(s) still running after the grace period were cut off"), "{stderr}");
    let ended = within("the chat to end", replies.message()).await;
    let status = ended.expect_err("a cut-off call fails");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    // So does a new call: nothing listens any more.
    let status = within("a call after exit", client.get_feature(point(0, 0))).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}
