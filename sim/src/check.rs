//! The generic properties: every call's record and the run's events against what the faults —
//! where and when they acted — can explain; then the system's own oracle
//! ([`System::check_call`], [`System::check_history`]).
//!
//! The rules, exactly (docs/properties.md says the same):
//!
//! - **status**: a call that failed (not cancelled by its own client) is explained only by a
//!   fault window whose scope covers the call (client links and the server host cover every
//!   call; a proxy connection covers its client's calls; a reset stream, a Trailers-Only answer
//!   or a slowed handler covers its one call), that may cause the call's code (`Fault::may_cause`),
//!   and that overlaps the call's lifetime, the window extended by the grace
//!   (`NetParams::grace`). Anything else is a violation naming the call, its code and time,
//!   and the nearest fault window. So a call in a clean window must succeed.
//! - the oracle's properties (the tutorial's **stream-order**, **summary**, **chat**; a user's
//!   own): whatever the system's model and invariants say.
//! - **deadline**: no call outlives its deadline by more than one tick plus the slowest link
//!   latency; every call ends; a call that ran past its deadline ends DEADLINE_EXCEEDED.
//! - **handler-leak**: no server handler (its future, response stream and request) outlives
//!   its call by more than the grace.
//! - **recovery**, **panic**, **determinism** are judged by the runner and the sweep.

use std::collections::BTreeMap;
use std::time::Duration;

use tonic::Code;

pub use faultline_model::report::{Property, Violation};

use crate::fault::{Fault, Injector, NetParams};
use crate::scenario::Scenario;
use crate::system::{CallContext, CallRecord, CallSummary, System};
use crate::trace::{Event, EventKind, Phase, Scope};

/// A stretch of time during which a fault may have touched calls in its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The fault's name.
    pub fault: &'static str,
    /// Which calls it may have touched.
    pub scope: Scope,
    /// When it started acting, simulated microseconds.
    pub start_us: u64,
    /// When it stopped (before the grace), simulated microseconds.
    pub end_us: u64,
    /// The codes it may cause.
    pub codes: Vec<Code>,
}

/// Every fault window of a run, from the injectors' events: a network or host fault's window
/// runs from its start to its heal; a server or proxy fault acts call by call, connection by
/// connection, so each of its acts is a window of its own (frame delay and reorder keep acting
/// on their connection until they heal).
pub fn windows<O>(scenario: &Scenario<O>, events: &[Event], net: &NetParams) -> Vec<Window> {
    let mut open: BTreeMap<usize, (u64, Scope)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        let EventKind::Fault(f) = &e.kind else { continue };
        let Some(timed) = scenario.faults.get(f.index) else { continue };
        let codes = timed.fault.may_cause(net, Duration::from_millis(timed.for_ms));
        match (timed.fault.injector(), f.phase) {
            (Injector::Network, Phase::Start) => {
                open.insert(f.index, (e.at_us, f.scope.clone()));
            }
            (Injector::Network, Phase::Heal) => {
                if let Some((start_us, scope)) = open.remove(&f.index) {
                    out.push(Window { fault: f.fault, scope, start_us, end_us: e.at_us, codes });
                }
            }
            (Injector::Server | Injector::Proxy, Phase::Acted) => {
                let continuous = matches!(timed.fault, Fault::FrameDelay { .. } | Fault::FrameReorder { .. });
                let end_us = if continuous { timed.heal_us().max(e.at_us) } else { e.at_us };
                out.push(Window { fault: f.fault, scope: f.scope.clone(), start_us: e.at_us, end_us, codes });
            }
            _ => {}
        }
    }
    // A window still open when the run ended lasts to its end.
    for (index, (start_us, scope)) in open {
        let timed = &scenario.faults[index];
        let codes = timed.fault.may_cause(net, Duration::from_millis(timed.for_ms));
        out.push(Window { fault: timed.fault.name(), scope, start_us, end_us: u64::MAX, codes });
    }
    out
}

/// Checks every record and the run's events, then the system's oracle; returns the violations,
/// in call order, the history's last.
pub fn check<S: System>(
    system: &S,
    scenario: &Scenario<S::Op>,
    records: &[CallRecord<S::Op, S::Reply>],
    events: &[Event],
    net: &NetParams,
    run_end_us: u64,
) -> Vec<Violation> {
    let windows = windows(scenario, events, net);
    let handlers = handler_lives(events);
    let grace = net.grace().as_micros() as u64;
    let mut out = Vec::new();
    for r in records {
        let c = &r.call;
        let mut fail = |property, detail: String| out.push(Violation { property, call: Some(c.id), detail });
        check_status(c, &windows, grace, &mut fail);
        check_deadline(c, net, &mut fail);
        let context = CallContext { net, handler: handlers.get(&c.id).copied() };
        system.check_call(r, &context, &mut fail);
        check_handler(c, handlers.get(&c.id), grace, run_end_us, &mut fail);
    }
    let summaries: Vec<&CallSummary> = records.iter().map(|r| &r.call).collect();
    out.extend(never_ended(events, &summaries));
    out.extend(system.check_history(records));
    out
}

