//! The event trace of one simulated run: every connect, message, status and
//! fault, stamped with simulated time, with a stable hash for determinism checks.

use std::fmt;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

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
    /// A TCP connection was opened from `host` to `to`.
    Connect { to: String, ok: bool },
    /// A call began.
    CallStart { call: u64, method: String },
    /// The client sent message `seq` of a call.
    Sent { call: u64, seq: u32, message: String },
    /// The client received message `seq` of a call.
    Received { call: u64, seq: u32, message: String },
    /// A call ended with a gRPC status.
    CallEnd { call: u64, code: String, message: String },
    /// A fault fired (or healed).
    Fault { fault: String, detail: String },
    /// A host started, crashed or restarted.
    Host { state: String },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = Duration::from_micros(self.at_us);
        write!(f, "{:>10.6}s {:<9} ", t.as_secs_f64(), self.host)?;
        match &self.kind {
            EventKind::Connect { to, ok } => {
                write!(f, "connect -> {to} {}", if *ok { "ok" } else { "failed" })
            }
            EventKind::CallStart { call, method } => write!(f, "call #{call} {method} start"),
            EventKind::Sent { call, seq, message } => write!(f, "call #{call} sent[{seq}] {message}"),
            EventKind::Received { call, seq, message } => write!(f, "call #{call} recv[{seq}] {message}"),
            EventKind::CallEnd { call, code, message } => write!(f, "call #{call} end {code} {message:?}"),
            EventKind::Fault { fault, detail } => write!(f, "fault {fault}: {detail}"),
            EventKind::Host { state } => write!(f, "host {state}"),
        }
    }
}

/// A shared, append-only event log. Cheap to clone; all clones append to one log.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    events: Arc<Mutex<Vec<Event>>>,
}

/// Simulated time now, from inside or outside a turmoil host.
pub fn sim_now_us() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Trace {
    /// Appends an event stamped with the current simulated time.
    pub fn record(&self, host: &str, kind: EventKind) {
        self.record_at(sim_now_us(), host, kind);
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
}

/// A stable 64-bit hash (FNV-1a) of a sequence of events: equal traces, equal hashes,
/// on every platform and Rust version.
pub fn hash_events(events: &[Event]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    for event in events {
        hasher.write(event.to_string().as_bytes());
        hasher.write(b"\n");
    }
    hasher.finish()
}

/// The first index at which two traces differ, if they do.
pub fn first_difference(a: &[Event], b: &[Event]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}
