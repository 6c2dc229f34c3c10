//! The harness a `#[test]` drives: a [`System`], scenarios, seeds; a failure panics with its
//! seed and the one command that replays it.
//!
//! ```no_run
//! # use {faultline_sim::Harness, faultline_tutorial::Tutorial};
//! #[test]
//! fn survives_the_fault_catalogue() {
//!     Harness::new(Tutorial::default()).seeds(0..4).check();
//! }
//! ```
//!
//! Environment, for replaying one failure: `SEED=n` runs only that seed;
//! `FAULTLINE_SCENARIO=name` only the scenario of that name; `FAULTLINE_SCENARIO_FILE=path`
//! runs the scenario in that file (what a search printed) instead; `FAULTLINE_TIMELINE=path`
//! writes the first failure's timeline (HTML) there. Every finding prints the command that
//! sets them, and it runs the test even when it is `#[ignore]`d.
//!
//! A scenario whose faults never acted on the system's traffic, on any seed, is a finding
//! (it tested nothing it claims to): a unary-only service meets no `rst-stream` after the 2nd
//! message. Let such a scenario pass by name with [`Harness::allow_vacuous`].

use std::collections::BTreeSet;
use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use proptest::strategy::Strategy;

use crate::catalogue;
use crate::runner::{RunReport, run};
use crate::scenario::{Expect, Scenario};
use crate::search::{self, Found, SearchConfig};
use crate::sweep::{Entry, SeedRange, Summary, Sweep};
use crate::system::System;

/// A system, the scenarios it must survive and the seeds to run them under.
pub struct Harness<S: System> {
    system: Arc<S>,
    scenarios: Vec<Scenario<S::Op>>,
    seeds: Range<u64>,
    swarm: bool,
    replay_as: Option<String>,
    allow_vacuous: BTreeSet<String>,
}

/// A scenario that did not come out as it expects.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The scenario's name.
    pub scenario: String,
    /// The failing run (for a scenario expected to be caught that never was: its first seed's).
    pub report: RunReport,
    /// What went wrong, with `SEED=` and the replay command.
    pub text: String,
}

/// The scenarios and the seeds a harness runs (none: an empty range), and the scenario file
/// they came from (`FAULTLINE_SCENARIO_FILE`).
struct Plan<O> {
    scenarios: Vec<Scenario<O>>,
    seeds: Option<SeedRange>,
    file: Option<String>,
}

impl<S: System> Harness<S> {
    /// `system` against the fault catalogue ([`catalogue::faults`]) on seeds `0..8`.
    pub fn new(system: S) -> Self {
        Self::shared(Arc::new(system))
    }

    /// The same, for a system already shared.
    pub fn shared(system: Arc<S>) -> Self {
        Self {
            system,
            scenarios: catalogue::faults(),
            seeds: 0..8,
            swarm: false,
            replay_as: None,
            allow_vacuous: BTreeSet::new(),
        }
    }

    /// Runs these scenarios instead.
    pub fn scenarios(mut self, scenarios: impl IntoIterator<Item = Scenario<S::Op>>) -> Self {
        self.scenarios = scenarios.into_iter().collect();
        self
    }

    /// Runs these seeds (each scenario under each).
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// Swarm testing: each seed runs a seeded half of its scenario's faults.
    pub fn swarm(mut self, on: bool) -> Self {
        self.swarm = on;
        self
    }

