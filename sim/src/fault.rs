//! Faults as data: every fault the simulator can inject, when it acts, where, and which status
//! codes it may cause a call to end with. Injectors (the network in `network.rs`, the server
//! host's hook in `server.rs`, the proxy in `proxy/`) read the one [`Schedule`] to know when
//! to start and heal, and report what they did as typed [`crate::trace::FaultEvent`]s; the
//! checker reads those events and this module, never an injector.
//!
//! Adding a fault is one variant here (with its name, its injector and the codes it may
//! cause), its injector's handling, and one catalogue scenario.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::Code;

/// A fault of the network, the server host, or the gRPC-aware proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Client links become slow: every message takes `latency_ms` plus up to `jitter_ms`.
    Latency { latency_ms: u64, jitter_ms: u64 },
    /// Client links hold every message, then release them all at once (out of order across
    /// connections).
    Hold,
    /// Client links drop everything; `oneway` drops only server-to-client traffic.
    Partition { oneway: bool },
    /// The server host crashes, losing all per-call state, and restarts when the fault heals.
    CrashBounce,
    /// Client links randomly fail with this probability per message (lost TCP segments: the
    /// connection stalls until keepalive notices).
    Loss { rate: f64 },
    /// Server handlers wait `delay_ms` before they run.
    SlowHandler { delay_ms: u64 },
    /// The server answers every `every`-th call with a Trailers-Only error of this gRPC code.
    TrailersOnly { code: i32, every: u32 },
    /// A proxy resets a stream (RST_STREAM CANCEL both ways) right after the client has
    /// received `after_messages` gRPC messages on it; every `every`-th stream of a connection
    /// (1 = all; 0 is taken as 1). Messages are counted by their length prefix, not by frame.
    RstStream { after_messages: u32, every: u32 },
    /// A proxy sends the client GOAWAY (NO_ERROR, last stream = the highest it has seen) after
    /// `after_frames` server frames of a connection (at least 1); the connection closes once
    /// its streams end, or a second later.
    #[serde(rename = "goaway")]
    GoAway { after_frames: u32 },
    /// A proxy closes both sockets of a connection once `after_bytes` bytes went to the client
    /// (usually mid-frame).
    ConnectionReset { after_bytes: u64 },
    /// A proxy holds up to `window` DATA frames per direction and releases them in a seeded
    /// order that keeps each stream's order but reorders across streams; held frames wait at
    /// most `max_delay_ms`. A `window` below 2 reorders nothing.
    FrameReorder { window: u32, max_delay_ms: u64 },
    /// A proxy delays each frame by a seeded 0..=`max_delay_ms`, keeping order.
    FrameDelay { max_delay_ms: u64 },
}

/// Which part of the simulation injects a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injector {
    /// The simulated network and hosts (links, crashes), driven between simulation steps.
    Network,
    /// The server host, deciding per call before the handler runs.
    Server,
    /// The gRPC-aware proxy host between clients and server.
    Proxy,
}

/// Codes a broken connection surfaces: the transport fails (UNAVAILABLE), h2 resets or aborts
/// the stream (CANCELLED, INTERNAL, UNKNOWN; tonic reports a call dispatched onto a closing
/// connection as CANCELLED "operation was canceled"), or the call runs into its deadline.
pub const BROKEN_CONNECTION: &[Code] =
    &[Code::Unavailable, Code::Cancelled, Code::Internal, Code::Unknown, Code::DeadlineExceeded];

/// Codes a fault that only delays traffic may cause.
pub const DELAY: &[Code] = &[Code::DeadlineExceeded];

