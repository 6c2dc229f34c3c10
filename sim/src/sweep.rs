//! Sweeps: scenarios over seeds, sharded, on a pool of threads, and each scenario's verdict —
//! the one place the pass/caught rule lives. The CLI only prints what this returns.
//!
//! Jobs are numbered `k = scenario × seeds + seed offset` and generated from their number
//! (never stored), so a shard `i/n` runs the jobs with `k % n == i`, whatever the sizes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::check::{Property, Violation};
use crate::runner::RunReport;
use crate::scenario::{Expect, Scenario};
use crate::trace::{Event, first_difference};
use crate::tutorial::run;

/// `i/n`: the i-th of n disjoint slices of a sweep's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Parses `i/n` (0 <= i < n).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: expected i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether job `k` is in this shard.
    fn has(self, k: u64) -> bool {
        k % self.count == self.index
    }
}

/// A scenario of a sweep, with what to pass `faultline replay` to run it again.
#[derive(Debug, Clone)]
pub struct Entry {
    pub scenario: Scenario,
    /// A catalogue name, or a scenario file's path.
    pub replay_as: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub entries: Vec<Entry>,
    /// The first seed.
    pub first_seed: u64,
    /// Seeds per scenario, from `first_seed` on.
    pub seeds: u64,
    pub shard: Option<Shard>,
    /// Each seed runs the swarm variant of its scenario (a seeded half of its faults).
    pub swarm: bool,
    /// Each run twice; a different trace is a `determinism` violation.
    pub check_determinism: bool,
    /// Worker threads.
    pub threads: usize,
}

/// One run of a sweep: its report (without the trace and the records, which a sweep does not
/// keep) and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Which entry of the sweep.
    #[serde(skip)]
    pub entry: usize,
    #[serde(flatten)]
    pub report: RunReport,
    /// Wall time of the run, milliseconds (reported, never fed into the simulation).
    pub wall_ms: u64,
}

impl Sweep {
    /// How many jobs the sweep has before sharding.
    pub fn total(&self) -> u64 {
        (self.entries.len() as u64).saturating_mul(self.seeds)
    }

    /// How many jobs this shard runs.
    pub fn jobs(&self) -> u64 {
        match self.shard {
            None => self.total(),
            Some(s) => self.total() / s.count + u64::from(self.total() % s.count > s.index),
        }
    }

    /// The (entry, seed) of job `k`.
    fn job(&self, k: u64) -> (usize, u64) {
        ((k / self.seeds) as usize, self.first_seed.wrapping_add(k % self.seeds))
    }

    /// The scenario a job runs: the entry's, or its swarm variant for the seed.
    pub fn variant(&self, entry: usize, seed: u64) -> Scenario {
        let scenario = &self.entries[entry].scenario;
        if self.swarm { scenario.swarm(seed) } else { scenario.clone() }
    }

    /// Runs every job of the shard, calling `done` as each finishes; outcomes in job order.
    pub fn run(&self, done: impl Fn(&Outcome) + Sync) -> Vec<Outcome> {
        let shard = self.shard;
        let job = |k: u64| {
            let (entry, seed) = self.job(k);
            let started = Instant::now();
            let report = run_checked(&self.variant(entry, seed), seed, self.check_determinism);
            let outcome = Outcome {
                entry,
                report: report.without_trace(),
                wall_ms: started.elapsed().as_millis() as u64,
            };
            done(&outcome);
            outcome
        };
        let all = |k: &u64| shard.is_none_or(|s| s.has(*k));
        match rayon::ThreadPoolBuilder::new().num_threads(self.threads.max(1)).build() {
            Ok(pool) => pool.install(|| (0..self.total()).into_par_iter().filter(all).map(job).collect()),
            // No threads to be had: run them here.
            Err(_) => (0..self.total()).filter(all).map(job).collect(),
        }
    }
}

/// Runs `scenario` under `seed`; with `check_determinism`, runs it again and adds a
/// `determinism` violation naming the first event that differs.
pub fn run_checked(scenario: &Scenario, seed: u64, check_determinism: bool) -> RunReport {
    let mut report = run(scenario, seed);
    if check_determinism {
        let again = run(scenario, seed);
        if let Some(violation) = determinism(&report.events, &again.events) {
            report.violations.push(violation);
        }
    }
    report
}

