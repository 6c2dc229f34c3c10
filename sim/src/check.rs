//! The generic properties: every call's record and the run's events against what the faults —
//! where and when they acted — can explain; then the system's own oracle
//! ([`System::check_call`], [`System::check_history`]).
//!
//! The rules, exactly (docs/properties.md says the same):
//!
//! - **status**: a call that failed (not cancelled by its own client) is excused only by a fault
//!   that acted on its path — a network fault on its client's link that met traffic there while
//!   it lasted, a crash of its server that cut connections or met writes, a proxy fault on its
//!   connection, a reset, Trailers-Only answer or slowed handler of the call itself (a call
//!   without a call id matches none of those) — that may cause the call's code
//!   (`Fault::may_cause`: a stall the connection survives causes DEADLINE_EXCEEDED only), and
//!   only if the call failed while that act lasted or within the grace after it
//!   (`NetParams::grace`); a missed deadline, if the act came during the call's life (a stall
//!   delays all that follows it). Anything else is a
//!   violation naming the call, its code and time, and the nearest fault window. So a call
//!   that fails in clean time fails the run, however long it lived through faults before.
//! - the oracle's properties (the tutorial's **stream-order**, **summary**, **chat**; a user's
//!   own): whatever the system's model and invariants say.
//! - **deadline**: no call outlives its deadline by more than one tick plus the slowest link
//!   latency; every call ends; a call that ran past its deadline ends DEADLINE_EXCEEDED; no call
//!   ends DEADLINE_EXCEEDED sooner than that before its deadline.
//! - **handler-leak**: no server handler (its future, response stream and request) outlives
//!   its call by more than the grace.
//! - **recovery**, **panic**, **determinism** are judged by the runner and the sweep.

use std::collections::BTreeMap;
use std::time::Duration;

use tonic::Code;

pub use faultline_model::report::{Property, Violation};

use crate::fault::BROKEN_CONNECTION;
use crate::fault::{DELAY, Fault, Injector, NetParams};
use crate::scenario::Scenario;
use crate::system::{CallContext, CallRecord, CallSummary, System};
use crate::topology::Topology;
use crate::trace::{CallPath, Event, EventKind, Phase, Scope, hops};

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
    /// In a cluster, the node a server or proxy fault acted at (a proxy's: the node behind it).
    pub at: Option<String>,
}

impl Window {
    /// Whether the call on `path` is inside this window's scope. In a cluster, a proxy's act on
    /// a connection covers the calls its dialer made to the proxy's node only.
    pub fn on_path(&self, path: &CallPath<'_>) -> bool {
        let to_this_node = match (&self.scope, &self.at) {
            (Scope::Connection { client, .. }, Some(node)) => {
                path.hops.iter().any(|(from, to)| from == client && to == node)
            }
            _ => true,
        };
        self.scope.covers(path) && to_this_node
    }
}

