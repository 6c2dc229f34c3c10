//! Sweeps: scenarios over a seed range, sharded, on a pool of threads, and each scenario's
//! verdict — the one place the pass/caught rule lives. The CLI only prints what this returns.
//!
//! Jobs are numbered `k = scenario × seeds + seed offset` (in `u128`, so any number of seeds up
//! to `u64::MAX` fits with any number of scenarios) and generated from their number, never
//! stored: a shard `i/n` runs the jobs `k = i + j × n`, found by arithmetic alone. Outcomes come
//! back in job order while at most a window of them is in flight, so a sweep's memory does not
//! grow with its seeds: a [`Tally`] folds each run into its scenario's summary and keeps only a
//! bounded number of failing runs.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::check::{Property, Violation};
use crate::runner::{FaultTally, RunReport, Stepping};
use crate::scenario::{Expect, Scenario};
use crate::system::System;
use crate::trace::{Event, first_difference};

/// Why a sweep cannot be described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("`{0}` is not a shard: expected i/n with 0 <= i < n, e.g. 0/4")]
    Shard(String),
    #[error("--seeds must be at least 1")]
    NoSeeds,
    #[error("seeds {start} + {count} run past the last seed, {}", u64::MAX)]
    PastLastSeed { start: u64, count: u64 },
}

