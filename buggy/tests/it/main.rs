//! The buggy server in process, tonic's client against it, and the comparison with grpcio's
//! committed record: no Python needed.

use faultline_buggy::compare::{self, DIFFERENCES, GRPCIO_RECORD, Verdict};
use faultline_buggy::{Case, Method, Outcome, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Runs `body` with a buggy server (default case `clean`) on a free port.
async fn with_server<F, Fut, T>(body: F) -> T
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(listener, Case::Clean, async {
        let _ = stopped.await;
    }));
    let out = body(addr).await;
    stop.send(()).unwrap();
    served.await.unwrap();
    out
}

fn record() -> Vec<Outcome> {
    compare::parse_record(GRPCIO_RECORD).unwrap()
}

fn differences() -> Vec<compare::Difference> {
    compare::parse_differences(DIFFERENCES).unwrap()
}

#[tokio::test]
async fn tonic_differs_from_grpcio_only_where_listed_and_every_listing_is_needed() {
    let tonic = with_server(|addr| async move { faultline_buggy::probe_all(&addr).await.unwrap() }).await;
    assert_eq!(tonic.len(), Case::ALL.len() * Method::ALL.len());
    let comparison = faultline_buggy::compare(&record(), &tonic, &differences());
    assert!(comparison.passed(), "{}", comparison.render());
    // The control is clean on both stacks, with the tutorial's answers.
    let clean = &comparison.rows[..2];
    assert!(clean.iter().all(|r| r.verdict == Verdict::Same && r.tonic.code == "OK"));
    assert_eq!((clean[0].tonic.received, clean[1].tonic.received), (1, 100));
}

#[test]
fn the_record_covers_every_case_and_method_once() {
    let record = record();
    let keys: std::collections::BTreeSet<_> =
        record.iter().map(|o| (o.case.clone(), o.method.clone())).collect();
    assert_eq!(keys.len(), record.len());
    assert_eq!(record.len(), Case::ALL.len() * Method::ALL.len());
}

/// A comparison that could not fail would prove nothing: each of these is caught.
#[tokio::test]
async fn a_changed_record_a_client_that_ignores_an_error_and_a_stale_entry_are_caught() {
    let tonic = with_server(|addr| async move { faultline_buggy::probe_all(&addr).await.unwrap() }).await;
    let differences = differences();

    // grpcio recorded as if RST_STREAM after headers were OK.
    let mut changed = record();
    let row = changed.iter_mut().find(|o| o.case == "rst-after-headers" && o.method == "GetFeature").unwrap();
    row.code = "OK".to_owned();
    let comparison = faultline_buggy::compare(&changed, &tonic, &differences);
    assert!(!comparison.passed());
    let bad: Vec<_> = comparison.rows.iter().filter(|r| matches!(r.verdict, Verdict::Differs(_))).collect();
    assert_eq!(bad.len(), 1, "{}", comparison.render());
    assert_eq!((bad[0].case, bad[0].method), (Case::RstAfterHeaders, Method::GetFeature));

    // A client that ignores a missing grpc-status (reports OK, as grpcio and the spec do not).
    let mut ignoring = tonic.clone();
    let row =
        ignoring.iter_mut().find(|o| o.case == "missing-grpc-status" && o.method == "ListFeatures").unwrap();
    row.code = "OK".to_owned();
    let comparison = faultline_buggy::compare(&record(), &ignoring, &differences);
    assert!(!comparison.passed());
    assert!(comparison.render().contains("code: grpcio UNKNOWN, tonic OK, spec UNKNOWN or INTERNAL"));

    // A client that loses messages where grpcio and tonic deliver them all.
    let mut losing = tonic.clone();
    let row =
        losing.iter_mut().find(|o| o.case == "missing-grpc-status" && o.method == "ListFeatures").unwrap();
    row.received = 99;
    assert!(!faultline_buggy::compare(&record(), &losing, &differences).passed());

    // A channel that does not recover after the case.
    let mut stuck = tonic.clone();
    stuck.iter_mut().find(|o| o.case == "rst-after-headers").unwrap().next = "UNAVAILABLE".to_owned();
    assert!(!faultline_buggy::compare(&record(), &stuck, &differences).passed());

    // An entry that excuses nothing is stale.
    let mut extra = differences.clone();
    let mut stale = extra[0].clone();
    stale.id = "stale".to_owned();
    stale.case = "clean".to_owned();
    extra.push(stale);
    let comparison = faultline_buggy::compare(&record(), &tonic, &extra);
    assert_eq!(comparison.stale, vec!["stale".to_owned()]);
    assert!(!comparison.passed());

    // A race on grpcio's count is fixed by the committed record: the record must need it.
    let mut unneeded = differences.clone();
    let racy = unneeded.iter_mut().find(|d| d.race && d.field == "received").unwrap();
    let id = racy.id.clone();
    racy.case = "clean".to_owned();
    assert_eq!(faultline_buggy::compare(&record(), &tonic, &unneeded).stale, vec![id]);
    // A race tonic's live run decides may go unseen.
    let mut unseen = differences.clone();
    unseen.iter_mut().find(|d| d.race && d.field == "next").unwrap().case = "clean".to_owned();
    assert!(faultline_buggy::compare(&record(), &tonic, &unseen).stale.is_empty());
}

