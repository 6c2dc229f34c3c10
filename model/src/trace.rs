//! The event trace of one simulated run: every connect, message, status and
//! fault, stamped with simulated time, with a stable hash for determinism checks.

use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tonic::Code;

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Simulated time since the start of the run, in microseconds.
    pub at_us: u64,
    /// The simulated host where it happened (`client-0`, `server`, `proxy`, `sim`).
    pub host: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A TCP connection from `host` to `to` was opened, or failed to; the attempt began at
    /// `since_us`.
    Connect { to: String, ok: bool, since_us: u64 },
    /// A call began, with its deadline (microseconds after its start).
    CallStart { call: u64, method: String, deadline_us: u64 },
    /// The client sent message `seq` of a call.
    Sent { call: u64, seq: u32, message: String },
    /// The client received message `seq` of a call.
    Received { call: u64, seq: u32, message: String },
    /// A call ended with a gRPC status.
    CallEnd {
        call: u64,
        #[serde(serialize_with = "code_name")]
        code: Code,
        message: String,
    },
    /// An injector started, healed or applied a fault.
    Fault(FaultEvent),
    /// A host started, crashed or restarted.
    Host { state: HostState },
    /// A server handler of a call started, or ended (its future, response stream and request
    /// all gone).
    Handler { call: u64, running: bool },
    /// The proxy met bytes it cannot follow and closed the connection.
    ProtocolError { detail: String },
    /// One direction of a connection, `from` → `to`, ended with `bytes` written and never read,
    /// the first written at `lost_at_us`: lost on the way (the connection was broken from then)
    /// or never read by a peer that closed first. Recorded at the end of a run.
    Lost { from: String, to: String, lost_at_us: u64, bytes: u64 },
    /// A panic inside the run (a handler, the proxy, the harness), caught.
    Panic { message: String, location: String },
    /// In a cluster, `host` (a client, or a node serving the call) called node `to` for call
    /// `call`: the call's path went over that link.
    Hop { call: u64, to: String },
}

/// The name of a status code, as tonic spells it (`DeadlineExceeded`).
pub fn code_name<S: serde::Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{code:?}"))
}

/// What an injector reports about a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultEvent {
    /// The fault's catalogue name.
    pub fault: &'static str,
    /// Which of the scenario's faults (its index in `Scenario::faults`).
    pub index: usize,
    /// Started, healed, or acted on traffic.
    pub phase: Phase,
    /// For [`Phase::Acted`]: how much traffic it touched (messages held, frames that overtook
    /// others, streams reset, writes on a cut link: the fault's own unit).
    pub touched: u64,
    /// Where it acted.
    pub scope: Scope,
    /// What it did, for a person.
    pub detail: String,
}

/// The moment of a fault an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The fault's window opened.
    Start,
    /// The fault's window closed.
    Heal,
    /// The fault touched traffic (a stream reset, a message held, a frame reordered, ...).
    Acted,
}

/// Where a fault acts: which calls it can have touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// Every client's link to the server (or the proxy): every call. What a network fault's
    /// start and heal name; its acts name the links they met ([`Scope::Link`]).
    ClientLinks,
    /// One client's link to the server (or the proxy): that client's calls.
    Link { client: String },
    /// The server host: every call.
    Server,
    /// One connection of one client through the proxy: that client's calls (in a cluster,
    /// `client` may be a node: the calls that hopped from it).
    Connection { client: String, conn: u64 },
    /// In a cluster, the link between two hosts (clients or nodes; `a` < `b`): the calls that
    /// hopped between them.
    Between { a: String, b: String },
    /// In a cluster, one node: the calls that reached it.
    Node { node: String },
    /// One call.
    Call { call: u64 },
    /// A call that carried no call id (not the workload's): no recorded call.
    Unstamped,
}

impl Scope {
    /// The link between two hosts, whichever way it is named.
    pub fn between(x: &str, y: &str) -> Self {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Scope::Between { a: a.to_owned(), b: b.to_owned() }
    }

