//! The HTML timeline of a run: built from a hand-made report, no simulation.

use std::collections::BTreeMap;
use std::time::Duration;

use faultline_sim::check::{Property, Violation};
use faultline_sim::runner::FaultTally;
use faultline_sim::system::CallSummary;
use faultline_sim::timeline::{COLOR_CANCELLED, COLOR_DEADLINE, COLOR_ERROR, COLOR_OK, render};
use faultline_sim::trace::{Event, EventKind, FaultEvent, HostState, Phase, Scope, hash_events};
use faultline_sim::{Expect, Fault, RunReport};
use faultline_tutorial::Scenario;
use tonic::Code;

fn event(at_us: u64, host: &str, kind: EventKind) -> Event {
    Event { at_us, host: host.to_owned(), kind }
}

fn fault(
    at_us: u64,
    host: &str,
    index: usize,
    phase: Phase,
    touched: u64,
    scope: Scope,
    detail: &str,
) -> Event {
    let name = if index == 0 { "partition" } else { "rst-stream" };
    let f = FaultEvent { fault: name, index, phase, touched, scope, detail: detail.to_owned() };
    event(at_us, host, EventKind::Fault(f))
}

fn handler(at_us: u64, call: u64, running: bool) -> Event {
    event(at_us, "server", EventKind::Handler { call, running })
}

/// One call's events and record: start, `sent` messages, `received` messages, end.
fn call(
    id: u64,
    host: &str,
    (start_us, end_us): (u64, u64),
    (sent, received): (u32, u32),
    code: Code,
    message: &str,
) -> (Vec<Event>, CallSummary) {
    let start = EventKind::CallStart { call: id, method: "SayHello".into(), deadline_us: 2_000_000 };
    let mut events = vec![event(start_us, host, start)];
    for seq in 0..sent {
        let message = "HelloRequest".to_owned();
        events.push(event(start_us + 100, host, EventKind::Sent { call: id, seq, message }));
    }
    for seq in 0..received {
        let message = "Hello(\"x\")".to_owned();
        events.push(event(end_us.saturating_sub(100), host, EventKind::Received { call: id, seq, message }));
    }
    events.push(event(end_us, host, EventKind::CallEnd { call: id, code, message: message.to_owned() }));
    let record = CallSummary {
        id,
        client: host.to_owned(),
        method: "SayHello".to_owned(),
        sent,
        received: received as usize,
        code,
        message: message.to_owned(),
        start_us,
        end_us,
        deadline_us: 2_000_000,
        half_close_us: None,
        cancelled_by_client: code == Code::Cancelled,
        probe: false,
    };
    (events, record)
}

fn report(
    scenario: &Scenario,
    mut events: Vec<Event>,
    records: Vec<CallSummary>,
    sim_time_us: u64,
) -> RunReport {
    events.sort_by_key(|e| e.at_us);
    RunReport {
        scenario: scenario.name.clone(),
        seed: 42,
        expect: scenario.expect,
        caught_by: None,
        calls: records.len(),
        failed_calls: records.iter().filter(|r| r.code != Code::Ok).count(),
        faults: BTreeMap::new(),
        codes: BTreeMap::new(),
        sim_time_us,
        excusable_us: 0,
        violations: Vec::new(),
        trace_hash: hash_events(&events),
        events,
        records,
    }
}