/// `i/n`: the i-th of n disjoint slices of a sweep's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Parses `i/n` (0 <= i < n).
    pub fn parse(s: &str) -> Result<Self, SweepError> {
        let bad = || SweepError::Shard(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Which slice, from 0.
    pub fn index(self) -> u64 {
        self.index
    }

    /// How many slices.
    pub fn count(self) -> u64 {
        self.count
    }

    /// Whether `i < n` (a shard read back from a file may not be).
    pub fn is_valid(self) -> bool {
        self.index < self.count
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Consecutive seeds: `count` of them from `start`, never past `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeedRange {
    start: u64,
    count: u64,
}

impl SeedRange {
    /// `count` seeds from `start`.
    pub fn new(start: u64, count: u64) -> Result<Self, SweepError> {
        if count == 0 {
            return Err(SweepError::NoSeeds);
        }
        start.checked_add(count - 1).ok_or(SweepError::PastLastSeed { start, count })?;
        Ok(Self { start, count })
    }

    /// The first seed.
    pub fn start(self) -> u64 {
        self.start
    }

    /// How many seeds.
    pub fn count(self) -> u64 {
        self.count
    }

    /// The last seed (inclusive).
    pub fn last(self) -> u64 {
        self.start + (self.count - 1)
    }

    /// Whether the range is well formed (one read back from a file may not be).
    pub fn is_valid(self) -> bool {
        Self::new(self.start, self.count).is_ok()
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.start, self.last())
    }
}

/// A scenario of a sweep, with what to pass `faultline replay` to run it again.
#[derive(Debug, Clone)]
pub struct Entry<O> {
    pub scenario: Scenario<O>,
    /// A catalogue name, or a scenario file's path.
    pub replay_as: String,
    /// The scenario may be vacuous on every seed (its faults never act on this system's
    /// traffic) and still pass.
    pub allow_vacuous: bool,
}

impl<O> Entry<O> {
    /// `scenario`, replayed by its name, not allowed to be vacuous.
    pub fn named(scenario: Scenario<O>) -> Self {
        Self { replay_as: scenario.name.clone(), scenario, allow_vacuous: false }
    }
}

impl<O: Serialize> Entry<O> {
    /// A stable hash of everything the scenario sets (FNV of its JSON form), so shards of
    /// one sweep can tell that they ran the same scenario.
    pub fn fingerprint(&self) -> String {
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(serde_json::to_string(&self.scenario).unwrap_or_default().as_bytes());
        format!("{:016x}", hasher.finish())
    }
}

/// What to run: a system's scenarios over seeds.
#[derive(Debug)]
pub struct Sweep<S: System> {
    /// The system under test.
    pub system: Arc<S>,
    pub entries: Vec<Entry<S::Op>>,
    /// Seeds of every scenario.
    pub seeds: SeedRange,
    pub shard: Option<Shard>,
    /// Each seed runs the swarm variant of its scenario (a seeded half of its faults).
    pub swarm: bool,
    /// Each run twice; a different trace is a `determinism` violation.
    pub check_determinism: bool,
    /// How runs move through simulated time (both give the same runs; skipping is faster).
    pub stepping: Stepping,
    /// Worker threads.
    pub threads: usize,
}

/// What a sweep keeps of one run: its report without trace and records, as a line of data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The scenario's name.
    pub scenario: String,
    pub seed: u64,
    /// Workload calls made.
    pub calls: u64,
    /// Workload calls that ended non-OK.
    pub failed_calls: u64,
    /// Every fault the run scheduled (for a swarm run, the half it kept), with what it did.
    pub faults: BTreeMap<String, FaultCount>,
    /// Workload calls by the non-OK status code clients saw.
    #[serde(default)]
    pub codes: BTreeMap<String, u64>,
    /// Faults were scheduled and none acted on traffic.
    #[serde(default)]
    pub vacuous: bool,
    /// Simulated time, microseconds.
    pub sim_time_us: u64,
    /// Of that, the time in which a failed call could be excused by a fault that acted.
    #[serde(default)]
    pub excusable_us: u64,
    /// Stable hash of the full trace, hex.
    pub trace_hash: String,
    /// Properties that did not hold.
    pub violations: Vec<ViolationRecord>,
    /// Wall time of the run, milliseconds (reported, never fed into the simulation).
    pub wall_ms: u64,
}

/// What one fault did in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCount {
    /// Times it acted on traffic.
    pub acted: u32,
    /// Traffic it touched, in its own unit.
    pub touched: u64,
}

/// A [`Violation`] as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRecord {
    /// The property, as `faultline` names it (`stream-order`, `determinism`, ...).
    pub property: String,
    pub call: Option<u64>,
    pub detail: String,
}

impl fmt::Display for ViolationRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.call {
            Some(call) => write!(f, "[{}] call #{call}: {}", self.property, self.detail),
            None => write!(f, "[{}] {}", self.property, self.detail),
        }
    }
}

impl RunRecord {
    /// The record of a run that took `wall_ms`.
    pub fn of(report: &RunReport, wall_ms: u64) -> Self {
        let count = |t: &FaultTally| FaultCount { acted: t.acted, touched: t.touched };
        Self {
            scenario: report.scenario.clone(),
            seed: report.seed,
            calls: report.calls as u64,
            failed_calls: report.failed_calls as u64,
            faults: report.faults.iter().map(|(name, t)| (name.clone(), count(t))).collect(),
            codes: report.codes.clone(),
            vacuous: report.vacuous(),
            sim_time_us: report.sim_time_us,
            excusable_us: report.excusable_us,
            trace_hash: format!("{:016x}", report.trace_hash),
            violations: report
                .violations
                .iter()
                .map(|v| ViolationRecord {
                    property: v.property.to_string(),
                    call: v.call,
                    detail: v.detail.clone(),
                })
                .collect(),
            wall_ms,
        }
    }

    /// Every property held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The same seed gave another trace.
    pub fn nondeterministic(&self) -> bool {
        let determinism = Property::Determinism.to_string();
        self.violations.iter().any(|v| v.property == determinism)
    }
}

/// One run of a sweep: which entry, and its record.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which entry of the sweep.
    pub entry: usize,
    pub record: RunRecord,
}

/// Runs in flight per worker thread at most: outcomes wait at most this far ahead of the
/// oldest unfinished one, so a slow run never lets the others pile up unbounded.
const WINDOW_PER_THREAD: usize = 32;

impl<S: System> Sweep<S> {
    /// How many jobs the sweep has before sharding.
    pub fn total(&self) -> u128 {
        self.entries.len() as u128 * u128::from(self.seeds.count)
    }

    /// How many jobs this shard runs.
    pub fn jobs(&self) -> u128 {
        let total = self.total();
        match self.shard {
            None => total,
            Some(s) => {
                let (index, count) = (u128::from(s.index), u128::from(s.count));
                if total > index { (total - index).div_ceil(count) } else { 0 }
            }
        }
    }

    /// The (entry, seed) of this shard's `j`-th job (`j < jobs()`).
    pub fn job(&self, j: u128) -> (usize, u64) {
        let k = match self.shard {
            None => j,
            Some(s) => u128::from(s.index) + j * u128::from(s.count),
        };
        let seeds = u128::from(self.seeds.count);
        // Both fit: k < entries × seeds, and the offset < seeds <= u64::MAX - start + 1.
        ((k / seeds) as usize, self.seeds.start + (k % seeds) as u64)
    }

    /// The scenario a job runs: the entry's, or its swarm variant for the seed.
    pub fn variant(&self, entry: usize, seed: u64) -> Scenario<S::Op> {
        let scenario = &self.entries[entry].scenario;
        if self.swarm { scenario.swarm(seed) } else { scenario.clone() }
    }

    /// The scenarios as a [`Tally`] counts them.
    pub fn tally(&self) -> Tally {
        Tally::new(
            self.entries
                .iter()
                .map(|e| Expected {
                    name: e.scenario.name.clone(),
                    expect: e.scenario.expect,
                    caught_by: e.scenario.caught_by.clone(),
                    allow_vacuous: e.allow_vacuous,
                })
                .collect(),
            self.swarm,
        )
    }

    /// Runs this shard's `j`-th job.
    fn run_job(&self, j: u128) -> Outcome {
        let (entry, seed) = self.job(j);
        let started = Instant::now();
        let report = run_checked_stepping(
            &self.system,
            &self.variant(entry, seed),
            seed,
            self.check_determinism,
            self.stepping,
        );
        Outcome { entry, record: RunRecord::of(&report, started.elapsed().as_millis() as u64) }
    }

    /// Runs every job of the shard on a pool of `threads`, handing each outcome to `each` on
    /// the calling thread, in job order, as soon as it and every job before it are done. When
    /// `each` breaks, no further job starts; the ones under way finish unseen.
    pub fn run(&self, mut each: impl FnMut(Outcome) -> ControlFlow<()>) {
        let jobs = self.jobs();
        let pool = match rayon::ThreadPoolBuilder::new().num_threads(self.threads.max(1)).build() {
            Ok(pool) => pool,
            // No threads to be had: run them here.
            Err(_) => {
                let mut j = 0;
                while j < jobs && each(self.run_job(j)).is_continue() {
                    j += 1;
                }
                return;
            }
        };
        let window = (self.threads.max(1) * WINDOW_PER_THREAD) as u128;
        pool.in_place_scope(|scope| {
            let (tx, rx) = mpsc::channel();
            let spawn = |j: u128| {
                let tx = tx.clone();
                scope.spawn(move |_| {
                    // The runner catches a run's panics; this one would be the sweep's own bug,
                    // carried to the calling thread rather than leaving it waiting.
                    let _ = tx.send((j, catch_unwind(AssertUnwindSafe(|| self.run_job(j)))));
                });
            };
            let mut next = 0;
            while next < jobs && next < window {
                spawn(next);
                next += 1;
            }
            let mut waiting = BTreeMap::new();
            let mut emitted = 0;
            while emitted < jobs {
                let Ok((j, outcome)) = rx.recv() else { break };
                waiting.insert(j, outcome);
                while let Some(outcome) = waiting.remove(&emitted) {
                    let flow = match outcome {
                        Ok(outcome) => each(outcome),
                        Err(panic) => resume_unwind(panic),
                    };
                    emitted += 1;
                    if flow.is_break() {
                        return;
                    }
                    if next < jobs {
                        spawn(next);
                        next += 1;
                    }
                }
            }
        });
    }
}

/// Runs `scenario` of `system` under `seed`; with `check_determinism`, runs it again and adds
/// a `determinism` violation naming the first event that differs.
pub fn run_checked<S: System>(
    system: &Arc<S>,
    scenario: &Scenario<S::Op>,
    seed: u64,
    check_determinism: bool,
) -> RunReport {
    run_checked_stepping(system, scenario, seed, check_determinism, Stepping::default())
}

/// [`run_checked`], moving through time as `stepping` says.
pub fn run_checked_stepping<S: System>(
    system: &Arc<S>,
    scenario: &Scenario<S::Op>,
    seed: u64,
    check_determinism: bool,
    stepping: Stepping,
) -> RunReport {
    let mut report = crate::runner::run_stepping(system, scenario, seed, stepping);
    if check_determinism {
        let again = crate::runner::run_stepping(system, scenario, seed, stepping);
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSummary {
    /// Times it acted on traffic, all runs together.
    pub acted: u64,
    /// Traffic it touched, in its own unit (see `FaultTally`).
    pub touched: u64,
    /// Runs in which it never touched any traffic.
    pub idle_runs: u64,
}

/// What a tally expects of one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub expect: Expect,
    /// The property a caught scenario must be caught by (any, if none).
    pub caught_by: Option<String>,
    /// Vacuous on every seed is no failure.
    pub allow_vacuous: bool,
}

/// One scenario's line of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub expect: Expect,
    pub seeds: u64,
    /// Runs with a violation.
    pub failing: u64,
    /// Runs in which the scenario's faults never acted on traffic.
    #[serde(default)]
    pub vacuous: u64,
    /// A run's trace differed when repeated.
    pub nondeterministic: bool,
    /// The scenario met its expectation: every run passed, or (a canary) some run was caught;
    /// every run was deterministic; and (unless allowed) its faults acted in some run.
    pub ok: bool,
    pub calls: u64,
    pub failed_calls: u64,
    /// Workload calls by the non-OK status code clients saw, all runs together.
    #[serde(default)]
    pub codes: BTreeMap<String, u64>,
    /// What each fault did, over all runs.
    pub faults: BTreeMap<String, FaultSummary>,
    /// Simulated time of all runs, microseconds.
    pub sim_time_us: u64,
    /// Of that, the time in which a failed call could be excused (fault windows that acted,
    /// plus the grace); the rest is clean time.
    #[serde(default)]
    pub excusable_us: u64,
    /// Wall time of all runs added up, milliseconds.
    pub wall_ms: u64,
}

impl Summary {
    /// The verdict as the table shows it.
    pub fn verdict(&self) -> String {
        match self.expect {
            _ if self.nondeterministic => "NONDETERMINISTIC".to_owned(),
            Expect::Pass if self.failing == 0 && self.all_vacuous() && !self.ok => "VACUOUS".to_owned(),
            Expect::Pass if self.failing == 0 => "pass".to_owned(),
            Expect::Pass => format!("FAIL {}/{}", self.failing, self.seeds),
            Expect::Caught if self.failing > 0 => format!("caught {}/{}", self.failing, self.seeds),
            Expect::Caught => "MISSED".to_owned(),
        }
    }
}

impl Summary {
    /// Every run was vacuous: the scenario's faults never acted on this system's traffic.
    pub fn all_vacuous(&self) -> bool {
        self.seeds > 0 && self.vacuous == self.seeds
    }

    /// The non-OK codes clients saw, as `CODE×n` (empty when none).
    pub fn codes_seen(&self) -> String {
        self.codes.iter().map(|(code, n)| format!("{code}×{n}")).collect::<Vec<_>>().join(" ")
    }
}

/// A run to show a person, with the entry it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub entry: usize,
    pub record: RunRecord,
}

/// Failing runs kept in full; past this, findings are only counted (the JSON has them all).
pub const KEPT_FINDINGS: usize = 100;

/// A sweep's verdicts as runs come in: each scenario's summary, and the first
/// [`KEPT_FINDINGS`] findings in full. Its size does not depend on the number of runs.
#[derive(Debug, Clone)]
pub struct Tally {
    scenarios: Vec<Expected>,
    swarm: bool,
    summaries: Vec<Option<Summary>>,
    findings: Vec<Finding>,
    findings_not_kept: u64,
    runs: u64,
}

impl Tally {
    /// An empty tally of these scenarios, in entry order.
    pub fn new(scenarios: Vec<Expected>, swarm: bool) -> Self {
        let summaries = vec![None; scenarios.len()];
        Self { scenarios, swarm, summaries, findings: Vec::new(), findings_not_kept: 0, runs: 0 }
    }

    /// Folds in one run of entry `entry`.
    pub fn add(&mut self, entry: usize, record: &RunRecord) {
        let Expected { name, expect, caught_by, allow_vacuous } = &self.scenarios[entry];
        let (expect, allow_vacuous) = (*expect, *allow_vacuous);
        // A caught scenario's runs count as failing only when caught by its property.
        let failing = match (expect, caught_by) {
            (Expect::Caught, Some(property)) => record.violations.iter().any(|v| v.property == *property),
            _ => !record.passed(),
        };
        let swarm = self.swarm;
        let sum = self.summaries[entry].get_or_insert_with(|| Summary {
            scenario: if swarm { format!("{name} (swarm)") } else { name.clone() },
            expect,
            seeds: 0,
            failing: 0,
            vacuous: 0,
            nondeterministic: false,
            ok: false,
            calls: 0,
            failed_calls: 0,
            codes: BTreeMap::new(),
            faults: BTreeMap::new(),
            sim_time_us: 0,
            excusable_us: 0,
            wall_ms: 0,
        });
        sum.seeds += 1;
        sum.failing += u64::from(failing);
        sum.vacuous += u64::from(record.vacuous);
        sum.nondeterministic |= record.nondeterministic();
        sum.ok = !sum.nondeterministic
            && match expect {
                Expect::Pass => sum.failing == 0 && (allow_vacuous || sum.vacuous < sum.seeds),
                Expect::Caught => sum.failing > 0,
            };
        for (code, n) in &record.codes {
            let c = sum.codes.entry(code.clone()).or_default();
            *c = c.saturating_add(*n);
        }
        sum.calls = sum.calls.saturating_add(record.calls);
        sum.failed_calls = sum.failed_calls.saturating_add(record.failed_calls);
        for (name, count) in &record.faults {
            let f = sum.faults.entry(name.clone()).or_default();
            f.acted = f.acted.saturating_add(u64::from(count.acted));
            f.touched = f.touched.saturating_add(count.touched);
            f.idle_runs += u64::from(count.acted == 0);
        }
        sum.sim_time_us = sum.sim_time_us.saturating_add(record.sim_time_us);
        sum.excusable_us = sum.excusable_us.saturating_add(record.excusable_us);
        sum.wall_ms = sum.wall_ms.saturating_add(record.wall_ms);
        self.runs += 1;
        // Shown: every run of a scenario that must pass and did not, and any nondeterministic
        // run (a canary's caught runs are its verdict, not findings).
        if record.nondeterministic() || (expect == Expect::Pass && failing) {
            if self.findings.len() < KEPT_FINDINGS {
                self.findings.push(Finding { entry, record: record.clone() });
            } else {
                self.findings_not_kept += 1;
            }
        }
    }

    /// One summary per scenario that ran, in entry order.
    pub fn summaries(&self) -> Vec<Summary> {
        self.summaries.iter().flatten().cloned().collect()
    }

    /// The summary of entry `entry`, if it ran.
    pub fn summary(&self, entry: usize) -> Option<&Summary> {
        self.summaries.get(entry).and_then(Option::as_ref)
    }

    /// Every scenario that ran met its expectation.
    pub fn ok(&self) -> bool {
        self.summaries.iter().flatten().all(|s| s.ok)
    }

    /// The first findings, in the order they were added.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Findings counted but not kept.
    pub fn findings_not_kept(&self) -> u64 {
        self.findings_not_kept
    }

    /// Runs folded in.
    pub fn runs(&self) -> u64 {
        self.runs
    }
}

/// How a runner's failures say to replay them: the command that starts the runner and the
/// flags every replay needs (`--with-bug`, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayCommand {
    /// What starts the runner, up to its arguments: `cargo run --release --`.
    pub program: String,
    /// Flags after `replay ... --seed n`, with a leading space (or empty).
    pub flags: String,
}

impl Default for ReplayCommand {
    /// `faultline`'s: `cargo run --release --` at this repository's root.
    fn default() -> Self {
        Self { program: "cargo run --release --".to_owned(), flags: String::new() }
    }
}

impl ReplayCommand {
    /// The command that replays one run of the scenario `replay_as` (a catalogue name or a file).
    pub fn line(&self, replay_as: &str, seed: u64, swarm: bool) -> String {
        let swarm = if swarm { " --swarm" } else { "" };
        format!("{} replay {replay_as} --seed {seed}{swarm}{}", self.program, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::system::{Call, ServerStart};

    /// A system whose operations make no call: runs of the catalogue's shape, quickly.
    struct Idle;

    impl System for Idle {
        type Op = ();
        type Reply = ();

        fn routes(&self, _: &ServerStart) -> tonic::service::Routes {
            tonic::service::Routes::default()
        }

        fn generate(&self, _: &mut rand_chacha::ChaCha8Rng) {}

        async fn perform(&self, (): (), _: Call<()>) -> Result<(), tonic::Status> {
            Ok(())
        }
    }

    fn sweep(names: &[&str], seeds: SeedRange, shard: Option<&str>) -> Sweep<Idle> {
        let find = |n: &str| catalogue::faults().into_iter().find(|s| s.name == n).unwrap();
        let entries = names.iter().map(|n| Entry::named(find(n))).collect();
        Sweep {
            system: Arc::new(Idle),
            entries,
            seeds,
            shard: shard.map(|s| Shard::parse(s).unwrap()),
            swarm: false,
            check_determinism: false,
            stepping: Stepping::default(),
            threads: 2,
        }
    }

    #[test]
    fn seed_ranges_stop_at_the_last_seed() {
        assert_eq!(SeedRange::new(0, 0), Err(SweepError::NoSeeds));
        assert_eq!(SeedRange::new(0, u64::MAX).unwrap().last(), u64::MAX - 1);
        assert_eq!(SeedRange::new(1, u64::MAX).unwrap().last(), u64::MAX);
        assert!(matches!(SeedRange::new(2, u64::MAX), Err(SweepError::PastLastSeed { .. })));
        assert_eq!(SeedRange::new(u64::MAX, 1).unwrap().to_string(), format!("{}..={}", u64::MAX, u64::MAX));
    }

    #[test]
    fn shards_find_their_jobs_by_arithmetic_at_any_size() {
        // 2 × (2^64 - 1) jobs, in 3 × 6148914691236517205 slices... of a third each per scenario.
        let n = u64::MAX / 3;
        let s = sweep(&["smoke", "latency"], SeedRange::new(0, u64::MAX).unwrap(), Some(&format!("5/{n}")));
        assert_eq!(s.total(), 2 * u128::from(u64::MAX));
        assert_eq!(s.jobs(), 6);
        let jobs: Vec<(usize, u64)> = (0..6).map(|j| s.job(j)).collect();
        assert_eq!(jobs, vec![(0, 5), (0, 5 + n), (0, 5 + 2 * n), (1, 5), (1, 5 + n), (1, 5 + 2 * n)]);
    }

    #[test]
    fn shards_of_small_sweeps_partition_the_jobs() {
        let seeds = SeedRange::new(10, 7).unwrap();
        let whole: Vec<(usize, u64)> = {
            let s = sweep(&["smoke", "latency", "chaos"], seeds, None);
            (0..s.jobs()).map(|j| s.job(j)).collect()
        };
        assert_eq!(whole.len(), 21);
        assert_eq!(whole[0], (0, 10));
        assert_eq!(whole[20], (2, 16));
        let mut shards: Vec<(usize, u64)> = (0..5)
            .flat_map(|i| {
                let s = sweep(&["smoke", "latency", "chaos"], seeds, Some(&format!("{i}/5")));
                (0..s.jobs()).map(|j| s.job(j)).collect::<Vec<_>>()
            })
            .collect();
        shards.sort();
        assert_eq!(shards, whole);
        // More shards than jobs: the last ones are empty.
        assert_eq!(sweep(&["smoke"], SeedRange::new(0, 2).unwrap(), Some("3/4")).jobs(), 0);
    }

    #[test]
    fn outcomes_arrive_in_job_order() {
        let s = sweep(&["smoke"], SeedRange::new(3, 5).unwrap(), None);
        let mut seeds = Vec::new();
        let mut tally = s.tally();
        s.run(|o| {
            seeds.push(o.record.seed);
            tally.add(o.entry, &o.record);
            ControlFlow::Continue(())
        });
        assert_eq!(seeds, vec![3, 4, 5, 6, 7]);
        let summaries = tally.summaries();
        assert_eq!(summaries.len(), 1);
        assert_eq!((summaries[0].seeds, summaries[0].ok, summaries[0].verdict().as_str()), (5, true, "pass"));
    }

    #[test]
    fn a_consumer_that_breaks_stops_the_sweep() {
        // One client making one call: runs of a few milliseconds.
        let mut s = sweep(&["smoke"], SeedRange::new(0, 10_000).unwrap(), None);
        s.entries[0].scenario.clients = 1;
        s.entries[0].scenario.calls_per_client = 1;
        s.threads = 1;
        let mut seen = Vec::new();
        s.run(|o| {
            seen.push(o.record.seed);
            if seen.len() == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        assert_eq!(seen, vec![0, 1, 2]);
    }

    fn expected(name: &str, expect: Expect, allow_vacuous: bool) -> Expected {
        Expected { name: name.to_owned(), expect, caught_by: None, allow_vacuous }
    }

    fn record(seed: u64, violations: &[&str]) -> RunRecord {
        RunRecord {
            scenario: "x".into(),
            seed,
            calls: 2,
            failed_calls: 1,
            faults: BTreeMap::from([(
                "hold".to_owned(),
                FaultCount { acted: u32::from(seed.is_multiple_of(2)), touched: 3 },
            )]),
            codes: BTreeMap::from([("UNAVAILABLE".to_owned(), 1)]),
            vacuous: !seed.is_multiple_of(2),
            sim_time_us: 10,
            excusable_us: 0,
            trace_hash: "0".into(),
            violations: violations
                .iter()
                .map(|p| ViolationRecord { property: (*p).into(), call: None, detail: "d".into() })
                .collect(),
            wall_ms: 1,
        }
    }

    #[test]
    fn a_tally_applies_the_pass_caught_rule_and_keeps_a_bounded_number_of_findings() {
        let mut tally = Tally::new(
            vec![expected("x", Expect::Pass, false), expected("canary", Expect::Caught, false)],
            false,
        );
        for seed in 0..(KEPT_FINDINGS as u64 + 5) {
            tally.add(0, &record(seed, &["status"]));
        }
        tally.add(1, &record(0, &["chat"]));
        let s = tally.summaries();
        assert_eq!(s[0].verdict(), format!("FAIL {n}/{n}", n = KEPT_FINDINGS + 5));
        assert_eq!(s[0].faults["hold"], FaultSummary { acted: 53, touched: 315, idle_runs: 52 });
        assert_eq!(s[1].verdict(), "caught 1/1");
        assert!(!tally.ok() && s[1].ok);
        // The canary's caught run is no finding; past the limit findings are only counted.
        assert_eq!(tally.findings().len(), KEPT_FINDINGS);
        assert_eq!(tally.findings_not_kept(), 5);
        assert_eq!(tally.runs(), KEPT_FINDINGS as u64 + 6);

        let mut missed = Tally::new(vec![expected("canary", Expect::Caught, false)], true);
        missed.add(0, &record(0, &[]));
        assert_eq!((missed.summaries()[0].verdict().as_str(), missed.ok()), ("MISSED", false));
        assert_eq!(missed.summaries()[0].scenario, "canary (swarm)");
        missed.add(0, &record(1, &["determinism"]));
        assert_eq!(missed.summaries()[0].verdict(), "NONDETERMINISTIC");
        assert_eq!(missed.findings().len(), 1);
    }

    #[test]
    fn a_canary_that_names_its_property_is_caught_only_by_it() {
        let by_summary = Expected {
            name: "canary".into(),
            expect: Expect::Caught,
            caught_by: Some("summary".into()),
            allow_vacuous: false,
        };
        let mut tally = Tally::new(vec![by_summary], false);
        // Caught, but by another property (a service that also fails calls): not the canary's bug.
        tally.add(0, &record(0, &["status"]));
        assert_eq!((tally.summaries()[0].verdict().as_str(), tally.ok()), ("MISSED", false));
        tally.add(0, &record(2, &["status", "summary"]));
        assert_eq!((tally.summaries()[0].verdict().as_str(), tally.ok()), ("caught 1/2", true));
    }

    #[test]
    fn a_scenario_whose_faults_never_acted_on_any_seed_is_vacuous_not_passed() {
        let mut tally = Tally::new(
            vec![
                expected("some-acted", Expect::Pass, false),
                expected("never-acted", Expect::Pass, false),
                expected("allowed", Expect::Pass, true),
            ],
            false,
        );
        for seed in [0, 1, 3] {
            tally.add(0, &record(seed, &[]));
        }
        for entry in [1, 2] {
            for seed in [1, 3] {
                tally.add(entry, &record(seed, &[]));
            }
        }
        let s = tally.summaries();
        assert_eq!((s[0].verdict().as_str(), s[0].vacuous, s[0].ok), ("pass", 2, true));
        assert_eq!((s[1].verdict().as_str(), s[1].vacuous, s[1].ok), ("VACUOUS", 2, false));
        assert_eq!((s[2].verdict().as_str(), s[2].ok), ("pass", true));
        assert_eq!(s[0].codes["UNAVAILABLE"], 3);
        assert!(!tally.ok());
    }
}
