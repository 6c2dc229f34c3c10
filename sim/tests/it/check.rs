//! The checkers catch what they claim to: hand-made records and events, right and wrong.

use std::time::Duration;

use faultline_sim::check::{Property, check};
use faultline_sim::fault::{Fault, NetParams};
use faultline_sim::system::{CallRecord, CallSummary};
use faultline_sim::trace::{Event, EventKind, FaultEvent, Phase, Scope};
use faultline_sim::{System, World};
use faultline_tutorial::Scenario;
use faultline_tutorial::check::{CHAT, STREAM_ORDER, SUMMARY};
use faultline_tutorial::{CallInput, Reply, Tutorial};
use tonic::Code;

const S: u64 = 1_000_000;

/// The catalogue's network: 1–5 ms links, 500 ms keepalive, 1 s connect timeout, 1 ms tick.
fn net() -> NetParams {
    World::new(&Scenario::new("t"), 0).net
}

/// The grace `net()` gives: 1 s of keepalive, a 10 ms round trip, a 1 ms tick.
const GRACE: u64 = 1_011_000;

type Record = CallRecord<CallInput, Reply>;

fn record(op: CallInput, replies: Vec<Reply>, code: Code) -> Record {
    let call = CallSummary {
        id: 1,
        client: "client-0".into(),
        method: op.method().to_owned(),
        sent: 1,
        received: replies.len(),
        code,
        message: String::new(),
        start_us: 0,
        end_us: 10_000,
        deadline_us: 2_000_000,
        half_close_us: None,
        cancelled_by_client: false,
        probe: false,
    };
    CallRecord { call, op, replies }
}

fn failed_at(id: u64, start_us: u64, code: Code) -> Record {
    let mut r = record(CallInput::SayHello { name: "x".into() }, vec![], code);
    r.call.id = id;
    r.call.start_us = start_us;
    r.call.end_us = start_us + 5_000;
    r
}

fn properties(scenario: &Scenario, records: &[Record], events: &[Event]) -> Vec<Property> {
    check(&Tutorial::default(), scenario, records, events, &net(), 100 * S)
        .into_iter()
        .map(|v| v.property)
        .collect()
}

fn fault_event(at_us: u64, scenario: &Scenario, index: usize, phase: Phase, scope: Scope) -> Event {
    let fault = scenario.faults[index].fault.name();
    let kind = EventKind::Fault(FaultEvent { fault, index, phase, touched: 1, scope, detail: String::new() });
    Event { at_us, host: "sim".into(), kind }
}

fn feature(name: &str, p: (i32, i32)) -> Reply {
    Reply::Feature((name.to_owned(), Some(p)))
}

#[test]
fn payloads_are_checked_against_the_model() {
    let smoke = Scenario::new("smoke");
    let known = (409146138, -746188906);
    let known_name = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA";
    let degenerate = CallInput::ListFeatures { lo: known, hi: known };
    let chat =
        CallInput::RouteChat { notes: vec![("a".into(), (0, 0)), ("b".into(), (0, 0))], lockstep: false };
    let route = CallInput::RecordRoute { points: vec![(0, 0), (10000000, 0), (20000000, 0)] };
    let summary = |distance| Reply::Summary { point_count: 3, feature_count: 0, distance, elapsed_time: 0 };
    let note = |m: &str| Reply::Note((m.to_owned(), Some((0, 0))));
    let cases: Vec<(&str, Record, Vec<Property>)> = vec![
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
            vec![STREAM_ORDER],
        ),
        (
            "edge feature listed",
            record(degenerate.clone(), vec![feature(known_name, known)], Code::Ok),
            vec![],
        ),
        ("edge feature missing", record(degenerate.clone(), vec![], Code::Ok), vec![STREAM_ORDER]),
        ("one truncation at the end", record(route.clone(), vec![summary(222389)], Code::Ok), vec![]),
        ("per-segment truncation", record(route.clone(), vec![summary(222388)], Code::Ok), vec![SUMMARY]),
        ("chat right", record(chat.clone(), vec![note("a")], Code::Ok), vec![]),
        ("chat echoes new note", record(chat.clone(), vec![note("a"), note("b")], Code::Ok), vec![CHAT]),
        ("chat stops short", record(chat.clone(), vec![], Code::Ok), vec![CHAT]),
        (
            "hello wrong",
            record(CallInput::SayHello { name: "x".into() }, vec![Reply::Hello("Hello x".into())], Code::Ok),
            vec![STREAM_ORDER],
        ),
    ];
    for (what, r, want) in cases {
        assert_eq!(properties(&smoke, &[r], &[]), want, "{what}");
    }
}

