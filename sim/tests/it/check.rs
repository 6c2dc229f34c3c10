//! The checkers catch what they claim to: hand-made records, right and wrong.

use faultline_sim::check::{Property, check};
use faultline_sim::model::Model;
use faultline_sim::scenario::Scenario;
use faultline_sim::workload::{CallInput, CallRecord, Reply};
use tonic::Code;

fn record(input: CallInput, replies: Vec<Reply>, code: Code) -> CallRecord {
    CallRecord {
        id: 1,
        client: "client-0".into(),
        input,
        sent: 1,
        replies,
        code,
        message: String::new(),
        start_us: 0,
        end_us: 10_000,
        deadline_us: 2_000_000,
        cancelled_by_client: false,
        probe: false,
    }
}

fn properties(scenario: &Scenario, r: CallRecord) -> Vec<Property> {
    check(scenario, &Model::reference(), &[r], &[]).into_iter().map(|v| v.property).collect()
}

fn feature(name: &str, p: (i32, i32)) -> Reply {
    Reply::Feature((name.to_owned(), Some(p)))
}

#[test]
fn check_table() {
    let smoke = Scenario::new("smoke");
    let known = (409146138, -746188906);
    let known_name = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA";
    let degenerate = CallInput::ListFeatures { lo: known, hi: known };
    let chat = CallInput::RouteChat { notes: vec![("a".into(), (0, 0)), ("b".into(), (0, 0))] };
    let route = CallInput::RecordRoute { points: vec![(0, 0), (10000000, 0), (20000000, 0)] };
    let summary = |distance| Reply::Summary { point_count: 3, feature_count: 0, distance, elapsed_time: 0 };
    let note = |m: &str| Reply::Note((m.to_owned(), Some((0, 0))));
    let cases: Vec<(&str, CallRecord, Vec<Property>)> = vec![
        (
            "right miss",
            record(CallInput::GetFeature { point: (0, 0) }, vec![feature("", (0, 0))], Code::Ok),
            vec![],
        ),
        (
            "miss without location",
            record(
                CallInput::GetFeature { point: (0, 0) },
                vec![Reply::Feature((String::new(), None))],
                Code::Ok,
            ),
            vec![Property::StreamOrder],
        ),
        (
            "edge feature listed",
            record(degenerate.clone(), vec![feature(known_name, known)], Code::Ok),
            vec![],
        ),
        ("edge feature missing", record(degenerate.clone(), vec![], Code::Ok), vec![Property::StreamOrder]),
        (
            "prefix then unavailable, no fault allows it",
            record(degenerate.clone(), vec![], Code::Unavailable),
            vec![Property::Status],
        ),
        ("one truncation at the end", record(route.clone(), vec![summary(222389)], Code::Ok), vec![]),
        (
            "per-segment truncation",
            record(route.clone(), vec![summary(222388)], Code::Ok),
            vec![Property::Summary],
        ),
        ("chat right", record(chat.clone(), vec![note("a")], Code::Ok), vec![]),
        (
            "chat echoes new note",
            record(chat.clone(), vec![note("a"), note("b")], Code::Ok),
            vec![Property::Chat],
        ),
        ("chat stops short", record(chat.clone(), vec![], Code::Ok), vec![Property::Chat]),
        (
            "hello wrong",
            record(CallInput::SayHello { name: "x".into() }, vec![Reply::Hello("Hello x".into())], Code::Ok),
            vec![Property::StreamOrder],
        ),
    ];
    for (what, r, want) in cases {
        assert_eq!(properties(&smoke, r), want, "{what}");
    }
}

#[test]
fn deadlines_and_liveness() {
    let smoke = Scenario::new("smoke");
    let mut late = record(CallInput::SayHello { name: "x".into() }, vec![], Code::DeadlineExceeded);
    late.end_us = late.deadline_us;
    assert_eq!(properties(&smoke, late.clone()), vec![], "a client deadline is always allowed");
    late.code = Code::Unavailable;
    assert_eq!(properties(&smoke, late.clone()), vec![Property::Status, Property::Status]);
    late.code = Code::DeadlineExceeded;
    late.end_us = late.deadline_us + 5_000;
    assert_eq!(properties(&smoke, late), vec![Property::Liveness]);
    let v = check(&smoke, &Model::reference(), &[], &["client-0: no recovery".into()]);
    assert_eq!(v[0].property, Property::Liveness);
}