/// Four calls on two clients, a fifth that never ends; a partition 100–300 ms and rst-stream
/// 50–400 ms; a crash and restart of the server; server handlers, one of which leaks; a panic
/// and a protocol error; hostile text everywhere.
fn synthetic() -> (Scenario, RunReport) {
    let ms = Duration::from_millis;
    let scenario = Scenario::new("synthetic <demo> \"q\"")
        .description("calls & a partition")
        .fault(ms(100), ms(200), Fault::Partition { oneway: false })
        .fault(ms(50), ms(350), Fault::RstStream { after_messages: 1, every: 1 });
    let conn = || Scope::Connection { client: "client-1".into(), conn: 2 };
    let mut events = vec![
        event(0, "server", EventKind::Host { state: HostState::Start }),
        event(1_000, "client-0", EventKind::Connect { to: "server".into(), ok: true, since_us: 1_000 }),
        event(1_000, "client-10", EventKind::Connect { to: "server".into(), ok: false, since_us: 1_000 }),
        fault(100_000, "sim", 0, Phase::Start, 0, Scope::ClientLinks, "clients <-/-> server"),
        fault(120_000, "proxy", 1, Phase::Acted, 1, conn(), "stream 3 <reset>"),
        fault(120_000, "proxy", 1, Phase::Acted, 1, conn(), "stream 5 <reset>"),
        event(130_000, "proxy", EventKind::ProtocolError { detail: "bad frame \"type\" <7>".into() }),
        event(200_000, "server", EventKind::Host { state: HostState::Crash }),
        event(250_000, "server", EventKind::Host { state: HostState::Start }),
        fault(300_000, "sim", 0, Phase::Acted, 12, Scope::ClientLinks, "12 writes on cut links"),
        fault(300_000, "sim", 0, Phase::Heal, 0, Scope::ClientLinks, "healed"),
        event(
            450_000,
            "sim",
            EventKind::Panic { message: "boom <here>".into(), location: "src/x.rs:1:2".into() },
        ),
        // Call 1's handler ends before its call; call 4's a little after; call 2's long after.
        handler(2_500, 1, true),
        handler(9_000, 1, false),
        handler(3_500, 2, true),
        handler(2_000_000, 2, false),
        handler(161_000, 4, true),
        handler(175_000, 4, false),
        event(
            180_000,
            "client-1",
            EventKind::CallStart { call: 5, method: "RouteChat".into(), deadline_us: 1 },
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
    let mut report = report(&scenario, events, records, 2_100_000);
    report.faults = BTreeMap::from([
        ("partition".to_owned(), FaultTally { acted: 1, touched: 12 }),
        ("rst-stream".to_owned(), FaultTally { acted: 2, touched: 2 }),
    ]);
    report.violations = vec![Violation {
        property: Property::Status,
        call: Some(3),
        detail: "UNAVAILABLE <not allowed>".into(),
    }];
    (scenario, report)
}

/// The `name="value"` attribute of an element's text.
fn attr<'a>(element: &'a str, name: &str) -> &'a str {
    let start = element.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {element}"));
    let rest = &element[start + name.len() + 3..];
    &rest[..rest.find('"').expect("closing quote")]
}

/// Every start tag beginning with `prefix`, in document order.
fn tags<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    html.match_indices(prefix).map(|(i, _)| &html[i..i + html[i..].find('>').expect("tag closes")]).collect()
}

/// Every call bar's start tag, in document order.
fn bars(html: &str) -> Vec<&str> {
    tags(html, "<rect class=\"call ")
}

fn bar<'a>(html: &'a str, id: &str) -> &'a str {
    bars(html).into_iter().find(|b| attr(b, "id") == id).unwrap_or_else(|| panic!("no bar {id}"))
}

/// The `<g class="...">` groups of a class, each up to its closing tag.
fn groups<'a>(html: &'a str, class: &str) -> Vec<&'a str> {
    let open = format!("<g class=\"{class}\">");
    html.match_indices(&open)
        .map(|(i, _)| &html[i..i + html[i..].find("</g>").expect("group closes")])
        .collect()
}