/// Every fault window of a run, from the injectors' acts: a network or host fault's act covers
/// its whole window, from its start to its heal, on the link (or host) it met traffic on; a fault
/// that met no traffic on a path has no window there. A server or proxy fault acts call by call,
/// connection by connection, so each of its acts is a window of its own (frame delay and
/// reorder keep acting on their connection until they heal).
pub fn windows<O>(
    scenario: &Scenario<O>,
    events: &[Event],
    net: &NetParams,
    topology: &Topology,
) -> Vec<Window> {
    let mut started: BTreeMap<usize, u64> = BTreeMap::new();
    let mut open: BTreeMap<usize, Scope> = BTreeMap::new();
    // Failed connection attempts, (where the attempt's scope, began, failed): a network fault
    // met the host whose attempt it overlapped, though no byte of theirs crossed a link.
    let refused: Vec<(Scope, u64, u64)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Connect { ok: false, since_us, to } => {
                Some((attempt_scope(topology, &e.host, to), *since_us, e.at_us))
            }
            _ => None,
        })
        .collect();
    // Connections that lost bytes written under a link fault: (writer, reader, when), proxies
    // standing for their servers.
    let lost: Vec<(&str, &str, u64)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Lost { from, to, lost_at_us, .. } => {
                Some((topology.logical(from), topology.logical(to), *lost_at_us))
            }
            _ => None,
        })
        .collect();
    // Whether a loss was on the link of `scope`: a client's (any connection of it), or a
    // cluster's link between two hosts.
    let on = |scope: &Scope, from: &str, to: &str| match scope {
        Scope::Link { client } => from == client || to == client,
        Scope::Between { a, b } => (from == a && to == b) || (from == b && to == a),
        _ => false,
    };
    let mut out = Vec::new();
    for e in events {
        let EventKind::Fault(f) = &e.kind else { continue };
        let Some(timed) = scenario.faults.get(f.index) else { continue };
        let codes = timed.fault.may_cause(net, Duration::from_millis(timed.for_ms));
        match (timed.fault.injector(), f.phase) {
            (Injector::Network, Phase::Start) => {
                started.insert(f.index, e.at_us);
                open.insert(f.index, f.scope.clone());
            }
            (Injector::Network, Phase::Acted) => {
                let start_us = started.get(&f.index).copied().unwrap_or(e.at_us);
                let scope = f.scope.clone();
                if !matches!(scope, Scope::Link { .. } | Scope::Between { .. }) {
                    out.push(Window { fault: f.fault, scope, start_us, end_us: e.at_us, codes, at: None });
                    continue;
                }
                // A stall (hold, latency) breaks a connection by outlasting keepalive, which
                // `may_cause` judges from its length; a partition or a lossy link breaks it by
                // dropping bytes.
                let drops = matches!(timed.fault, Fault::Partition { .. } | Fault::Loss { .. });
                if !drops || !codes.contains(&Code::Unavailable) {
                    out.push(Window { fault: f.fault, scope, start_us, end_us: e.at_us, codes, at: None });
                    continue;
                }
                // A partition or loss broke this client's connection only if bytes written on
                // it while the fault was on never arrived; otherwise the connection survived a
                // stall, which excuses delay, never failure.
                let delay: Vec<Code> = codes.iter().copied().filter(|c| DELAY.contains(c)).collect();
                // A partition also drops what was in flight when it began: written a link
                // latency before, or since a hold on the link began.
                let held_since = scenario
                    .faults
                    .iter()
                    .filter(|h| h.fault == Fault::Hold && (h.start_us()..h.heal_us()).contains(&start_us))
                    .map(|h| h.start_us())
                    .min();
                let since = start_us.saturating_sub(net.max_latency.as_micros() as u64);
                let since = held_since.map_or(since, |h| h.min(since));
                let broken = lost
                    .iter()
                    .filter(|(from, to, at)| on(&scope, from, to) && (since..=e.at_us).contains(at))
                    .map(|(_, _, at)| *at)
                    .min();
                if let Some(lost_at) = broken {
                    let scope = scope.clone();
                    out.push(Window {
                        fault: f.fault,
                        scope,
                        start_us: lost_at,
                        end_us: e.at_us,
                        codes,
                        at: None,
                    });
                }
                out.push(Window { fault: f.fault, scope, start_us, end_us: e.at_us, codes: delay, at: None });
            }
            (Injector::Network, Phase::Heal) => {
                open.remove(&f.index);
                let start_us = started.get(&f.index).copied().unwrap_or(e.at_us);
                // An attempt that began while the fault was on fails when it gives up, which
                // may be later (tonic reports it to the next call it makes).
                let mut met: BTreeMap<&Scope, u64> = BTreeMap::new();
                for (scope, _, failed) in refused.iter().filter(|r| r.1 <= e.at_us && r.2 >= start_us) {
                    let end = met.entry(scope).or_insert(e.at_us);
                    *end = (*end).max(*failed);
                }
                for (scope, end_us) in met {
                    let codes = codes.clone();
                    out.push(Window {
                        fault: f.fault,
                        scope: scope.clone(),
                        start_us,
                        end_us,
                        codes,
                        at: None,
                    });
                }
            }
            (Injector::Server | Injector::Proxy, Phase::Acted) => {
                let end_us = match timed.fault {
                    // Frame delay and reorder keep acting on their connection until they heal.
                    Fault::FrameDelay { .. } | Fault::FrameReorder { .. } => timed.heal_us().max(e.at_us),
                    // A slowed handler is held for its delay.
                    Fault::SlowHandler { delay_ms } => e.at_us.saturating_add(delay_ms.saturating_mul(1000)),
                    // A GOAWAY'd connection serves its open streams until the proxy closes it.
                    Fault::GoAway { .. } => {
                        e.at_us.saturating_add(crate::proxy::GOAWAY_GRACE.as_micros() as u64)
                    }
                    _ => e.at_us,
                };
                let at = topology.is_cluster().then(|| topology.logical(&e.host).to_owned());
                out.push(Window {
                    fault: f.fault,
                    scope: f.scope.clone(),
                    start_us: e.at_us,
                    end_us,
                    codes,
                    at,
                });
            }
            _ => {}
        }
    }
    // A connection a link fault broke, and which the client still had when the fault healed,
    // lives on half dead for as long as answers to calls sent before the break keep arriving
    // (each resets keepalive's idle timer), and dies a keepalive later: the act lasts until the
    // client's last read on it, the grace covers the rest.
    for w in out.iter_mut() {
        let client = match &w.scope {
            Scope::Link { client } => client.clone(),
            // In a cluster, a client's link to a node (a node's own connections are not
            // followed: the grace covers their keepalive).
            Scope::Between { a, b } if topology.clients.contains(a) => a.clone(),
            Scope::Between { a, b } if topology.clients.contains(b) => b.clone(),
            _ => continue,
        };
        let client = &client;
        let connected_at = events
            .iter()
            .take_while(|e| e.at_us <= w.end_us)
            .filter(|e| e.host == *client && matches!(e.kind, EventKind::Connect { ok: true, .. }))
            .last()
            .map_or(0, |e| e.at_us);
        let still_broken = lost
            .iter()
            .any(|(from, to, at)| on(&w.scope, from, to) && (connected_at..=w.end_us).contains(at));
        if w.codes.contains(&Code::Unavailable) && still_broken {
            w.end_us = w.end_us.max(last_read_on_old_connection(events, client, w.end_us));
        }
    }
    // A network fault still on when the run ended (its acts are counted at its heal) may have
    // met anything of its scope until the end.
    for (index, scope) in open {
        let timed = &scenario.faults[index];
        let codes = timed.fault.may_cause(net, Duration::from_millis(timed.for_ms));
        let start_us = started[&index];
        out.push(Window { fault: timed.fault.name(), scope, start_us, end_us: u64::MAX, codes, at: None });
    }
    out
}