#[test]
fn a_failure_in_a_clean_run_is_a_violation_that_says_so() {
    let smoke = Scenario::new("smoke");
    let r = failed_at(1, 0, Code::Unavailable);
    let violations = check(&Tutorial::default(), &smoke, &[r], &[], &net(), 100 * S);
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].property, Property::Status);
    assert!(violations[0].detail.contains("Unavailable"), "{}", violations[0]);
    assert!(violations[0].detail.contains("no fault acted in this run"), "{}", violations[0]);
}

/// A failure is excused only by a fault that acted on the call's path, that can cause its code,
/// and only if the call failed while the fault acted or in the grace after it (for
/// DEADLINE_EXCEEDED: its deadline fell there).
#[test]
fn failures_are_attributed_by_cause_time_place_and_code() {
    let scenario = Scenario::new("t")
        .fault(Duration::from_secs(1), Duration::from_secs(1), Fault::Partition { oneway: false })
        .fault(Duration::from_secs(10), Duration::from_millis(300), Fault::Hold)
        .fault(
            Duration::from_secs(20),
            Duration::from_secs(5),
            Fault::RstStream { after_messages: 1, every: 1 },
        )
        .fault(Duration::from_secs(30), Duration::from_secs(5), Fault::TrailersOnly { code: 14, every: 1 })
        .fault(Duration::from_secs(40), Duration::from_secs(1), Fault::Partition { oneway: false })
        .fault(Duration::from_secs(50), Duration::from_secs(1), Fault::SlowHandler { delay_ms: 3_000 });
    let link = |client: &str| Scope::Link { client: client.to_owned() };
    let refused = |at_us: u64, host: &str| Event {
        at_us,
        host: host.into(),
        kind: EventKind::Connect { to: "server".into(), ok: false, since_us: at_us - 1_000 },
    };
    let events = vec![
        // The first partition broke client-0's connection (bytes it wrote at 1 s never
        // arrived), and refused client-2 a connection.
        fault_event(S, &scenario, 0, Phase::Start, Scope::ClientLinks),
        refused(S + S / 4, "client-2"),
        fault_event(2 * S, &scenario, 0, Phase::Acted, link("client-0")),
        fault_event(2 * S, &scenario, 0, Phase::Heal, Scope::ClientLinks),
        fault_event(10 * S, &scenario, 1, Phase::Start, Scope::ClientLinks),
        fault_event(10 * S + 300_000, &scenario, 1, Phase::Acted, link("client-0")),
        fault_event(10 * S + 300_000, &scenario, 1, Phase::Heal, Scope::ClientLinks),
        fault_event(21 * S, &scenario, 2, Phase::Acted, Scope::Call { call: 7 }),
        fault_event(31 * S, &scenario, 3, Phase::Acted, Scope::Call { call: 9 }),
        // The second partition met no traffic at all.
        fault_event(40 * S, &scenario, 4, Phase::Start, Scope::ClientLinks),
        fault_event(41 * S, &scenario, 4, Phase::Heal, Scope::ClientLinks),
        fault_event(50 * S, &scenario, 5, Phase::Acted, Scope::Call { call: 11 }),
        Event {
            at_us: 99 * S,
            host: "sim".into(),
            kind: EventKind::Lost { from: "client-0".into(), to: "server".into(), lost_at_us: S, bytes: 9 },
        },
    ];
    let of = |client: &str, mut r: Record| {
        r.call.client = client.to_owned();
        r
    };
    let lived = |id, start_us, end_us, code| {
        let mut r = failed_at(id, start_us, code);
        r.call.end_us = end_us;
        r.call.deadline_us = 60 * S;
        r
    };
    let missed = |id, start_us, deadline_us| {
        let mut r = failed_at(id, start_us, Code::DeadlineExceeded);
        r.call.deadline_us = deadline_us;
        r.call.end_us = start_us + deadline_us;
        r
    };
    let cases: Vec<(&str, Record, Vec<Property>)> = vec![
        ("during the partition", failed_at(1, S + S / 2, Code::Unavailable), vec![]),
        ("in its grace", failed_at(1, 2 * S + GRACE - 10_000, Code::Internal), vec![]),
        ("after its grace", failed_at(1, 2 * S + GRACE + 10_000, Code::Unavailable), vec![Property::Status]),
        ("before it", failed_at(1, S - 10_000, Code::Unavailable), vec![Property::Status]),
        (
            "a client whose link it never met",
            of("client-1", failed_at(1, S + S / 2, Code::Unavailable)),
            vec![Property::Status],
        ),
        (
            "a client it refused a connection",
            of("client-2", failed_at(1, S + S / 2, Code::Unavailable)),
            vec![],
        ),
        (
            "a call that lived through it and failed in clean time",
            lived(1, S / 2, 5 * S, Code::Unavailable),
            vec![Property::Status],
        ),
        ("a short hold may only delay", failed_at(1, 10 * S, Code::Internal), vec![Property::Status]),
        ("a deadline that fell in a short hold", missed(1, 9 * S, S + S / 10), vec![]),
        // A stall delays all that follows it: the deadline may fall long after.
        (
            "a deadline that fell long after a short hold it lived through",
            missed(1, 9 * S + S / 2, 5 * S),
            vec![],
        ),
        (
            "a deadline missed by a call that began after the hold and its grace",
            missed(1, 12 * S, 5 * S),
            vec![Property::Status],
        ),
        ("the reset call", failed_at(7, 21 * S - 2_000, Code::Cancelled), vec![]),
        (
            "a neighbour of the reset call",
            failed_at(8, 21 * S - 2_000, Code::Cancelled),
            vec![Property::Status],
        ),
        ("the Trailers-Only call, its code", failed_at(9, 31 * S - 1_000, Code::Unavailable), vec![]),
        (
            "the Trailers-Only call, another code",
            failed_at(9, 31 * S - 1_000, Code::Internal),
            vec![Property::Status],
        ),
        (
            "a partition that met no traffic",
            failed_at(1, 40 * S + S / 2, Code::Unavailable),
            vec![Property::Status],
        ),
        ("a deadline that fell while its handler was held", missed(11, 50 * S, 2 * S + S / 2), vec![]),
    ];
    for (what, r, want) in cases {
        assert_eq!(properties(&scenario, &[r], &events), want, "{what}");
    }
    // A violation names the nearest fault window.
    let late = failed_at(1, 3 * S + S / 2, Code::Unavailable);
    let v = check(&Tutorial::default(), &scenario, &[late], &events, &net(), 100 * S);
    assert!(v[0].detail.contains("nearest fault: partition on client-0's link 1.000s..2.000s"), "{}", v[0]);
}