/// The `determinism` violation of two traces of one (scenario, seed), if they differ.
pub fn determinism(first: &[Event], second: &[Event]) -> Option<Violation> {
    let at = first_difference(first, second)?;
    let show =
        |events: &[Event]| events.get(at).map_or_else(|| "<end of trace>".to_owned(), ToString::to_string);
    Some(Violation {
        property: Property::Determinism,
        call: None,
        detail: format!("event {at} differs: first run `{}`, second run `{}`", show(first), show(second)),
    })
}

/// What one fault did over a scenario's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultSummary {
    /// Times it acted on traffic, all runs together.
    pub acted: u32,
    /// Traffic it touched, in its own unit (see `FaultTally`).
    pub touched: u64,
    /// Runs in which it never touched any traffic.
    pub idle_runs: usize,
}

/// One scenario's line of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub expect: Expect,
    pub seeds: usize,
    /// Runs with a violation.
    pub failing: usize,
    /// A run's trace differed when repeated.
    pub nondeterministic: bool,
    /// The scenario met its expectation: every run passed, or (a canary) some run was caught;
    /// and every run was deterministic.
    pub ok: bool,
    pub calls: usize,
    pub failed_calls: usize,
    /// What each fault did, over all runs.
    pub faults: BTreeMap<String, FaultSummary>,
    pub sim_time: Duration,
    pub wall_time: Duration,
}

impl Summary {
    /// The verdict as the table shows it.
    pub fn verdict(&self) -> String {
        match self.expect {
            _ if self.nondeterministic => "NONDETERMINISTIC".to_owned(),
            Expect::Pass if self.failing == 0 => "pass".to_owned(),
            Expect::Pass => format!("FAIL {}/{}", self.failing, self.seeds),
            Expect::Caught if self.failing > 0 => format!("caught {}/{}", self.failing, self.seeds),
            Expect::Caught => "MISSED".to_owned(),
        }
    }
}

/// One summary per entry that ran, in entry order.
pub fn summarize(sweep: &Sweep, outcomes: &[Outcome]) -> Vec<Summary> {
    let mut out = Vec::new();
    for (i, entry) in sweep.entries.iter().enumerate() {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.entry == i).collect();
        if mine.is_empty() {
            continue;
        }
        let nondeterministic = mine.iter().any(|o| o.report.nondeterministic());
        let failing = mine.iter().filter(|o| !o.report.passed()).count();
        let expect = entry.scenario.expect;
        let met = match expect {
            Expect::Pass => failing == 0,
            Expect::Caught => failing > 0,
        };
        let mut faults: BTreeMap<String, FaultSummary> = BTreeMap::new();
        for o in &mine {
            for (name, t) in &o.report.faults {
                let sum = faults.entry(name.clone()).or_default();
                sum.acted += t.acted;
                sum.touched += t.touched;
                sum.idle_runs += usize::from(t.acted == 0);
            }
        }
        let name = if sweep.swarm {
            format!("{} (swarm)", entry.scenario.name)
        } else {
            entry.scenario.name.clone()
        };
        out.push(Summary {
            scenario: name,
            expect,
            seeds: mine.len(),
            failing,
            nondeterministic,
            ok: met && !nondeterministic,
            calls: mine.iter().map(|o| o.report.calls).sum(),
            failed_calls: mine.iter().map(|o| o.report.failed_calls).sum(),
            faults,
            sim_time: Duration::from_micros(mine.iter().map(|o| o.report.sim_time_us).sum()),
            wall_time: Duration::from_millis(mine.iter().map(|o| o.wall_ms).sum()),
        });
    }
    out
}

/// The runs to show a person: every run of a scenario that missed its expectation (a
/// passing canary's runs are not shown; its summary says MISSED).
pub fn to_report<'a>(sweep: &Sweep, outcomes: &'a [Outcome]) -> Vec<&'a Outcome> {
    outcomes
        .iter()
        .filter(|o| {
            o.report.nondeterministic()
                || (sweep.entries[o.entry].scenario.expect == Expect::Pass && !o.report.passed())
        })
        .collect()
}

/// The command that replays one run.
pub fn replay_command(sweep: &Sweep, outcome: &Outcome) -> String {
    let swarm = if sweep.swarm { " --swarm" } else { "" };
    format!(
        "cargo run --release -- replay {} --seed {}{swarm}",
        sweep.entries[outcome.entry].replay_as, outcome.report.seed
    )
}