impl Fault {
    /// The fault's catalogue name, as in scenario files and the trace.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::Hold => "hold",
            Fault::Partition { oneway: false } => "partition",
            Fault::Partition { oneway: true } => "partition-oneway",
            Fault::CrashBounce => "crash-bounce",
            Fault::Loss { .. } => "loss",
            Fault::SlowHandler { .. } => "slow-handler",
            Fault::TrailersOnly { .. } => "trailers-only",
            Fault::RstStream { .. } => "rst-stream",
            Fault::GoAway { .. } => "goaway",
            Fault::ConnectionReset { .. } => "connection-reset",
            Fault::FrameReorder { .. } => "frame-reorder",
            Fault::FrameDelay { .. } => "frame-delay",
        }
    }

    /// Who injects it.
    pub fn injector(&self) -> Injector {
        match self {
            Fault::Latency { .. }
            | Fault::Hold
            | Fault::Partition { .. }
            | Fault::CrashBounce
            | Fault::Loss { .. } => Injector::Network,
            Fault::SlowHandler { .. } | Fault::TrailersOnly { .. } => Injector::Server,
            Fault::RstStream { .. }
            | Fault::GoAway { .. }
            | Fault::ConnectionReset { .. }
            | Fault::FrameReorder { .. }
            | Fault::FrameDelay { .. } => Injector::Proxy,
        }
    }

    /// The status codes a call this fault touched may end with, on a network with `net`'s
    /// keepalive, when the fault lasts `lasting`. A fault that stalls traffic for as long as
    /// a keepalive PING may go unanswered (counting the PING's round trip on the slowest link)
    /// breaks connections; a shorter one only delays.
    pub fn may_cause(&self, net: &NetParams, lasting: Duration) -> Vec<Code> {
        let stalls_keepalive = |stall: Duration| stall >= net.keepalive_timeout;
        match *self {
            Fault::Latency { latency_ms, jitter_ms } => {
                let round_trip = Duration::from_millis(2 * (latency_ms + jitter_ms));
                if stalls_keepalive(round_trip) { BROKEN_CONNECTION.to_vec() } else { DELAY.to_vec() }
            }
            // A PING held for the whole window still needs its round trip once released.
            Fault::Hold => {
                if stalls_keepalive(lasting + 2 * net.max_latency) {
                    BROKEN_CONNECTION.to_vec()
                } else {
                    DELAY.to_vec()
                }
            }
            Fault::Partition { .. }
            | Fault::CrashBounce
            | Fault::Loss { .. }
            | Fault::RstStream { .. }
            | Fault::GoAway { .. }
            | Fault::ConnectionReset { .. } => BROKEN_CONNECTION.to_vec(),
            Fault::SlowHandler { .. } | Fault::FrameReorder { .. } | Fault::FrameDelay { .. } => {
                DELAY.to_vec()
            }
            Fault::TrailersOnly { code, .. } => vec![Code::from(code)],
        }
    }

    /// Why the simulator cannot run this fault, if it cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        match *self {
            Fault::Latency { latency_ms: a, jitter_ms: b } if a.max(b) > MAX_MS => Some(TOO_LONG),
            Fault::SlowHandler { delay_ms: ms }
            | Fault::FrameReorder { max_delay_ms: ms, .. }
            | Fault::FrameDelay { max_delay_ms: ms }
                if ms > MAX_MS =>
            {
                Some(TOO_LONG)
            }
            Fault::Loss { rate } if !(0.0..=1.0).contains(&rate) => Some("loss rate must be between 0 and 1"),
            Fault::TrailersOnly { code, every } if !(1..=16).contains(&code) || every == 0 => {
                Some("trailers-only needs a non-OK gRPC code (1..=16) and every >= 1")
            }
            _ => None,
        }
    }
}

/// The longest time a scenario may name, in milliseconds (about 35 years): sums and doubles of
/// times, in microseconds, never overflow.
pub const MAX_MS: u64 = 1 << 40;

/// Why a scenario naming a longer time is refused.
pub const TOO_LONG: &str = "every time must be at most 2^40 ms";

/// A fault with its window: it starts `at_ms` into the run and heals `for_ms` later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    /// Simulated milliseconds from the start of the run.
    pub at_ms: u64,
    /// How long the fault lasts before it heals.
    pub for_ms: u64,
    /// What the fault is.
    #[serde(flatten)]
    pub fault: Fault,
}

impl TimedFault {
    /// When it starts, simulated microseconds.
    pub fn start_us(&self) -> u64 {
        self.at_ms * 1000
    }

    /// When it heals, simulated microseconds.
    pub fn heal_us(&self) -> u64 {
        (self.at_ms + self.for_ms) * 1000
    }

    /// Whether it is acting at `now_us`.
    pub fn active_at(&self, now_us: u64) -> bool {
        (self.start_us()..self.heal_us()).contains(&now_us)
    }
}

/// The HTTP/2 and link settings every host of a run uses, from which fault attribution's
/// grace is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetParams {
    /// Both ends send an HTTP/2 PING after this much time.
    pub keepalive_interval: Duration,
    /// ... and close the connection when it goes unanswered this long.
    pub keepalive_timeout: Duration,
    /// A client gives up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// The longest one-way link latency of the run, faults included.
    pub max_latency: Duration,
    /// The simulator's step.
    pub tick: Duration,
}

impl NetParams {
    /// How long after a fault heals a call may still fail because of it: the time a broken
    /// connection takes to be noticed (one keepalive interval until the PING, one timeout for
    /// its answer; or, for a reconnect, the connect timeout, whichever is longer), plus a
    /// round trip on the slowest link, plus one step of the simulator.
    ///
    /// `grace = max(keepalive_interval + keepalive_timeout, connect_timeout) + 2 × max_latency + tick`
    pub fn grace(&self) -> Duration {
        (self.keepalive_interval + self.keepalive_timeout).max(self.connect_timeout)
            + 2 * self.max_latency
            + self.tick
    }
}

/// A start or heal of a timed fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// When, simulated microseconds.
    pub at_us: u64,
    /// Which fault: its index in the scenario's list.
    pub index: usize,
    /// Start (true) or heal.
    pub start: bool,
    /// The fault.
    pub fault: TimedFault,
}

