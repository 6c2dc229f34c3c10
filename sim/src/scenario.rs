//! Scenarios as data: a workload, a network, a fault schedule and what to expect.
//!
//! A scenario is built like turmoil's `Builder` (every knob named and
//! defaulted) and reads the same way as a TOML file; `catalogue()` holds the
//! named scenarios that `faultline run` sweeps.

use std::time::Duration;

use faultline_services::Mutant;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::proxy::ProxyFault;
use crate::workload::CallInput;

/// The ChaCha stream swarm choices come from, apart from the workload's streams.
const SWARM_STREAM: u64 = 0x5741_524d;

/// A timed network or host fault: starts at `at_ms`, heals `for_ms` later.
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

/// A fault of the network or of the server host, applied by the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Client links become slow: every message takes `latency_ms` plus up to `jitter_ms`.
    Latency { latency_ms: u64, jitter_ms: u64 },
    /// Client links hold every message, then release them all at once (out of order across connections).
    Hold,
    /// Client links drop everything; `oneway` drops only server-to-client traffic.
    Partition { oneway: bool },
    /// The server host crashes, losing all per-call state, and restarts when the fault heals.
    CrashBounce,
    /// Client links randomly fail with this probability per message (lost TCP segments: the connection stalls).
    Loss { rate: f64 },
    /// Server handlers sleep `delay_ms` before answering.
    SlowHandler { delay_ms: u64 },
    /// The server answers every `every`-th call with a trailers-only error of this gRPC code.
    TrailersOnly { code: i32, every: u32 },
}

impl Fault {
    /// The fault's catalogue name.
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
        }
    }
}

/// One call of a scripted workload: which client makes it, and what it sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptedCall {
    /// Index of the client host (`client-N`) that makes the call.
    pub client: u32,
    /// The method and its request(s).
    #[serde(flatten)]
    pub input: CallInput,
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

/// One scenario: network, workload, faults, expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
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
    /// Scripted calls: when present, clients make exactly these (in order, per
    /// client) instead of `calls_per_client` generated ones. Property search
    /// writes its shrunk workloads here.
    pub calls: Vec<ScriptedCall>,
    /// Timed faults of the network and the server host.
    pub faults: Vec<TimedFault>,
    /// gRPC-aware faults of a proxy host between clients and server; with
    /// none, clients talk to the server directly.
    pub proxy: Vec<ProxyFault>,
    /// When set, the proxy's call-failing faults (RST_STREAM, GOAWAY, reset)
    /// stop this many milliseconds into the run; unset, they never stop.
    pub proxy_for_ms: Option<u64>,
    /// A deliberately buggy server variant (canary and mutant tests).
    pub mutant: Option<Mutant>,
    /// What the verdict should be.
    pub expect: Expect,
    /// After faults heal, every client must complete a call within this bound.
    pub recovery_ms: u64,
    /// Hard stop of the simulation: a run still going by then is a liveness failure.
    pub limit_ms: u64,
}

impl Default for Scenario {
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
            calls: Vec::new(),
            faults: Vec::new(),
            proxy: Vec::new(),
            proxy_for_ms: None,
            mutant: None,
            expect: Expect::Pass,
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

impl Scenario {
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
        self.faults.push(TimedFault {
            at_ms: at.as_millis() as u64,
            for_ms: lasting.as_millis() as u64,
            fault,
        });
        self
    }

    /// Adds a scripted call made by client `client`.
    pub fn call(mut self, client: u32, input: CallInput) -> Self {
        self.calls.push(ScriptedCall { client, input });
        self
    }

    /// Puts a proxy host with this fault between clients and server.
    pub fn proxy_fault(mut self, fault: ProxyFault) -> Self {
        self.proxy.push(fault);
        self
    }

    /// Serves a deliberately buggy variant.
    pub fn mutant(mut self, mutant: Mutant) -> Self {
        self.mutant = Some(mutant);
        self
    }

    /// Sets the expected verdict.
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// Parses and validates a scenario file (TOML).
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// This scenario as TOML, the format `from_toml` reads.
    pub fn to_toml(&self) -> String {
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
        for f in &self.faults {
            match f.fault {
                Fault::Loss { rate } if !(0.0..=1.0).contains(&rate) => {
                    return invalid("loss rate must be between 0 and 1");
                }
                Fault::TrailersOnly { code, every } if !(1..=16).contains(&code) || every == 0 => {
                    return invalid("trailers-only needs a non-OK gRPC code (1..=16) and every >= 1");
                }
                _ => {}
            }
        }
        if self.heal_ms() + self.recovery_ms >= self.limit_ms {
            return invalid("limit_ms must leave room for faults to heal and clients to recover");
        }
        Ok(())
    }

    /// Simulated time by which every timed fault, and the proxy's call-failing
    /// faults if they stop, have healed.
    pub fn heal_ms(&self) -> u64 {
        let timed = self.faults.iter().map(|f| f.at_ms + f.for_ms).max().unwrap_or(0);
        timed.max(self.proxy_for_ms.unwrap_or(0))
    }

    /// Swarm testing: the variant of this scenario that seed `seed` runs, which
    /// keeps each fault with probability one half (drawn from the seed alone).
    pub fn swarm(&self, seed: u64) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SWARM_STREAM);
        let mut variant = self.clone();
        variant.faults.retain(|_| rng.random_bool(0.5));
        variant.proxy.retain(|_| rng.random_bool(0.5));
        variant
    }

    /// Names of every fault this scenario can inject, sorted, without repeats.
    pub fn fault_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .faults
            .iter()
            .map(|f| f.fault.name())
            .chain(self.proxy.iter().map(ProxyFault::name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}