#[test]
fn drift_allows_only_the_listed_races() {
    let recorded = record();
    let differences = differences();
    assert!(compare::drift(&recorded, &recorded, &differences).is_empty());
    let set = |case: &str, method: &str, f: &dyn Fn(&mut Outcome)| {
        let mut fresh = recorded.clone();
        f(fresh.iter_mut().find(|o| o.case == case && o.method == method).unwrap());
        compare::drift(&recorded, &fresh, &differences)
    };
    // grpcio's count after a reset mid-stream is a race: any count up to the 50 sent passes.
    assert!(set("rst-during-data", "ListFeatures", &|o| o.received = 37).is_empty());
    assert_eq!(set("rst-during-data", "ListFeatures", &|o| o.received = 51).len(), 1);
    assert_eq!(set("clean", "ListFeatures", &|o| o.received = 99).len(), 1);
    assert_eq!(set("http-503", "GetFeature", &|o| o.details = "other".to_owned()).len(), 1);
    let mut missing = recorded.clone();
    missing.pop();
    assert_eq!(compare::drift(&recorded, &missing, &differences).len(), 1);
}

#[test]
fn bad_records_and_differences_are_one_line_errors() {
    for (text, expect) in [
        ("{", "record line 1"),
        (
            r#"{"case":"nope","method":"GetFeature","code":"OK","details":"","received":0,"next":"OK"}"#,
            "unknown case",
        ),
    ] {
        assert!(compare::parse_record(text).unwrap_err().to_string().contains(expect), "{text}");
    }
    for (text, expect) in [
        ("[[difference]]\nid = 1", "differences"),
        (
            "[[difference]]\nid='x'\ncase='clean'\nfield='colour'\ngrpcio=[]\ntonic=[]\nwhy=''",
            "unknown field `colour`",
        ),
        ("[[difference]]\nid='x'\ncase='nope'\nfield='code'\ngrpcio=[]\ntonic=[]\nwhy=''", "unknown case"),
    ] {
        assert!(compare::parse_differences(text).unwrap_err().to_string().contains(expect), "{text}");
    }
}

/// Garbage, a broken header block, an unknown case and an unserved method: one connection or
/// one call fails, the server goes on serving.
#[tokio::test]
async fn hostile_peers_end_only_their_own_connection() {
    with_server(|addr| async move {
        for garbage in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x01\x01\x05\x00\x00\x00\x01\xff",
        ] {
            let mut socket = TcpStream::connect(&addr).await.unwrap();
            socket.write_all(garbage).await.unwrap();
            // The server closes: reading ends (its SETTINGS may come first).
            let mut sink = Vec::new();
            let _ = socket.read_to_end(&mut sink).await;
        }
        let channel = faultline_buggy::probe::channel(&addr).unwrap();
        let mut client = faultline_proto::routeguide::route_guide_client::RouteGuideClient::new(channel);
        let mut request = tonic::Request::new(faultline_buggy::probe::tutorial_point());
        request.metadata_mut().insert(server::CASE_HEADER, "no-such-case".parse().unwrap());
        let status = client.get_feature(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(status.message().contains("unknown faultline-case `no-such-case`"), "{}", status.message());
        let status = client.record_route(tokio_stream::iter(Vec::new())).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        // Still serving, on the same connection.
        let feature =
            client.get_feature(faultline_buggy::probe::tutorial_point()).await.unwrap().into_inner();
        assert_eq!(feature.name, "Berkshire Valley Management Area Trail, Jefferson, NJ, USA");
    })
    .await;
}

/// What a raw client reads for a case: exactly the script's frames, after the server's
/// SETTINGS, its SETTINGS ACK and a PING ACK (header blocks split by CONTINUATION are joined).
#[tokio::test]
async fn the_wire_carries_exactly_the_scripted_frames() {
    use faultline_buggy::script::{self, Step};
    use faultline_wire::frame::{Frame, FrameReader, PREFACE, Unit, flag, kind};
    use faultline_wire::hpack::{Field, encode_literals};
    use prost::Message;

    with_server(|addr| async move {
        let field = |n: &str, v: &str| Field { name: n.into(), value: v.into(), sensitive: false };
        let block = encode_literals(&[
            field(":method", "POST"),
            field(":scheme", "http"),
            field(":path", "/routeguide.RouteGuide/ListFeatures"),
            field(":authority", "x"),
            field("content-type", "application/grpc"),
            field(server::CASE_HEADER, "rst-during-data"),
        ]);
        let (first, rest) = block.split_at(10);
        let rectangle = faultline_buggy::probe::tutorial_rectangle().encode_to_vec();
        let mut out = PREFACE.to_vec();
        for frame in [
            Frame::new(kind::SETTINGS, 0, 0, &[]),
            Frame::new(kind::PING, 0, 0, b"12345678"),
            Frame::new(kind::HEADERS, 0, 1, first),
            Frame::new(kind::CONTINUATION, flag::END_HEADERS, 1, rest),
            Frame::new(kind::DATA, flag::END_STREAM, 1, &faultline_wire::grpc::encode(&rectangle)),
        ] {
            out.extend_from_slice(&frame.0);
        }
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket.write_all(&out).await.unwrap();

        let db = faultline_services::FeatureDb::reference();
        let messages =
            server::messages("/routeguide.RouteGuide/ListFeatures", &rectangle, &db).unwrap().unwrap();
        let mut expected = vec![
            Frame::new(kind::SETTINGS, 0, 0, &[]),
            Frame::new(kind::SETTINGS, flag::ACK, 0, &[]),
            Frame::new(kind::PING, flag::ACK, 0, b"12345678"),
        ];
        for step in script::response(Case::RstDuringData, 1, &messages) {
            if let Step::Frame(frame) = step {
                expected.push(frame);
            }
        }
        let mut reader = FrameReader::server_side();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            while let Some(Unit::Frame(frame)) = reader.next_unit().unwrap() {
                got.push(frame);
            }
            if got.len() >= expected.len() || socket.read_buf(reader.buffer()).await.unwrap() == 0 {
                break;
            }
        }
        assert_eq!(got, expected);
        assert_eq!(got.last().unwrap().kind(), kind::RST_STREAM);
    })
    .await;
}
