//! The HTML timeline of a run: built from a hand-made report, no simulation.

use std::collections::BTreeMap;
use std::time::Duration;

use faultline_sim::check::{Property, Violation};
use faultline_sim::scenario::{Fault, Scenario};
use faultline_sim::timeline::{COLOR_CANCELLED, COLOR_DEADLINE, COLOR_ERROR, COLOR_OK, render};
use faultline_sim::trace::{Event, EventKind, hash_events};
use faultline_sim::workload::{CallInput, CallRecord, Reply};
use faultline_sim::{Expect, RunReport};
use tonic::Code;

fn event(at_us: u64, host: &str, kind: EventKind) -> Event {
    Event { at_us, host: host.to_owned(), kind }
}

/// One call's events and record: start, `sent` messages, `received` messages, end.
fn call(
    id: u64,
    host: &str,
    (start_us, end_us): (u64, u64),
    (sent, received): (u32, u32),
    code: Code,
    message: &str,
) -> (Vec<Event>, CallRecord) {
    let mut events =
        vec![event(start_us, host, EventKind::CallStart { call: id, method: "SayHello".into() })];
    for seq in 0..sent {
        events.push(event(
            start_us + 100,
            host,
            EventKind::Sent { call: id, seq, message: "HelloRequest".into() },
        ));
    }
    for seq in 0..received {
        let message = "Hello(\"x\")".to_owned();
        events.push(event(end_us.saturating_sub(100), host, EventKind::Received { call: id, seq, message }));
    }
    let end = EventKind::CallEnd { call: id, code: format!("{code:?}"), message: message.to_owned() };
    events.push(event(end_us, host, end));
    let record = CallRecord {
        id,
        client: host.to_owned(),
        input: CallInput::SayHello { name: "you".into() },
        sent,
        replies: (0..received).map(|_| Reply::Hello("x".into())).collect(),
        code,
        message: message.to_owned(),
        start_us,
        end_us,
        deadline_us: 2_000_000,
        cancelled_by_client: code == Code::Cancelled,
        probe: false,
    };
    (events, record)
}

fn synthetic() -> (Scenario, RunReport) {
    let scenario = Scenario::new("synthetic <demo>").description("calls & a partition").fault(
        Duration::from_millis(100),
        Duration::from_millis(200),
        Fault::Partition { oneway: false },
    );
    let mut events = vec![
        event(0, "server", EventKind::Host { state: "start".into() }),
        event(1_000, "client-0", EventKind::Connect { to: "server".into(), ok: true }),
        event(1_000, "client-10", EventKind::Connect { to: "server".into(), ok: false }),
        event(
            100_000,
            "sim",
            EventKind::Fault { fault: "partition".into(), detail: "clients <-/-> server".into() },
        ),
        event(
            120_000,
            "proxy",
            EventKind::Fault { fault: "rst-stream".into(), detail: "stream 3 <reset>".into() },
        ),
        event(
            300_000,
            "sim",
            EventKind::Fault { fault: "partition".into(), detail: "healed: clients".into() },
        ),
    ];
    let mut records = Vec::new();
    for (id, host, span, messages, code, message) in [
        (1, "client-0", (2_000, 10_000), (1, 1), Code::Ok, ""),
        (2, "client-0", (3_000, 400_000), (1, 0), Code::DeadlineExceeded, "deadline exceeded (client)"),
        (3, "client-1", (50_000, 150_000), (2, 0), Code::Unavailable, "broken pipe <eof> & \"quoted\""),
        (4, "client-1", (160_000, 170_000), (0, 0), Code::Cancelled, "cancelled by the client"),
    ] {
        let (e, r) = call(id, host, span, messages, code, message);
        events.extend(e);
        records.push(r);
    }
    events.sort_by_key(|e| e.at_us);
    let violations = vec![Violation {
        property: Property::Status,
        call: Some(3),
        detail: "UNAVAILABLE <not allowed>".into(),
    }];
    let report = RunReport {
        scenario: scenario.name.clone(),
        seed: 42,
        calls: 4,
        failed_calls: 3,
        faults_fired: BTreeMap::from([("partition".to_owned(), 1), ("rst-stream".to_owned(), 1)]),
        sim_time_us: 500_000,
        violations,
        trace_hash: hash_events(&events),
        events,
        records,
    };
    (scenario, report)
}

/// The `name="value"` attribute of an element's text.
fn attr<'a>(element: &'a str, name: &str) -> &'a str {
    let start = element.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {element}"));
    let rest = &element[start + name.len() + 3..];
    &rest[..rest.find('"').expect("closing quote")]
}

/// Every call bar's element text, in document order.
fn bars(html: &str) -> Vec<&str> {
    html.match_indices("<rect class=\"call\"")
        .map(|(i, _)| &html[i..i + html[i..].find("/>").expect("bar closes")])
        .collect()
}

#[test]
fn renders_a_standalone_page() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    assert!(html.starts_with("<!DOCTYPE html>\n<html"), "{}", &html[..60]);
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg").count(), 1);
    assert_eq!(html.matches("</svg>").count(), 1);
    assert!(
        !html.contains("<script") && !html.contains(" src=") && !html.contains("<link"),
        "no external assets"
    );

    // Header: escaped name and description, seed, verdict, trace hash.
    assert!(html.contains("synthetic &lt;demo&gt;"));
    assert!(html.contains("calls &amp; a partition"));
    assert!(html.contains("seed 42"));
    assert!(html.contains("1 violation"));
    assert!(html.contains(&format!("{:016x}", report.trace_hash)));
    assert_eq!(scenario.expect, Expect::Pass);
}