    /// Lets these scenarios pass though their faults never act on the system's traffic on any
    /// seed (a scenario of proxy faults after the N-th streamed message, for a unary service).
    pub fn allow_vacuous<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.allow_vacuous.extend(names.into_iter().map(str::to_owned));
        self
    }

    /// How findings say to replay them, with `{scenario}` and `{seed}` in place (default:
    /// the `cargo test` command of the running test, [`replay_command`]).
    pub fn replay_as(mut self, template: &str) -> Self {
        self.replay_as = Some(template.to_owned());
        self
    }

    /// The system under test.
    pub fn system(&self) -> &Arc<S> {
        &self.system
    }

    /// Runs one scenario under one seed.
    pub fn replay(&self, scenario: &Scenario<S::Op>, seed: u64) -> RunReport {
        run(&self.system, scenario, seed)
    }

    /// The scenarios and seeds to run, after `SEED`, `FAULTLINE_SCENARIO` and
    /// `FAULTLINE_SCENARIO_FILE`.
    fn plan(&self) -> Result<Plan<S::Op>, String> {
        let file = std::env::var("FAULTLINE_SCENARIO_FILE").ok();
        let seeds = match std::env::var("SEED") {
            Ok(seed) => {
                let seed = seed.trim().parse().map_err(|_| format!("SEED={seed} is not a u64"))?;
                SeedRange::new(seed, 1).ok()
            }
            Err(_) => SeedRange::new(self.seeds.start, self.seeds.end.saturating_sub(self.seeds.start)).ok(),
        };
        let mut scenarios = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
                vec![Scenario::from_toml(&text).map_err(|e| format!("{path}: {e}"))?]
            }
            None => self.scenarios.clone(),
        };
        if let Ok(name) = std::env::var("FAULTLINE_SCENARIO") {
            scenarios.retain(|s| s.name == name);
            if scenarios.is_empty() {
                return Err(format!("FAULTLINE_SCENARIO={name}: no scenario of that name"));
            }
        }
        for s in &scenarios {
            s.validate().map_err(|e| e.to_string())?;
            let misplaced = crate::topology::Topology::misplaced(&self.system.nodes(), s);
            misplaced
                .map_or_else(|| self.system.validate(s), Err)
                .map_err(|reason| format!("invalid scenario `{}`: {reason}", s.name))?;
        }
        Ok(Plan { scenarios, seeds, file })
    }

    /// Runs every scenario under every seed (on a thread pool; each run is deterministic) and
    /// returns the scenarios that did not come out as they expect: a `pass` scenario that
    /// failed on a seed (its first failing seed) or whose faults never acted on any seed
    /// (unless allowed), a `caught` one that passed on every seed.
    pub fn run(&self) -> Result<Vec<Finding>, String> {
        self.run_plan(&self.plan()?)
    }

    fn run_plan(&self, plan: &Plan<S::Op>) -> Result<Vec<Finding>, String> {
        let scenarios = &plan.scenarios;
        let Some(seeds) = plan.seeds else { return Ok(Vec::new()) };
        // The sweep's jobs, window and pass/caught rule, in one place.
        let sweep = Sweep {
            system: self.system.clone(),
            entries: scenarios
                .iter()
                .map(|s| Entry {
                    allow_vacuous: self.allow_vacuous.contains(&s.name),
                    ..Entry::named(s.clone())
                })
                .collect(),
            seeds,
            shard: None,
            swarm: self.swarm,
            check_determinism: false,
            stepping: crate::Stepping::default(),
            threads: rayon::current_num_threads(),
        };
        let mut tally = sweep.tally();
        // Each scenario's first failing seed (a `pass` scenario's finding).
        let mut first_failing = vec![None; scenarios.len()];
        sweep.run(|outcome| {
            tally.add(outcome.entry, &outcome.record);
            if !outcome.record.passed() {
                first_failing[outcome.entry].get_or_insert(outcome.record.seed);
            }
            ControlFlow::Continue(())
        });
        let mut findings = Vec::new();
        for (i, scenario) in scenarios.iter().enumerate() {
            if tally.summary(i).is_none_or(|summary| summary.ok) {
                continue;
            }
            // Runs are deterministic: the finding's report is its run again, in full.
            let (seed, what) = match (scenario.expect, first_failing[i]) {
                (Expect::Pass, Some(seed)) => (seed, None),
                (Expect::Pass, None) => (
                    seeds.start(),
                    Some(format!(
                        "is vacuous: its faults never acted on the system's traffic on any seed \
                         (codes seen: {}); if that is expected, `.allow_vacuous([\"{}\"])`",
                        tally
                            .summary(i)
                            .map(Summary::codes_seen)
                            .filter(|codes| !codes.is_empty())
                            .unwrap_or_else(|| "none".to_owned()),
                        scenario.name
                    )),
                ),
                (Expect::Caught, _) => {
                    let by = scenario.caught_by.as_ref().map_or_else(String::new, |p| format!(" by {p}"));
                    (seeds.start(), Some(format!("expected to be caught{by}, but was not on any seed")))
                }
            };
            let report = run(&self.system, &sweep.variant(i, seed), seed);
            let what = what.unwrap_or_else(|| {
                let lines: Vec<String> = report.violations.iter().take(5).map(ToString::to_string).collect();
                format!("failed on SEED={seed}:\n  {}", lines.join("\n  "))
            });
            let replay = match &self.replay_as {
                Some(template) => {
                    template.replace("{scenario}", &scenario.name).replace("{seed}", &seed.to_string())
                }
                None => match &plan.file {
                    Some(path) => replay_file_command(path, seed),
                    None => replay_command(&scenario.name, seed),
                },
            };
            let text = format!("scenario `{}` {what}\nreplay: {replay}", scenario.name);
            findings.push(Finding { scenario: scenario.name.clone(), report, text });
        }
        Ok(findings)
    }

    /// Runs every scenario under every seed; panics, listing every finding with its seed and
    /// replay command, if any scenario did not come out as it expects. With
    /// `FAULTLINE_TIMELINE=path`, the first finding's timeline is written there.
    pub fn check(&self) {
        let plan = self.plan().unwrap_or_else(|e| panic!("faultline: {e}"));
        let findings = self.run_plan(&plan).unwrap_or_else(|e| panic!("faultline: {e}"));
        let Some(first) = findings.first() else { return };
        if let Some(scenario) = plan.scenarios.iter().find(|s| s.name == first.scenario) {
            let scenario = if self.swarm { scenario.swarm(first.report.seed) } else { scenario.clone() };
            write_timeline(&scenario, &first.report);
        }
        let texts: Vec<&str> = findings.iter().map(|f| f.text.as_str()).collect();
        panic!("faultline: {} scenario(s) failed\n\n{}", findings.len(), texts.join("\n\n"));
    }

    /// Property search over scenarios whose scripted workload comes from `ops` (with up to
    /// `max_faults` faults of the catalogue); returns the first failure, shrunk, or `None` when
    /// `config.cases` cases passed. With `FAULTLINE_SCENARIO_FILE` and `SEED` set (what
    /// [`Harness::describe`] prints) it searches nothing and replays that case instead, writing
    /// its timeline when `FAULTLINE_TIMELINE` is set.
    pub fn search(
        &self,
        ops: impl Strategy<Value = S::Op>,
        max_faults: usize,
        mutant: Option<String>,
        config: SearchConfig,
    ) -> Result<Option<Found<S::Op>>, String> {
        let plan = self.plan()?;
        if plan.file.is_some() {
            let seed = plan.seeds.map(SeedRange::start).ok_or("SEED: no seed to replay")?;
            for scenario in plan.scenarios {
                let report = self.replay(&scenario, seed);
                if !report.passed() {
                    write_timeline(&scenario, &report);
                    return Ok(Some(Found { scenario, seed, report }));
                }
            }
            return Ok(None);
        }
        let strategy = search::scenario_in(ops, max_faults, mutant, self.system.nodes());
        search::search(&self.system, strategy, config)
    }

    /// A found case as a person reads it ([`Found::describe`]), saved as a scenario file in
    /// the temporary directory, with the command that reruns the running `#[test]` on it.
    pub fn describe(&self, found: &Found<S::Op>) -> String {
        let dir = std::env::temp_dir().join("faultline");
        let path = dir.join(format!("found-{}-{:016x}.toml", found.scenario.name, found.report.trace_hash));
        let saved =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, found.scenario.to_toml()));
        let path = path.display().to_string();
        match saved {
            Ok(()) => found.describe(&replay_file_command(&path, found.seed)),
            Err(e) => {
                let text = found.describe(&replay_file_command("{file}", found.seed));
                format!("{text}\n(cannot save the file as {path}: {e})")
            }
        }
    }
}