/// What a failed connection attempt of `host` to `to` (a host it dialed) may explain: with one
/// server, its client's link (the proxy's own attempts: the server's); in a cluster, the link
/// it tried (a proxy's own attempts: its node).
fn attempt_scope(topology: &Topology, host: &str, to: &str) -> Scope {
    let proxy = topology.logical(host) != host;
    match (topology.is_cluster(), proxy) {
        (false, false) => Scope::Link { client: host.to_owned() },
        (false, true) => Scope::Server,
        (true, false) => Scope::between(host, topology.logical(to)),
        (true, true) => Scope::Node { node: topology.logical(host).to_owned() },
    }
}

/// When `client` last read anything (a message, a call's end) on the connection it had at
/// `since_us`: before its next successful connect, which replaced that connection.
fn last_read_on_old_connection(events: &[Event], client: &str, since_us: u64) -> u64 {
    let mut last = since_us;
    for e in events.iter().filter(|e| e.at_us > since_us && e.host == client) {
        match e.kind {
            EventKind::Connect { ok: true, .. } => break,
            // A failed call's end is no read: it may be the connection's death itself.
            EventKind::Received { .. } | EventKind::CallEnd { code: Code::Ok, .. } => last = e.at_us,
            _ => {}
        }
    }
    last
}

/// How much of `0..run_end_us` lies inside some window plus the grace: the time in which a
/// failed call could be excused. The rest is clean time, in which every call must succeed.
pub fn excusable_us(windows: &[Window], grace: u64, run_end_us: u64) -> u64 {
    let mut spans: Vec<(u64, u64)> = windows
        .iter()
        .map(|w| (w.start_us.min(run_end_us), w.end_us.saturating_add(grace).min(run_end_us)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let (mut total, mut reach) = (0, 0);
    for (a, b) in spans {
        let a = a.max(reach);
        if b > a {
            total += b - a;
            reach = b;
        }
    }
    total
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
    let windows = windows(scenario, events, net, &Topology::of(system.nodes(), scenario));
    check_against(system, scenario, records, events, net, &windows, run_end_us)
}

/// [`check`] against the run's fault acts, already computed with [`windows`] (the runner also
/// measures its excusable time from them).
pub fn check_against<S: System>(
    system: &S,
    scenario: &Scenario<S::Op>,
    records: &[CallRecord<S::Op, S::Reply>],
    events: &[Event],
    net: &NetParams,
    windows: &[Window],
    run_end_us: u64,
) -> Vec<Violation> {
    let handlers = handler_lives(events);
    let hops = hops(events);
    let grace = net.grace().as_micros() as u64;
    let mut out = Vec::new();
    for r in records {
        let c = &r.call;
        let path =
            CallPath { client: &c.client, call: c.id, hops: hops.get(&c.id).map_or(&[][..], Vec::as_slice) };
        let mut fail = |property, detail: String| out.push(Violation { property, call: Some(c.id), detail });
        check_status(c, &path, windows, net, grace, &mut fail);
        // The slack a deadline gets: a tick and the slowest latency on the call's path while
        // it lived (a latency fault's, if one acted on its link then).
        let slowed = windows.iter().any(|w| {
            w.fault == "latency"
                && w.on_path(&path)
                && w.start_us <= c.end_us
                && c.start_us <= w.end_us.saturating_add(grace)
        });
        let slack = if slowed {
            *net
        } else {
            NetParams {
                max_latency: Duration::from_millis(scenario.max_latency_ms).min(net.max_latency),
                ..*net
            }
        };
        check_deadline(c, &path, &slack, windows, grace, &mut fail);
        let attempts = handlers.get(&c.id).map_or(&[][..], Vec::as_slice);
        let context = CallContext { net, handler: attempts.last().copied() };
        system.check_call(r, &context, &mut fail);
        for life in attempts {
            check_handler(c, life, grace, run_end_us, &mut fail);
        }
    }
    let summaries: Vec<&CallSummary> = records.iter().map(|r| &r.call).collect();
    out.extend(never_ended(events, &summaries));
    out.extend(system.check_history(records));
    out
}

/// The lives of each call's server handlers, one per RPC attempt (an operation that retries
/// sends its call id again), in start order: when each started and ended (`None`: still
/// running at the end of the run). An end closes the attempt that started first.
fn handler_lives(events: &[Event]) -> BTreeMap<u64, Vec<(u64, Option<u64>)>> {
    let mut lives: BTreeMap<u64, Vec<(u64, Option<u64>)>> = BTreeMap::new();
    for e in events {
        if let EventKind::Handler { call, running } = e.kind {
            let attempts = lives.entry(call).or_default();
            if running {
                attempts.push((e.at_us, None));
            } else if let Some((_, end)) = attempts.iter_mut().find(|(_, end)| end.is_none()) {
                *end = Some(e.at_us);
            }
        }
    }
    lives
}

/// `us` as seconds, for violation texts.
pub fn seconds(us: u64) -> String {
    if us == u64::MAX { "the end".to_owned() } else { format!("{:.3}s", us as f64 / 1e6) }
}

/// How far past or short of its deadline a call may end: a tick and the slowest link latency.
fn deadline_slack(net: &NetParams) -> u64 {
    (net.tick + net.max_latency).as_micros() as u64
}

/// The call ended DEADLINE_EXCEEDED well before its deadline.
fn early_deadline(r: &CallSummary, net: &NetParams) -> bool {
    r.code == Code::DeadlineExceeded
        && r.end_us.saturating_sub(r.start_us) + deadline_slack(net) < r.deadline_us
}

/// When a failed call failed: when it ended, or, for a missed deadline, when its deadline fell.
/// A DEADLINE_EXCEEDED well before the deadline failed when it ended.
fn failed_at(r: &CallSummary, net: &NetParams) -> u64 {
    if r.code == Code::DeadlineExceeded && !early_deadline(r, net) {
        r.start_us + r.deadline_us
    } else {
        r.end_us
    }
}

fn check_status(
    r: &CallSummary,
    path: &CallPath<'_>,
    windows: &[Window],
    net: &NetParams,
    grace: u64,
    fail: &mut impl FnMut(Property, String),
) {
    if r.code == Code::Ok || (r.code == Code::Cancelled && r.cancelled_by_client) {
        return;
    }
    let at = failed_at(r, net);
    // A missed deadline is excused by a stall on its path at any time of its life: a stall
    // delays everything after it, so the deadline may fall long after the stall. Any other
    // failure must come while its cause acted, or within the grace after.
    let missed = r.code == Code::DeadlineExceeded && !early_deadline(r, net);
    let overlaps = |w: &Window| {
        let from = if missed { r.start_us } else { at };
        w.start_us <= at && from <= w.end_us.saturating_add(grace)
    };
    let explained = windows.iter().any(|w| w.on_path(path) && may_cause(w, path, r.code) && overlaps(w));
    if explained {
        return;
    }
    let distance = |w: &Window| {
        if overlaps(w) {
            0
        } else if w.start_us > at {
            w.start_us - at
        } else {
            at - w.end_us.saturating_add(grace)
        }
    };
    let nearest = windows.iter().min_by_key(|w| (distance(w), w.start_us)).map_or_else(
        || "no fault acted in this run".to_owned(),
        |w| {
            let why = if !w.on_path(path) {
                "on another path".to_owned()
            } else if !may_cause(w, path, r.code) {
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
            "{} failed with {:?} ({:?}) at {} (call {}..{}), where no fault that acted on its path can explain it; {nearest}",
            r.method,
            r.code,
            r.message,
            seconds(at),
            seconds(r.start_us),
            seconds(r.end_us)
        ),
    );
}

/// Whether an act on the call's path may have ended it with `code`. An act past the client's
/// own hops (on a link between two nodes, or on the call at a node the client did not call
/// itself) reaches the client through a node, which reports its peer call's failure as it
/// chooses: a fault there that may fail or delay that peer call may end the client's call with
/// any code a broken connection surfaces.
fn may_cause(w: &Window, path: &CallPath<'_>, code: Code) -> bool {
    let called = |node: &str| path.hops.iter().any(|(from, to)| from == path.client && to == node);
    let beyond = match &w.scope {
        Scope::Between { a, b } => a != path.client && b != path.client,
        Scope::Connection { client, .. } => client != path.client,
        Scope::Call { .. } => w.at.as_deref().is_some_and(|node| !called(node)),
        _ => false,
    };
    w.codes.contains(&code) || (beyond && !w.codes.is_empty() && BROKEN_CONNECTION.contains(&code))
}

fn check_deadline(
    r: &CallSummary,
    path: &CallPath<'_>,
    net: &NetParams,
    windows: &[Window],
    grace: u64,
    fail: &mut impl FnMut(Property, String),
) {
    let lasted = r.end_us.saturating_sub(r.start_us);
    let slack = deadline_slack(net);
    if lasted > r.deadline_us + slack {
        fail(
            Property::Deadline,
            format!(
                "lasted {lasted}us, past its {}us deadline by more than a tick and a link latency ({slack}us)",
                r.deadline_us
            ),
        );
    }
    // Only an injected status says DEADLINE_EXCEEDED before the deadline on purpose.
    let injected = |w: &Window| {
        w.fault == "trailers-only"
            && w.on_path(path)
            && w.start_us <= r.end_us
            && r.end_us <= w.end_us.saturating_add(grace)
    };
    if early_deadline(r, net) && !windows.iter().any(injected) {
        fail(
            Property::Deadline,
            format!(
                "ended DeadlineExceeded after {lasted}us, {}us before its {}us deadline ({:?})",
                r.deadline_us - lasted,
                r.deadline_us,
                r.message
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
    &(_, end): &(u64, Option<u64>),
    grace: u64,
    run_end_us: u64,
    fail: &mut impl FnMut(Property, String),
) {
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
