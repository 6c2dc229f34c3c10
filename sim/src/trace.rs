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
        write!(f, "{}s {:<9} ", Seconds(self.at_us), self.host)?;
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
                kind: EventKind::Host { state: "start".to_owned() },
            },
            Event {
                at_us: 7_000_001,
                host: "server".to_owned(),
                kind: EventKind::CallEnd {
                    call: 3,
                    code: "Ok".to_owned(),
                    message: "quote \" here".to_owned(),
                },
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