/// A link fault broke a client's connection only if bytes written on it never arrived; a
/// connection that survived the stall excuses a missed deadline, never a failure. A broken
/// connection's act lasts until the client's last read on it (answers keep arriving while its
/// other direction works), and the grace covers the keepalive after that.
#[test]
fn a_link_fault_excuses_failures_only_on_the_connections_it_broke() {
    let scenario =
        Scenario::new("t").fault(Duration::from_secs(1), Duration::from_secs(1), Fault::Loss { rate: 0.1 });
    let link = |client: &str| Scope::Link { client: client.to_owned() };
    let at = |at_us: u64, host: &str, kind: EventKind| Event { at_us, host: host.into(), kind };
    let lost = |from: &str, to: &str, lost_at_us: u64| EventKind::Lost {
        from: from.into(),
        to: to.into(),
        lost_at_us,
        bytes: 17,
    };
    let events = vec![
        at(0, "client-0", EventKind::Connect { to: "server".into(), ok: true, since_us: 0 }),
        at(0, "client-1", EventKind::Connect { to: "server".into(), ok: true, since_us: 0 }),
        fault_event(S, &scenario, 0, Phase::Start, Scope::ClientLinks),
        fault_event(2 * S, &scenario, 0, Phase::Acted, link("client-0")),
        fault_event(2 * S, &scenario, 0, Phase::Acted, link("client-1")),
        fault_event(2 * S, &scenario, 0, Phase::Heal, Scope::ClientLinks),
        // client-0's connection keeps reading answers until 4 s: it dies a keepalive later.
        at(4 * S, "client-0", EventKind::Received { call: 50, seq: 0, message: String::new() }),
        at(100 * S, "sim", lost("server", "client-0", S + S / 2)),
    ];
    let of = |client: &str, mut r: Record| {
        r.call.client = client.to_owned();
        r
    };
    let cases: Vec<(&str, Record, Vec<Property>)> = vec![
        (
            "the broken connection, after the loss",
            of("client-0", failed_at(1, S + S / 2, Code::Unavailable)),
            vec![],
        ),
        (
            "the broken connection, before the loss",
            of("client-0", failed_at(1, S + S / 4, Code::Unavailable)),
            vec![Property::Status],
        ),
        (
            "the broken connection, dying after its last read",
            of("client-0", failed_at(1, 4 * S + GRACE - 10_000, Code::Unavailable)),
            vec![],
        ),
        (
            "the broken connection, failing a grace after its last read",
            of("client-0", failed_at(1, 4 * S + GRACE + 10_000, Code::Unavailable)),
            vec![Property::Status],
        ),
        (
            "a connection that survived",
            of("client-1", failed_at(1, S + S / 2, Code::Unavailable)),
            vec![Property::Status],
        ),
        (
            "a connection that survived, a missed deadline",
            {
                let mut r = of("client-1", failed_at(1, S, Code::DeadlineExceeded));
                r.call.deadline_us = S / 2;
                r.call.end_us = S + S / 2;
                r
            },
            vec![],
        ),
    ];
    for (what, r, want) in cases {
        assert_eq!(properties(&scenario, &[r], &events), want, "{what}");
    }
}