#[test]
fn renders_a_standalone_page() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    assert!(html.starts_with("<!DOCTYPE html>\n<html"), "{}", &html[..60]);
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg").count(), 1 + 9, "the plot, and one glyph per marker kind in the legend");
    assert_eq!(html.matches("</svg>").count(), 10);
    assert!(
        !html.contains("<script") && !html.contains(" src=") && !html.contains("<link"),
        "no external assets"
    );
    assert_eq!(html.matches("http://").count(), 1, "only the SVG namespace");

    // Header: escaped name and description, seed, verdict, trace hash, what the faults did.
    assert!(html.contains("synthetic &lt;demo&gt; &quot;q&quot;"));
    assert!(html.contains("calls &amp; a partition"));
    assert!(html.contains("seed 42"));
    assert!(html.contains("1 violation"));
    assert!(html.contains("partition ×1 (touched 12), rst-stream ×2 (touched 2)"));
    assert!(html.contains(&format!("{:016x}", report.trace_hash)));
    assert_eq!(scenario.expect, Expect::Pass);
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    for raw in
        ["<demo>", "<eof>", "<reset>", "<here>", "<not allowed>", "<7>", "\"q\"", "\"quoted\"", "\"type\""]
    {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    assert!(html.contains("bad frame &quot;type&quot; &lt;7&gt;"));
    assert!(html.contains("panic at src/x.rs:1:2: boom &lt;here&gt;"));
}

#[test]
fn one_bar_per_call_colored_by_status() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    let mut found: Vec<(&str, &str, &str)> =
        bars(&html).into_iter().map(|b| (attr(b, "id"), attr(b, "fill"), attr(b, "data-status"))).collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("call-1", COLOR_OK, "ok"),
            ("call-2", COLOR_DEADLINE, "deadline-exceeded"),
            ("call-3", COLOR_ERROR, "error"),
            ("call-4", COLOR_CANCELLED, "cancelled"),
            ("call-5", COLOR_ERROR, "never-ended"),
        ]
    );

    // Calls 1 and 2 overlap on client-0: stacked in different rows, not drawn over each other.
    assert_ne!(attr(bar(&html, "call-1"), "y"), attr(bar(&html, "call-2"), "y"));

    // The call that never ended runs to the end of the axis (the plot's right edge).
    let never = bar(&html, "call-5");
    let right = attr(never, "x").parse::<f64>().unwrap() + attr(never, "width").parse::<f64>().unwrap();
    assert!((right - 1250.0).abs() < 0.2, "{never}");
    assert!(html.contains("call #5 RouteChat on client-1\n(never ended)"));

    // Tooltips carry id, method, status, escaped message, counts, the handler's life.
    assert!(html.contains(
        "call #3 SayHello on client-1\nUnavailable: broken pipe &lt;eof&gt; &amp; &quot;quoted&quot;"
    ));
    assert!(html.contains("sent 2, received 0"));
    assert!(html.contains(
        "call #1 SayHello on client-0\nOk\nsent 1, received 1\n2–10 ms (8 ms)\nserver handler 2.5–9 ms"
    ));

    // The violating call is outlined and linked from the violation list.
    assert_eq!(attr(bar(&html, "call-3"), "class"), "call error flagged");
    assert!(html.contains("<a href=\"#call-3\">call #3</a>: UNAVAILABLE &lt;not allowed&gt;"));
}

#[test]
fn a_fault_band_per_window() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);
    let bands = groups(&html, "fault-band");
    assert_eq!(bands.len(), 2);
    // Sorted by start: rst-stream (the scenario's window), then partition (its start and heal).
    assert!(bands[0].contains(">rst-stream 50–400 ms</text>"), "{}", bands[0]);
    assert!(bands[0].contains("scheduled window; acts call by call\nacted 2×, touched 2"));
    assert!(bands[1].contains(">partition 100–300 ms</text>"), "{}", bands[1]);
    assert!(bands[1].contains("clients &lt;-/-&gt; server\nacted 1×, touched 12"));
    // Each in its fault's color, and no two labels on one row where they would overlap.
    assert_ne!(attr(bands[0], "fill"), attr(bands[1], "fill"));
    let label_y = |band: &str| attr(&band[band.find("<text").unwrap()..], "y").to_owned();
    assert_ne!(label_y(bands[0]), label_y(bands[1]));
}