/// With `FAULTLINE_TIMELINE=path`, writes the run's timeline there.
fn write_timeline<O>(scenario: &Scenario<O>, report: &RunReport) {
    let Ok(path) = std::env::var("FAULTLINE_TIMELINE") else { return };
    match std::fs::write(&path, crate::timeline::render(scenario, report)) {
        Ok(()) => eprintln!("faultline: the timeline of `{}` is written to {path}", scenario.name),
        Err(e) => eprintln!("faultline: cannot write the timeline to {path}: {e}"),
    }
}

/// `cargo test` of the `#[test]` running now, with `env` before it: the test's name is the
/// thread's (libtest names each test's thread after it), the package is cargo's; ignored tests
/// run too.
fn test_command(env: &str) -> String {
    let test = std::thread::current().name().filter(|n| *n != "main").map(str::to_owned);
    let package = std::env::var("CARGO_PKG_NAME").map(|p| format!(" -p {p}")).unwrap_or_default();
    let filter = test.map(|t| format!(" --exact {t}")).unwrap_or_default();
    format!("{env} cargo test{package} -- --include-ignored{filter}")
}

/// The command that reruns one seed of one scenario of the `#[test]` running now.
pub fn replay_command(scenario: &str, seed: u64) -> String {
    test_command(&format!("SEED={seed} FAULTLINE_SCENARIO={scenario}"))
}

/// The command that reruns the `#[test]` running now on the scenario file `path`, one seed.
pub fn replay_file_command(path: &str, seed: u64) -> String {
    test_command(&format!("SEED={seed} FAULTLINE_SCENARIO_FILE={path}"))
}
