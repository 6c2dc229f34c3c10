//! Scenarios as data: a workload, a network, a fault schedule and what to expect.
//!
//! A scenario is built like turmoil's `Builder` (every knob named and
//! defaulted) and reads the same way as a TOML file; `catalogue::faults()` holds the
//! named scenarios that `faultline run` sweeps.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fault::{Fault, Injector, TimedFault};

/// The ChaCha stream swarm choices come from, apart from the workload's streams.
const SWARM_STREAM: u64 = 0x5741_524d;

/// One call of a scripted workload: which client makes it, and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptedCall<O> {
    /// Index of the client host (`client-N`) that makes the call.
    pub client: u32,
    /// The operation (for the tutorial: the method and its request(s)).
    #[serde(flatten)]
    pub op: O,
}

/// What a scenario's verdict should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Every property holds on every seed.
    #[default]
    Pass,
    /// A property fails on at least one seed (a canary proving the checker can fail).
    Caught,
}

/// One scenario: network, workload, faults, expectation. `O` is the system's operation type
/// (scripted calls): the system's `Op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, bound(deserialize = "O: serde::de::DeserializeOwned"))]
pub struct Scenario<O> {
    /// Short kebab-case name (`smoke`, `partition`, ...).
    pub name: String,
    /// One line saying what the scenario exercises.
    pub description: String,
    /// Number of client hosts.
    pub clients: u32,
    /// Calls each client makes (spread over `concurrency` tasks sharing its channel).
    pub calls_per_client: u32,
    /// Calls a client has in flight at once, on one HTTP/2 connection.
    pub concurrency: u32,
    /// Mean pause between a lane's calls (uniform in 0..=2x), so the workload
    /// spans the fault schedule.
    pub think_ms: u64,
    /// Base one-way latency of every link, milliseconds.
    pub min_latency_ms: u64,
    /// Upper bound of a link's one-way latency (jitter above the minimum), milliseconds.
    pub max_latency_ms: u64,
    /// Each call's deadline, milliseconds of simulated time.
    pub deadline_ms: u64,
    /// Probability that a call is cancelled by its client part-way.
    pub cancel_rate: f64,
    /// The pauses, in milliseconds, a client takes inside an operation, drawn from `[min, max]`
    /// by the system (`System::pauses`; the tutorial's client pauses 0.5–1.5 s after each
    /// RecordRoute point). An operation's deadline is `deadline_ms` plus its pauses.
    pub route_pause_ms: [u64; 2],
    /// Scripted calls: when present, clients make exactly these (in order, per
    /// client) instead of `calls_per_client` generated ones. Property search
    /// writes its shrunk workloads here.
    pub calls: Vec<ScriptedCall<O>>,
    /// The faults, each with its window. A proxy host stands between clients and server
    /// when any of them is a proxy fault.
    pub faults: Vec<TimedFault>,
    /// A deliberately buggy server variant, by a name the system knows (canary and mutant
    /// tests; `System::validate` rejects names it does not know).
    pub mutant: Option<String>,
    /// What the verdict should be.
    pub expect: Expect,
    /// For a scenario expected to be caught: the property it is about (`summary`, `recovery`,
    /// ...). A run counts as caught only by a violation of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_by: Option<String>,
    /// After the last fault heals, every client must get a call of every method through
    /// within this bound.
    pub recovery_ms: u64,
    /// Hard stop of the simulation: a run still going by then is a liveness failure.
    pub limit_ms: u64,
}

impl<O> Default for Scenario<O> {
    fn default() -> Self {
        Self {
            name: "unnamed".to_owned(),
            description: String::new(),
            clients: 3,
            calls_per_client: 30,
            concurrency: 2,
            think_ms: 150,
            min_latency_ms: 1,
            max_latency_ms: 5,
            deadline_ms: 2_000,
            cancel_rate: 0.0,
            route_pause_ms: [500, 1_500],
            calls: Vec::new(),
            faults: Vec::new(),
            mutant: None,
            expect: Expect::Pass,
            caught_by: None,
            recovery_ms: 10_000,
            limit_ms: 120_000,
        }
    }
}