/// The share of a run in which a failure could be excused: fault windows plus the grace, merged.
#[test]
fn excusable_time_is_the_union_of_windows_and_their_grace() {
    use faultline_sim::check::{Window, excusable_us};
    let w = |start_us, end_us| Window {
        fault: "hold",
        scope: Scope::ClientLinks,
        start_us,
        end_us,
        codes: vec![],
        at: None,
    };
    assert_eq!(excusable_us(&[], 10, 1_000), 0);
    assert_eq!(excusable_us(&[w(100, 200)], 10, 1_000), 110);
    // Overlapping and nested windows count once; the run's end cuts them.
    assert_eq!(excusable_us(&[w(100, 200), w(150, 400), w(160, 170)], 10, 1_000), 310);
    assert_eq!(excusable_us(&[w(900, u64::MAX)], 10, 1_000), 100);
}

#[test]
fn a_call_its_own_client_cancelled_is_always_explained() {
    let mut r = failed_at(1, 0, Code::Cancelled);
    r.call.cancelled_by_client = true;
    assert_eq!(properties(&Scenario::new("smoke"), &[r], &[]), vec![]);
}

#[test]
fn deadlines_are_enforced_by_the_stack_and_every_call_ends() {
    let smoke = Scenario::new("smoke");
    let mut late = record(CallInput::SayHello { name: "x".into() }, vec![], Code::DeadlineExceeded);
    late.call.end_us = late.call.deadline_us;
    // The deadline itself is not explained by any fault in a clean run: it is a failure too.
    assert_eq!(properties(&smoke, &[late.clone()], &[]), vec![Property::Status]);
    late.call.end_us = late.call.deadline_us + 6_000 + 1;
    assert_eq!(properties(&smoke, &[late.clone()], &[]), vec![Property::Status, Property::Deadline]);
    late.call.code = Code::Unavailable;
    late.call.end_us = late.call.deadline_us + 2_000;
    assert_eq!(properties(&smoke, &[late], &[]), vec![Property::Status, Property::Deadline]);
    let start = Event {
        at_us: 5,
        host: "client-0".into(),
        kind: EventKind::CallStart { call: 3, method: "RouteChat".into(), deadline_us: 2 * S },
    };
    assert_eq!(properties(&smoke, &[], &[start]), vec![Property::Deadline]);
}

fn handler(call: u64, at_us: u64, running: bool) -> Event {
    Event { at_us, host: "server".into(), kind: EventKind::Handler { call, running } }
}