    /// Whether the call on `path` is inside this scope.
    pub fn covers(&self, path: &CallPath<'_>) -> bool {
        match self {
            Scope::ClientLinks | Scope::Server => true,
            Scope::Link { client: c } => c == path.client,
            Scope::Connection { client: c, .. } => {
                c == path.client || path.hops.iter().any(|(from, _)| from == c)
            }
            Scope::Between { a, b } => {
                path.hops.iter().any(|(x, y)| (x == a && y == b) || (x == b && y == a))
            }
            Scope::Node { node } => path.hops.iter().any(|(_, to)| to == node),
            Scope::Call { call: c } => *c == path.call,
            Scope::Unstamped => false,
        }
    }
}

/// Where one call went: what a [`Scope`] is matched against.
#[derive(Debug, Clone, Copy)]
pub struct CallPath<'a> {
    /// The client host that made it.
    pub client: &'a str,
    /// Its id.
    pub call: u64,
    /// In a cluster, every hop it made, (from, to): its client to the nodes it called, and each
    /// node to the peers it called for it ([`EventKind::Hop`]). Empty with a single server.
    pub hops: &'a [(String, String)],
}

impl<'a> CallPath<'a> {
    /// The path of a call of `client` to the single server.
    pub fn single(client: &'a str, call: u64) -> Self {
        Self { client, call, hops: &[] }
    }
}

/// Every call's hops, from a run's [`EventKind::Hop`] events, by call id.
pub fn hops(events: &[Event]) -> std::collections::BTreeMap<u64, Vec<(String, String)>> {
    let mut out: std::collections::BTreeMap<u64, Vec<(String, String)>> = Default::default();
    for e in events {
        if let EventKind::Hop { call, to } = &e.kind {
            let hops = out.entry(*call).or_default();
            let hop = (e.host.clone(), to.clone());
            if !hops.contains(&hop) {
                hops.push(hop);
            }
        }
    }
    out
}

/// A host's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Its software started (again, after a crash).
    Start,
    /// It crashed.
    Crash,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Start => "start",
            Phase::Heal => "heal",
            Phase::Acted => "acted",
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::ClientLinks => f.write_str("client links"),
            Scope::Server => f.write_str("server"),
            Scope::Link { client } => write!(f, "{client}'s link"),
            Scope::Unstamped => f.write_str("a call without a call id"),
            Scope::Connection { client, conn } => write!(f, "{client} conn {conn}"),
            Scope::Call { call } => write!(f, "call #{call}"),
            Scope::Between { a, b } => write!(f, "{a} <-> {b}"),
            Scope::Node { node } => write!(f, "node {node}"),
        }
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostState::Start => "start",
            HostState::Crash => "crash",
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s {:<9} ", Seconds(self.at_us), self.host)?;
        match &self.kind {
            EventKind::Connect { to, ok: true, .. } => write!(f, "connect -> {to} ok"),
            EventKind::Connect { to, ok: false, since_us } => {
                write!(f, "connect -> {to} failed (tried since {}s)", Seconds(*since_us))
            }
            EventKind::CallStart { call, method, deadline_us } => {
                write!(f, "call #{call} {method} start (deadline {}ms)", deadline_us / 1000)
            }
            EventKind::Sent { call, seq, message } => write!(f, "call #{call} sent[{seq}] {message}"),
            EventKind::Received { call, seq, message } => write!(f, "call #{call} recv[{seq}] {message}"),
            EventKind::CallEnd { call, code, message } => write!(f, "call #{call} end {code:?} {message:?}"),
            EventKind::Fault(e) => write!(f, "fault {} {} ({}): {}", e.fault, e.phase, e.scope, e.detail),
            EventKind::Host { state } => write!(f, "host {state}"),
            EventKind::Handler { call, running } => {
                write!(f, "handler of call #{call} {}", if *running { "started" } else { "ended" })
            }
            EventKind::ProtocolError { detail } => write!(f, "protocol error: {detail}"),
            EventKind::Lost { from, to, lost_at_us, bytes } => write!(
                f,
                "connection {from} -> {to}: {bytes} bytes never read, the first written at {}s",
                Seconds(*lost_at_us)
            ),
            EventKind::Panic { message, location } => write!(f, "panic at {location}: {message}"),
            EventKind::Hop { call, to } => write!(f, "call #{call} hop -> {to}"),
        }
    }
}