/// Why a scenario file or definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The TOML did not parse into a scenario.
    #[error("malformed scenario: {0}")]
    Parse(#[from] toml::de::Error),
    /// A field has a value the simulator cannot run.
    #[error("invalid scenario `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

impl<O> Scenario<O> {
    /// A scenario with defaults and this name.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), ..Self::default() }
    }

    /// Sets the one-line description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    /// Sets the number of client hosts.
    pub fn clients(mut self, n: u32) -> Self {
        self.clients = n;
        self
    }

    /// Sets the calls each client makes.
    pub fn calls_per_client(mut self, n: u32) -> Self {
        self.calls_per_client = n;
        self
    }

    /// Sets how many calls a client keeps in flight.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }

    /// Sets the mean pause between a lane's calls.
    pub fn think(mut self, mean: Duration) -> Self {
        self.think_ms = mean.as_millis() as u64;
        self
    }

    /// Sets the links' one-way latency range.
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.min_latency_ms = min.as_millis() as u64;
        self.max_latency_ms = max.as_millis() as u64;
        self
    }

    /// Sets every call's deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline_ms = deadline.as_millis() as u64;
        self
    }

    /// Sets the probability that a client cancels a call part-way.
    pub fn cancel_rate(mut self, rate: f64) -> Self {
        self.cancel_rate = rate;
        self
    }

    /// Adds a fault active from `at` for `lasting`.
    pub fn fault(mut self, at: Duration, lasting: Duration, fault: Fault) -> Self {
        self.faults.push(TimedFault::new(at.as_millis() as u64, lasting.as_millis() as u64, fault));
        self
    }

    /// Adds a fault with its window and place (a cluster's: [`TimedFault::between`],
    /// [`TimedFault::on`]).
    pub fn timed(mut self, fault: TimedFault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Sets the range of a client's pause after each RecordRoute point.
    pub fn route_pause(mut self, min: Duration, max: Duration) -> Self {
        self.route_pause_ms = [min.as_millis() as u64, max.as_millis() as u64];
        self
    }

    /// Adds a scripted call made by client `client`.
    pub fn call(mut self, client: u32, op: O) -> Self {
        self.calls.push(ScriptedCall { client, op });
        self
    }

    /// Serves a deliberately buggy variant, by its name.
    pub fn mutant(mut self, mutant: impl std::fmt::Display) -> Self {
        self.mutant = Some(mutant.to_string());
        self
    }

    /// Sets the expected verdict.
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// Expects the scenario to be caught, by a violation of `property` (as the reports name it).
    pub fn caught_by(mut self, property: impl std::fmt::Display) -> Self {
        self.expect = Expect::Caught;
        self.caught_by = Some(property.to_string());
        self
    }

    /// Parses and validates a scenario file (TOML). What a mutant's name means is the
    /// system's to check (`System::validate`).
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError>
    where
        O: serde::de::DeserializeOwned,
    {
        let scenario: Self = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// This scenario as TOML, the format `from_toml` reads.
    pub fn to_toml(&self) -> String
    where
        O: Serialize,
    {
        toml::to_string(self).expect("scenarios always serialize")
    }

    /// Checks that the simulator can run this scenario.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid =
            |reason: &str| Err(ScenarioError::Invalid { name: self.name.clone(), reason: reason.to_owned() });
        if self.clients == 0 || self.clients > 64 {
            return invalid("clients must be between 1 and 64");
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return invalid("concurrency must be between 1 and 64");
        }
        if self.calls_per_client > 10_000 {
            return invalid("calls_per_client must be at most 10000");
        }
        if self.calls.iter().any(|c| c.client >= self.clients) {
            return invalid("every scripted call's client must be below `clients`");
        }
        if self.min_latency_ms > self.max_latency_ms {
            return invalid("min_latency_ms must not exceed max_latency_ms");
        }
        if self.deadline_ms == 0 {
            return invalid("deadline_ms must be positive");
        }
        if !(0.0..=1.0).contains(&self.cancel_rate) {
            return invalid("cancel_rate must be between 0 and 1");
        }
        if self.route_pause_ms[0] > self.route_pause_ms[1] {
            return invalid("route_pause_ms must be [min, max] with min <= max");
        }
        let times =
            [self.think_ms, self.min_latency_ms, self.max_latency_ms, self.deadline_ms, self.recovery_ms];
        let windows = self.faults.iter().flat_map(|f| [f.at_ms, f.for_ms]);
        let mut times = times.into_iter().chain(self.route_pause_ms).chain([self.limit_ms]).chain(windows);
        if times.any(|ms| ms > crate::fault::MAX_MS) {
            return invalid(crate::fault::TOO_LONG);
        }
        for f in &self.faults {
            if let Some(reason) = f.fault.invalid() {
                return invalid(reason);
            }
            if f.for_ms == 0 {
                return invalid("every fault needs for_ms > 0");
            }
        }
        if self.heal_ms() + self.recovery_ms >= self.limit_ms {
            return invalid("limit_ms must leave room for faults to heal and clients to recover");
        }
        Ok(())
    }

    /// Simulated time by which every fault has healed.
    pub fn heal_ms(&self) -> u64 {
        self.faults.iter().map(|f| f.at_ms + f.for_ms).max().unwrap_or(0)
    }

    /// Whether a proxy host stands between clients and server.
    pub fn uses_proxy(&self) -> bool {
        self.faults.iter().any(|f| f.fault.injector() == Injector::Proxy)
    }

    /// Swarm testing: the variant of this scenario that seed `seed` runs, which
    /// keeps each fault with probability one half (drawn from the seed alone).
    pub fn swarm(&self, seed: u64) -> Self
    where
        O: Clone,
    {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SWARM_STREAM);
        let mut variant = self.clone();
        variant.faults.retain(|_| rng.random_bool(0.5));
        variant
    }

    /// Names of every fault this scenario can inject, sorted, without repeats.
    pub fn fault_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.faults.iter().map(|f| f.fault.name()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}