#[test]
fn a_handler_that_outlives_its_call_is_a_leak() {
    let smoke = Scenario::new("smoke");
    let ok =
        || record(CallInput::SayHello { name: "x".into() }, vec![Reply::Hello("Hello, x!".into())], Code::Ok);
    let ended_in_time = [handler(1, 1_000, true), handler(1, 10_000 + GRACE, false)];
    assert_eq!(properties(&smoke, &[ok()], &ended_in_time), vec![]);
    let lingered = [handler(1, 1_000, true), handler(1, 10_000 + GRACE + 1, false)];
    assert_eq!(properties(&smoke, &[ok()], &lingered), vec![Property::HandlerLeak]);
    let never = [handler(1, 1_000, true)];
    assert_eq!(properties(&smoke, &[ok()], &never), vec![Property::HandlerLeak]);
}

#[test]
fn elapsed_time_is_the_whole_seconds_the_handler_ran() {
    let smoke = Scenario::new("smoke");
    let route = CallInput::RecordRoute { points: vec![(0, 0)] };
    let with = |elapsed_time| {
        let summary = Reply::Summary { point_count: 1, feature_count: 0, distance: 0, elapsed_time };
        let mut r = record(route.clone(), vec![summary], Code::Ok);
        r.call.end_us = 3 * S;
        r.call.deadline_us = 10 * S;
        r
    };
    let ran = |us: u64| [handler(1, 10_000, true), handler(1, 10_000 + us, false)];
    assert_eq!(properties(&smoke, &[with(2)], &ran(2_700_000)), vec![]);
    assert_eq!(properties(&smoke, &[with(3)], &ran(2_700_000)), vec![SUMMARY], "rounded up");
    assert_eq!(properties(&smoke, &[with(1)], &ran(2_700_000)), vec![SUMMARY], "a second short");
    // On a second's edge, either side of it (two ticks of slack).
    assert_eq!(properties(&smoke, &[with(1)], &ran(2_000_500)), vec![]);
    assert_eq!(properties(&smoke, &[with(2)], &ran(2_000_500)), vec![]);
}

/// The tutorial, with an oracle that panics on every history.
struct PanickingOracle(Tutorial);

impl System for PanickingOracle {
    type Op = CallInput;
    type Reply = Reply;

    fn routes(&self, start: &faultline_sim::ServerStart) -> tonic::service::Routes {
        self.0.routes(start)
    }

    fn generate(&self, rng: &mut faultline_sim::rand_chacha::ChaCha8Rng) -> CallInput {
        self.0.generate(rng)
    }

    async fn perform(&self, op: CallInput, call: faultline_sim::Call<Reply>) -> Result<(), tonic::Status> {
        self.0.perform(op, call).await
    }

    fn check_history(&self, _: &[Record]) -> Vec<faultline_sim::Violation> {
        panic!("the oracle's own bug");
    }
}

/// An oracle that panics is a `panic` finding of the run, with its seed, not a crash of the
/// sweep.
#[test]
fn an_oracle_that_panics_is_a_panic_finding_of_its_run() {
    let system = std::sync::Arc::new(PanickingOracle(Tutorial::default()));
    let report = faultline_sim::run(&system, &Scenario::new("smoke").calls_per_client(2), 3);
    assert_eq!(report.seed, 3);
    let panics: Vec<_> = report.violations.iter().filter(|v| v.property == Property::Panic).collect();
    assert_eq!(panics.len(), 1, "{:?}", report.violations);
    assert!(panics[0].detail.contains("the oracle's own bug"), "{}", panics[0]);
}

/// DEADLINE_EXCEEDED long before the deadline is the server giving up on its own (an idle
/// timeout, say), unless a fault injected that status into the call.
#[test]
fn a_deadline_exceeded_well_before_the_deadline_is_a_deadline_violation() {
    let early = |id| {
        let mut r = failed_at(id, S, Code::DeadlineExceeded);
        r.call.deadline_us = 5 * S;
        r.call.end_us = 2 * S;
        r
    };
    assert_eq!(
        properties(&Scenario::new("smoke"), &[early(1)], &[]),
        vec![Property::Status, Property::Deadline]
    );
    let injected = Scenario::new("t").fault(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Fault::TrailersOnly { code: 4, every: 1 },
    );
    let acted = [fault_event(2 * S, &injected, 0, Phase::Acted, Scope::Call { call: 1 })];
    assert_eq!(properties(&injected, &[early(1)], &acted), vec![]);
    // On another call, the injection excuses nothing.
    assert_eq!(properties(&injected, &[early(2)], &acted), vec![Property::Status, Property::Deadline]);
}