/// When each call's handler started and ended (`None`: still running at the end of the run).
fn handler_lives(events: &[Event]) -> BTreeMap<u64, (u64, Option<u64>)> {
    let mut lives = BTreeMap::new();
    for e in events {
        if let EventKind::Handler { call, running } = e.kind {
            if running {
                lives.insert(call, (e.at_us, None));
            } else if let Some((_, end)) = lives.get_mut(&call) {
                end.get_or_insert(e.at_us);
            }
        }
    }
    lives
}

/// `us` as seconds, for violation texts.
pub fn seconds(us: u64) -> String {
    if us == u64::MAX { "the end".to_owned() } else { format!("{:.3}s", us as f64 / 1e6) }
}

fn check_status(r: &CallSummary, windows: &[Window], grace: u64, fail: &mut impl FnMut(Property, String)) {
    if r.code == Code::Ok || (r.code == Code::Cancelled && r.cancelled_by_client) {
        return;
    }
    let overlaps = |w: &Window| r.start_us <= w.end_us.saturating_add(grace) && w.start_us <= r.end_us;
    let explained =
        windows.iter().any(|w| w.scope.covers(&r.client, r.id) && w.codes.contains(&r.code) && overlaps(w));
    if explained {
        return;
    }
    let distance = |w: &Window| {
        if overlaps(w) {
            0
        } else if w.start_us > r.end_us {
            w.start_us - r.end_us
        } else {
            r.start_us - w.end_us.saturating_add(grace)
        }
    };
    let nearest = windows.iter().min_by_key(|w| (distance(w), w.start_us)).map_or_else(
        || "no fault acted in this run".to_owned(),
        |w| {
            let why = if !w.scope.covers(&r.client, r.id) {
                "on another path".to_owned()
            } else if !w.codes.contains(&r.code) {
                format!("which cannot cause {:?}", r.code)
            } else {
                format!("{:.3}s away", distance(w) as f64 / 1e6)
            };
            format!(
                "nearest fault: {} on {} {}..{} (+{} grace), {why}",
                w.fault,
                w.scope,
                seconds(w.start_us),
                seconds(w.end_us),
                seconds(grace)
            )
        },
    );
    fail(
        Property::Status,
        format!(
            "{} failed with {:?} ({:?}) during {}..{}, where no fault that acted on its path can explain it; {nearest}",
            r.method,
            r.code,
            r.message,
            seconds(r.start_us),
            seconds(r.end_us)
        ),
    );
}

fn check_deadline(r: &CallSummary, net: &NetParams, fail: &mut impl FnMut(Property, String)) {
    let lasted = r.end_us.saturating_sub(r.start_us);
    let slack = (net.tick + net.max_latency).as_micros() as u64;
    if lasted > r.deadline_us + slack {
        fail(
            Property::Deadline,
            format!(
                "lasted {lasted}us, past its {}us deadline by more than a tick and a link latency ({slack}us)",
                r.deadline_us
            ),
        );
    }
    let tick = net.tick.as_micros() as u64;
    if lasted > r.deadline_us + tick && !r.cancelled_by_client && r.code != Code::DeadlineExceeded {
        fail(
            Property::Deadline,
            format!("ran past its deadline but ended {:?}, not DeadlineExceeded", r.code),
        );
    }
}

fn check_handler(
    r: &CallSummary,
    life: Option<&(u64, Option<u64>)>,
    grace: u64,
    run_end_us: u64,
    fail: &mut impl FnMut(Property, String),
) {
    let Some(&(_, end)) = life else { return };
    match end {
        Some(end) if end > r.end_us + grace => fail(
            Property::HandlerLeak,
            format!(
                "its server handler ran until {}, {}ms after the call ended {:?} at {} (bound: the grace, {}ms)",
                seconds(end),
                (end - r.end_us) / 1000,
                r.code,
                seconds(r.end_us),
                grace / 1000
            ),
        ),
        None if run_end_us > r.end_us + grace => fail(
            Property::HandlerLeak,
            format!(
                "its server handler was still running at the end of the run ({}), {}ms after the call ended {:?}",
                seconds(run_end_us),
                (run_end_us - r.end_us) / 1000,
                r.code
            ),
        ),
        _ => {}
    }
}

/// Calls that started and never ended.
fn never_ended(events: &[Event], records: &[&CallSummary]) -> Vec<Violation> {
    let mut started: BTreeMap<u64, (u64, &str, u64)> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::CallStart { call, method, deadline_us } => {
                started.insert(*call, (e.at_us, method.as_str(), *deadline_us));
            }
            EventKind::CallEnd { call, .. } => {
                started.remove(call);
            }
            _ => {}
        }
    }
    started
        .into_iter()
        .filter(|(call, _)| !records.iter().any(|r| r.id == *call))
        .map(|(call, (at, method, deadline))| Violation {
            property: Property::Deadline,
            call: Some(call),
            detail: format!(
                "{method} started at {} with a {}ms deadline and never ended",
                seconds(at),
                deadline / 1000
            ),
        })
        .collect()
}