/// Microseconds shown as seconds with six decimals, right-aligned in ten
/// columns: the text of `format!("{:>10.6}", secs_as_f64)`, computed in
/// integers. Float formatting was the largest single cost of hashing a trace,
/// which formats every event. Below 2^28 s (8.5 years) an f64 holds the time
/// to within 0.1 us, so both round to the same six decimals; beyond, the float path.
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, micros) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if secs >= 1 << 28 {
            return write!(f, "{:>10.6}", Duration::from_micros(self.0).as_secs_f64());
        }
        let width = secs.checked_ilog10().unwrap_or(0) as usize + 1 + 7;
        for _ in width..10 {
            f.write_str(" ")?;
        }
        write!(f, "{secs}.{micros:06}")
    }
}

/// A shared, append-only event log. Cheap to clone; all clones append to one log.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    events: Arc<Mutex<Vec<Event>>>,
    /// Simulated time as the runner last set it, for events recorded outside any host (a
    /// crash drops a host's tasks from the runner's own stack).
    now_us: Arc<AtomicU64>,
}

/// Simulated time now, from inside a turmoil host (0 outside one).
pub fn sim_now_us() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Trace {
    /// Appends an event stamped with the current simulated time.
    pub fn record(&self, host: &str, kind: EventKind) {
        let now = turmoil::sim_elapsed().map_or_else(
            || self.now_us.load(Ordering::SeqCst),
            |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        );
        self.record_at(now, host, kind);
    }

    /// The simulated time the runner last set.
    pub fn now_us(&self) -> u64 {
        self.now_us.load(Ordering::SeqCst)
    }

    /// Tells the trace the simulated time, for events recorded between steps.
    pub fn set_now(&self, now_us: u64) {
        self.now_us.store(now_us, Ordering::SeqCst);
    }

    /// Appends an event with an explicit timestamp (used outside hosts).
    pub fn record_at(&self, at_us: u64, host: &str, kind: EventKind) {
        let event = Event { at_us, host: host.to_owned(), kind };
        self.events.lock().expect("trace lock is never poisoned").push(event);
    }

    /// A copy of every event so far, in recording order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("trace lock is never poisoned").clone()
    }

    /// Every event so far, in recording order, leaving the log empty: for
    /// the end of a run, when nothing records any more (no copy of every
    /// message string).
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("trace lock is never poisoned"))
    }
}

/// A stable 64-bit hash (FNV-1a) of a sequence of events: equal traces, equal hashes,
/// on every platform and Rust version.
pub fn hash_events(events: &[Event]) -> u64 {
    // Each event's text goes straight into the hasher (FNV-1a is byte by
    // byte, so this equals hashing `event.to_string()`), without a String.
    struct Fnv(fnv::FnvHasher);
    impl fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut hasher = Fnv(fnv::FnvHasher::default());
    for event in events {
        fmt::Write::write_fmt(&mut hasher, format_args!("{event}\n")).expect("hashing never fails");
    }
    hasher.0.finish()
}

/// The first index at which two traces differ, if they do.
pub fn first_difference(a: &[Event], b: &[Event]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;
    use std::time::Duration;

    use super::*;

    #[test]
    fn seconds_print_as_the_float_formatting_did() {
        let mut values: Vec<u64> = vec![0, 1, 9, 10, 999_999, 1_000_000, 1_000_001, 9_999_999, 10_000_000];
        values.extend([99_999_999, 100_000_000, 999_999_999_999, u64::MAX]);
        values.extend((0..2_000u64).map(|i| (1 << 28) * 1_000_000 - 1_000 + i));
        values.extend((0..200_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 3_600_000_000_000));
        for us in values {
            let float = format!("{:>10.6}", Duration::from_micros(us).as_secs_f64());
            assert_eq!(Seconds(us).to_string(), float, "{us} us");
        }
    }

    #[test]
    fn hash_is_fnv_of_each_event_text_and_a_newline() {
        let events = vec![
            Event {
                at_us: 1_234,
                host: "client-0".to_owned(),
                kind: EventKind::Host { state: HostState::Start },
            },
            Event {
                at_us: 7_000_001,
                host: "server".to_owned(),
                kind: EventKind::CallEnd { call: 3, code: Code::Ok, message: "quote \" here".to_owned() },
            },
        ];
        let mut want = fnv::FnvHasher::default();
        for e in &events {
            want.write(e.to_string().as_bytes());
            want.write(b"\n");
        }
        assert_eq!(hash_events(&events), want.finish());
    }
}
