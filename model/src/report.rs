//! What a run produced: its report, the calls it made as its properties read them, and the
//! properties that did not hold. Plain data: the runner fills it in, the checker, the sweep,
//! the reports and the timeline read it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use tonic::Code;

use crate::scenario::Expect;
use crate::trace::Event;

/// What a fault did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultTally {
    /// Times it acted on traffic.
    pub acted: u32,
    /// How much traffic it touched, in the fault's own unit (messages held, frames that
    /// overtook others, streams reset, writes on a cut link, ...).
    pub touched: u64,
}

/// The outcome of one (scenario, seed) run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed that reproduces this run.
    pub seed: u64,
    /// What the scenario expects of its runs.
    pub expect: Expect,
    /// The property a caught scenario is about, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_by: Option<String>,
    /// Workload calls made (probes not counted).
    pub calls: usize,
    /// Workload calls that ended non-OK.
    pub failed_calls: usize,
    /// Every fault the scenario schedules, by name, with what it did; a fault that never met
    /// any traffic on this seed shows zero.
    pub faults: BTreeMap<String, FaultTally>,
    /// Workload calls by the status code clients saw, non-OK codes only (`UNAVAILABLE`, ...).
    pub codes: BTreeMap<String, u64>,
    /// Simulated time the run took, microseconds.
    pub sim_time_us: u64,
    /// Of that, the time in which some fault had acted (its windows plus the grace): when a
    /// failed call could be excused. The rest is clean time, microseconds.
    pub excusable_us: u64,
    /// Properties that did not hold.
    pub violations: Vec<Violation>,
    /// Stable hash of the full event trace.
    pub trace_hash: u64,
    /// The full event trace.
    #[serde(skip)]
    pub events: Vec<Event>,
    /// Every call, without its payload.
    #[serde(skip)]
    pub records: Vec<CallSummary>,
}

impl RunReport {
    /// Every property held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The run came out as its scenario expects: passed, or (a canary) caught.
    pub fn as_expected(&self) -> bool {
        match self.expect {
            Expect::Pass => self.passed(),
            Expect::Caught => self.caught(),
        }
    }

    /// A violation of the property the scenario expects to be caught by (of any, if it names
    /// none).
    pub fn caught(&self) -> bool {
        self.violations.iter().any(|v| self.caught_by.as_ref().is_none_or(|p| v.property.to_string() == *p))
    }

    /// A `determinism` violation: the same seed gave another trace.
    pub fn nondeterministic(&self) -> bool {
        self.violations.iter().any(|v| v.property == Property::Determinism)
    }

    /// The report without its trace and records (what a sweep keeps of a run).
    pub fn without_trace(mut self) -> Self {
        self.events = Vec::new();
        self.records = Vec::new();
        self
    }

    /// The scenario schedules faults, and none of them acted on the system's traffic: the run
    /// passed without being tested against them.
    pub fn vacuous(&self) -> bool {
        !self.faults.is_empty() && self.faults.values().all(|t| t.acted == 0)
    }

    /// The faults that touched traffic, as `name×times`.
    pub fn fired(&self) -> impl Iterator<Item = (&str, &FaultTally)> {
        self.faults.iter().filter(|(_, t)| t.acted > 0).map(|(n, t)| (n.as_str(), t))
    }
}

/// The properties, by name: the generic ones, and those of a system's oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// A failed call is explained by a fault that acted on its path, when it could, with that code.
    Status,
    /// Deadlines are enforced by the stack: no call outlives its deadline; every call ends.
    Deadline,
    /// After the last fault heals, every client gets one call of every method through.
    Recovery,
    /// No server handler keeps running after its call ended.
    HandlerLeak,
    /// Same seed, same trace.
    Determinism,
    /// Nothing inside the run panics.
    Panic,
    /// A property of the system's own oracle (its model or an invariant), by name.
    Oracle(&'static str),
}

impl Serialize for Property {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Property::Oracle(name) => name,
            Property::Status => "status",
            Property::Deadline => "deadline",
            Property::Recovery => "recovery",
            Property::HandlerLeak => "handler-leak",
            Property::Determinism => "determinism",
            Property::Panic => "panic",
        })
    }
}

/// One property that did not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The call it concerns, if one.
    pub call: Option<u64>,
    /// What was expected and what happened.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.call {
            Some(call) => write!(f, "[{}] call #{call}: {}", self.property, self.detail),
            None => write!(f, "[{}] {}", self.property, self.detail),
        }
    }
}

/// Everything observed about one call from its client's side, without its payload: what the
/// generic properties, the timeline and the reports read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    /// Unique within a run, stable across runs of the same seed.
    pub id: u64,
    /// The client host that made it.
    pub client: String,
    /// The operation's name (the system's name for it).
    pub method: String,
    /// How many request messages the client handed to the transport.
    pub sent: u32,
    /// How many messages it received.
    pub received: usize,
    /// Final status code (`Ok` for success).
    #[serde(serialize_with = "crate::trace::code_name")]
    pub code: Code,
    /// Final status message.
    pub message: String,
    /// Simulated start, microseconds.
    pub start_us: u64,
    /// Simulated end, microseconds.
    pub end_us: u64,
    /// The call's deadline, microseconds after start.
    pub deadline_us: u64,
    /// When the client ended its request stream, if it said so.
    pub half_close_us: Option<u64>,
    /// The client itself cancelled the call.
    pub cancelled_by_client: bool,
    /// A post-heal liveness probe rather than workload.
    pub probe: bool,
}