/// The tutorial with a bug users write: state outside the simulation (a process-wide counter)
/// that decides what a client does, so the same seed does something else the second time.
struct Drifting(Tutorial, std::sync::atomic::AtomicU64);

impl System for Drifting {
    type Op = CallInput;
    type Reply = Reply;

    fn routes(&self, start: &faultline_sim::ServerStart) -> tonic::service::Routes {
        self.0.routes(start)
    }

    fn generate(&self, rng: &mut faultline_sim::rand_chacha::ChaCha8Rng) -> CallInput {
        let n = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let op = self.0.generate(rng);
        if n == 0 { CallInput::SayHello { name: "only the first run".into() } } else { op }
    }

    async fn perform(&self, op: CallInput, call: faultline_sim::Call<Reply>) -> Result<(), tonic::Status> {
        self.0.perform(op, call).await
    }
}

/// A system that does something else on the same seed fails `determinism`, end to end, with the
/// first event that differs.
#[test]
fn a_system_that_drifts_between_runs_of_a_seed_fails_determinism() {
    let system = std::sync::Arc::new(Drifting(Tutorial::default(), Default::default()));
    let smoke = Scenario::new("smoke").clients(1).calls_per_client(3);
    let report = faultline_sim::sweep::run_checked(&system, &smoke, 5, true);
    let drift: Vec<_> = report.violations.iter().filter(|v| v.property == Property::Determinism).collect();
    assert_eq!(drift.len(), 1, "{:?}", report.violations);
    assert!(report.nondeterministic());
}

/// An operation that retries sends its call id again: each attempt's handler is watched, so a
/// first attempt whose handler lingers is a leak even though the retry's ended in time.
#[test]
fn every_attempt_of_a_retried_call_has_its_handler_watched() {
    let smoke = Scenario::new("smoke");
    let ok =
        || record(CallInput::SayHello { name: "x".into() }, vec![Reply::Hello("Hello, x!".into())], Code::Ok);
    let first_lingers = [
        handler(1, 1_000, true),
        handler(1, 2_000, true),
        handler(1, 3_000, false),
        handler(1, 10_000 + GRACE + 1, false),
    ];
    // The first end closes the first attempt: the one that started at 1 ms ended at 3 ms; the
    // second ran past the grace.
    assert_eq!(properties(&smoke, &[ok()], &first_lingers), vec![Property::HandlerLeak]);
    let never = [handler(1, 1_000, true), handler(1, 2_000, true), handler(1, 3_000, false)];
    assert_eq!(properties(&smoke, &[ok()], &never), vec![Property::HandlerLeak]);
    let both = [
        handler(1, 1_000, true),
        handler(1, 2_000, true),
        handler(1, 3_000, false),
        handler(1, 4_000, false),
    ];
    assert_eq!(properties(&smoke, &[ok()], &both), vec![]);
}

/// A deadline's slack is a tick and the slowest latency on the call's own path while it lived:
/// a latency fault elsewhere in the run widens nobody else's.
#[test]
fn deadline_slack_is_the_latency_on_the_calls_path() {
    let scenario = Scenario::new("t").fault(
        Duration::from_secs(10),
        Duration::from_secs(1),
        Fault::Latency { latency_ms: 200, jitter_ms: 0 },
    );
    let events = [
        fault_event(10 * S, &scenario, 0, Phase::Start, Scope::ClientLinks),
        fault_event(11 * S, &scenario, 0, Phase::Acted, Scope::Link { client: "client-0".into() }),
        fault_event(11 * S, &scenario, 0, Phase::Heal, Scope::ClientLinks),
    ];
    let late = |start_us| {
        let mut r = failed_at(1, start_us, Code::DeadlineExceeded);
        r.call.deadline_us = 300_000;
        r.call.end_us = start_us + 300_000 + 100_000;
        r
    };
    let net = World::new(&scenario, 0).net;
    let judged = |r: Record| -> Vec<Property> {
        check(&Tutorial::default(), &scenario, &[r], &events, &net, 100 * S)
            .into_iter()
            .map(|v| v.property)
            .collect()
    };
    // 100 ms past its deadline in clean time: more than a tick and the 5 ms links.
    assert_eq!(judged(late(S)), vec![Property::Status, Property::Deadline]);
    // The same, on a link slowed to 200 ms: within the slack (and the stall excuses the miss).
    assert_eq!(judged(late(10 * S + S / 2)), vec![]);
}