#[test]
fn markers_merge_per_pixel_and_say_what_happened() {
    let (scenario, report) = synthetic();
    let html = render(&scenario, &report);

    // Two rst-stream acts at one instant: one marker listing both; the partition's act apart.
    let acted = groups(&html, "fault");
    assert_eq!(acted.len(), 2, "{acted:?}");
    let merged = acted.iter().find(|g| g.contains("rst-stream")).expect("rst-stream marker");
    assert!(merged.contains(
        "<title>2 events\n120 ms proxy: fault rst-stream acted on client-1 conn 2, touched 1: \
         stream 3 &lt;reset&gt;\n"
    ));
    assert!(merged.contains("stream 5 &lt;reset&gt;"));
    let partition = acted.iter().find(|g| g.contains("partition")).expect("partition marker");
    assert!(partition.contains("fault partition acted on client links, touched 12: 12 writes on cut links"));
    assert_ne!(attr(merged, "fill"), attr(partition, "fill"), "colored by fault");

    for (class, count) in [
        ("connect", 1),
        ("connect-failed", 1),
        ("host-start", 2),
        ("host-crash", 1),
        ("protocol-error", 1),
        ("panic", 1),
        ("handler-late", 1),
        ("handler-leak", 1),
    ] {
        assert_eq!(groups(&html, class).len(), count, "{class}");
    }
    let crash = groups(&html, "host-crash")[0];
    assert!(crash.contains(">crash</text>") && crash.contains("200 ms server: host crashed"), "{crash}");
    let leak = groups(&html, "handler-leak")[0];
    assert!(
        leak.contains("handler of call #2 on server\n3.5–2000 ms\nended 1.6s after its call did (400 ms)")
    );
    assert!(leak.contains("beyond the grace: a leak"), "{leak}");
    assert!(
        groups(&html, "handler-late")[0].contains("ended 5ms after its call did (170 ms), within the grace")
    );

    // Handler lives as lines on the server lane; the leaking one in red.
    let lines = tags(&html, "<line class=\"handler\"");
    assert_eq!(lines.len(), 3);
    assert_eq!(lines.iter().filter(|l| attr(l, "stroke") == COLOR_ERROR).count(), 1);

    // Lanes: clients by number, then proxy, server, sim.
    let lanes = [
        ">client-0<",
        ">2 calls<",
        ">client-1<",
        ">3 calls<",
        ">client-10<",
        ">proxy<",
        ">server<",
        ">3 handlers<",
        ">sim<",
    ];
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
    let report = report(&scenario, Vec::new(), Vec::new(), 0);
    let html = render(&scenario, &report);
    assert!(html.contains("passed"));
    assert!(html.contains("none: every property held"));
    assert!(html.contains("no events recorded"));
    assert!(html.contains("<td>none</td>"), "no fault fired");
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
    assert_eq!(bars(&html).len(), 1_005);
    assert!(html.len() < 1_000 * 600, "{} bytes", html.len());
}

#[test]
fn idle_stretches_are_compressed() {
    let (scenario, mut report) = synthetic();
    // A burst of calls long after everything else: ten seconds of nothing in between.
    for id in 100..110 {
        let start = 12_000_000 + id * 1_000;
        let (e, r) = call(id, "client-0", (start, start + 2_000), (1, 1), Code::Ok, "");
        report.events.extend(e);
        report.records.push(r);
    }
    report.sim_time_us = 12_200_000;
    let html = render(&scenario, &report);
    assert!(!groups(&html, "gap").is_empty(), "the idle stretch is compressed");
    assert!(html.contains("(compressed)"));
    // The burst (12 ms of a twelve-second run, about 1 px to scale) is spread out over more than
    // ten times that, enough to tell calls apart.
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
    assert!(span > 15.0, "{burst:?}");

    // A run with activity throughout is drawn to scale, without compressed stretches.
    let (scenario, mut report) = synthetic();
    for id in 100..320 {
        let start = (id - 100) * 10_000;
        let (e, r) = call(id, "client-3", (start, start + 8_000), (1, 1), Code::Ok, "");
        report.events.extend(e);
        report.records.push(r);
    }
    assert!(groups(&render(&scenario, &report), "gap").is_empty());
}