/// Every start and heal of a scenario's faults, in time order: heals before starts at the same
/// instant, ties by declaration order. The one schedule every injector follows.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    faults: Vec<TimedFault>,
    actions: Vec<Action>,
}

impl Schedule {
    /// The schedule of `faults`.
    pub fn new(faults: &[TimedFault]) -> Self {
        let mut actions = Vec::with_capacity(2 * faults.len());
        for (index, f) in faults.iter().enumerate() {
            actions.push(Action { at_us: f.start_us(), index, start: true, fault: f.clone() });
            actions.push(Action { at_us: f.heal_us(), index, start: false, fault: f.clone() });
        }
        actions.sort_by_key(|a| (a.at_us, a.start, a.index));
        Self { faults: faults.to_vec(), actions }
    }

    /// The faults, in declaration order.
    pub fn faults(&self) -> &[TimedFault] {
        &self.faults
    }

    /// The faults one injector handles.
    pub fn of(&self, injector: Injector) -> Vec<TimedFault> {
        self.faults.iter().filter(|f| f.fault.injector() == injector).cloned().collect()
    }

    /// Every start and heal, in order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// When the last fault heals, simulated microseconds (0 without faults).
    pub fn last_heal_us(&self) -> u64 {
        self.faults.iter().map(TimedFault::heal_us).max().unwrap_or(0)
    }
}

impl fmt::Display for TimedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}..{} ms", self.fault.name(), self.at_ms, self.at_ms + self.for_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue's network (1–5 ms links, 500 ms keepalive, 1 s connect timeout, 1 ms tick).
    fn net() -> NetParams {
        crate::world::World::new(&crate::scenario::Scenario::<()>::new("t"), 0).net
    }

    #[test]
    fn grace_is_keepalive_plus_a_round_trip_plus_a_tick() {
        assert_eq!(net().grace(), Duration::from_millis(500 + 500 + 10 + 1));
        let slow_connect = NetParams { connect_timeout: Duration::from_secs(3), ..net() };
        assert_eq!(slow_connect.grace(), Duration::from_millis(3_000 + 10 + 1));
    }

    #[test]
    fn stalls_that_outlive_keepalive_may_break_connections_shorter_ones_only_delay() {
        let short = Duration::from_millis(300);
        let long = Duration::from_millis(923);
        assert_eq!(Fault::Hold.may_cause(&net(), short), DELAY);
        assert_eq!(Fault::Hold.may_cause(&net(), long), BROKEN_CONNECTION);
        // 493 ms of hold and a 10 ms round trip outlast a 500 ms PING timeout (found by search).
        assert_eq!(Fault::Hold.may_cause(&net(), Duration::from_millis(493)), BROKEN_CONNECTION);
        let mild = Fault::Latency { latency_ms: 40, jitter_ms: 80 };
        assert_eq!(mild.may_cause(&net(), long), DELAY);
        let severe = Fault::Latency { latency_ms: 200, jitter_ms: 100 };
        assert_eq!(severe.may_cause(&net(), short), BROKEN_CONNECTION);
        assert_eq!(
            Fault::TrailersOnly { code: 14, every: 3 }.may_cause(&net(), short),
            vec![Code::Unavailable]
        );
    }

    #[test]
    fn heals_come_before_starts_at_the_same_instant() {
        let faults = vec![
            TimedFault { at_ms: 100, for_ms: 100, fault: Fault::Hold },
            TimedFault { at_ms: 200, for_ms: 50, fault: Fault::CrashBounce },
        ];
        let schedule = Schedule::new(&faults);
        let order: Vec<(u64, bool)> = schedule.actions().iter().map(|a| (a.at_us, a.start)).collect();
        assert_eq!(order, vec![(100_000, true), (200_000, false), (200_000, true), (250_000, false)]);
        assert_eq!(schedule.last_heal_us(), 250_000);
    }

    #[test]
    fn names_and_serde_tags_agree() {
        let faults = [
            Fault::Latency { latency_ms: 1, jitter_ms: 2 },
            Fault::Hold,
            Fault::Partition { oneway: false },
            Fault::CrashBounce,
            Fault::Loss { rate: 0.5 },
            Fault::SlowHandler { delay_ms: 3 },
            Fault::TrailersOnly { code: 14, every: 3 },
            Fault::RstStream { after_messages: 3, every: 1 },
            Fault::GoAway { after_frames: 4 },
            Fault::ConnectionReset { after_bytes: 100 },
            Fault::FrameReorder { window: 4, max_delay_ms: 5 },
            Fault::FrameDelay { max_delay_ms: 20 },
        ];
        for fault in faults {
            let json = serde_json::to_value(&fault).unwrap();
            assert_eq!(json["kind"], fault.name());
            assert_eq!(serde_json::from_value::<Fault>(json).unwrap(), fault);
        }
    }
}