#[test]
fn one_bar_per_call_colored_by_status() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    let mut bars: Vec<(String, String)> =
        bars(&html).into_iter().map(|b| (attr(b, "id").to_owned(), attr(b, "fill").to_owned())).collect();
    bars.sort();
    let expected = [
        ("call-1", COLOR_OK),
        ("call-2", COLOR_DEADLINE),
        ("call-3", COLOR_ERROR),
        ("call-4", COLOR_CANCELLED),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(i, c)| ((*i).to_owned(), (*c).to_owned())).collect();
    assert_eq!(bars, expected);

    // Calls 1 and 2 overlap on client-0: stacked in different rows, not drawn over each other.
    let all = self::bars(&html);
    let y =
        |id: &str| all.iter().find(|b| attr(b, "id") == id).map(|b| attr(b, "y").to_owned()).expect("bar");
    assert_ne!(y("call-1"), y("call-2"));

    // Tooltips carry id, method, status, escaped message and counts.
    assert!(html.contains(
        "call #3 SayHello on client-1\nUnavailable: broken pipe &lt;eof&gt; &amp; &quot;quoted&quot;"
    ));
    assert!(html.contains("sent 2, received 0"));
    assert!(!html.contains("<eof>") && !html.contains("<reset>") && !html.contains("<demo>"));

    // The violating call is outlined and linked from the violation list.
    let bar3 = all.iter().find(|b| attr(b, "id") == "call-3").expect("bar 3");
    assert_eq!(attr(bar3, "stroke"), "#000");
    assert!(html.contains("<a href=\"#call-3\">call #3</a>: UNAVAILABLE &lt;not allowed&gt;"));
}

#[test]
fn faults_lanes_and_markers() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    assert!(html.contains(">partition 100–300 ms</text>"), "timed fault band label");
    assert_eq!(html.matches("class=\"fault-band\"").count(), 1);
    // Three fault events on the sim and proxy lanes: start, heal, rst-stream.
    assert_eq!(html.matches("<g class=\"fault\">").count(), 3);
    assert!(html.contains("fault rst-stream: stream 3 &lt;reset&gt;"));
    assert_eq!(html.matches("<g class=\"connect\">").count(), 2);
    assert_eq!(html.matches("<g class=\"host\">").count(), 1);

    // Lanes: clients by number, then proxy, server, sim.
    let lanes = ["client-0 (2 calls)", "client-1 (2 calls)", ">client-10<", ">proxy<", ">server<", ">sim<"];
    let at: Vec<usize> = lanes.iter().map(|l| html.find(l).unwrap_or_else(|| panic!("lane {l}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "lane order {at:?}");
}

#[test]
fn rendering_is_deterministic() {
    let (scenario, report) = synthetic();
    let (again_scenario, again_report) = synthetic();
    assert_eq!(render(&scenario, &report), render(&again_scenario, &again_report));
    assert_eq!(render(&scenario, &report), render(&scenario, &report));
}

#[test]
fn passing_and_empty_runs_render() {
    let scenario = Scenario::new("empty");
    let report = RunReport {
        scenario: "empty".into(),
        seed: 0,
        calls: 0,
        failed_calls: 0,
        faults_fired: BTreeMap::new(),
        sim_time_us: 0,
        violations: Vec::new(),
        trace_hash: 0,
        events: Vec::new(),
        records: Vec::new(),
    };
    let html = render(&scenario, &report);
    assert!(html.contains("passed"));
    assert!(html.contains("no events recorded"));
    assert_eq!(html.matches("<svg").count(), 1);
}

#[test]
fn a_thousand_calls_stay_compact() {
    let (scenario, mut report) = synthetic();
    for id in 10..1_010 {
        let start = id * 400;
        let (e, r) = call(id, "client-2", (start, start + 3_000), (3, 3), Code::Ok, "");
        report.events.extend(e);
        report.records.push(r);
    }
    let html = render(&scenario, &report);
    assert_eq!(bars(&html).len(), 1_004);
    assert!(html.len() < 1_000 * 600, "{} bytes", html.len());
}

#[test]
fn idle_stretches_are_compressed() {
    let (scenario, mut report) = synthetic();
    // A burst of calls long after everything else: ten seconds of nothing in between.
    for id in 100..110 {
        let start = 10_000_000 + id * 1_000;
        let (e, r) = call(id, "client-0", (start, start + 2_000), (1, 1), Code::Ok, "");
        report.events.extend(e);
        report.records.push(r);
    }
    report.sim_time_us = 10_100_000;
    let html = render(&scenario, &report);
    assert!(html.contains("<g class=\"gap\">"), "the idle stretch is compressed");
    assert!(html.contains("(compressed)"));
    // The burst (11 ms of a ten-second run, about 1 px to scale) is spread out enough to tell calls apart.
    let burst: Vec<(f64, f64)> = bars(&html)
        .into_iter()
        .filter(|b| attr(b, "id").starts_with("call-10"))
        .map(|b| {
            let x: f64 = attr(b, "x").parse().expect("x");
            (x, x + attr(b, "width").parse::<f64>().expect("width"))
        })
        .collect();
    assert_eq!(burst.len(), 10);
    let span = burst.iter().map(|b| b.1).fold(f64::MIN, f64::max)
        - burst.iter().map(|b| b.0).fold(f64::MAX, f64::min);
    assert!(span > 20.0, "{burst:?}");

    // A run with activity throughout is drawn to scale, without compressed stretches.
    let (scenario, mut report) = synthetic();
    for id in 100..150 {
        let (e, r) =
            call(id, "client-3", (id * 10_000 - 1_000_000, id * 10_000 - 992_000), (1, 1), Code::Ok, "");
        report.events.extend(e);
        report.records.push(r);
    }
    assert!(!render(&scenario, &report).contains("<g class=\"gap\">"));
}
