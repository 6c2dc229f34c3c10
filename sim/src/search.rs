//! Property search: proptest strategies for fault schedules and whole scenarios over any
//! system's operations, and a search whose generation is a function of its seed, shrinking a
//! failure to a small scenario file. Collections are `Vec`s in generation order (no hash
//! containers), so a search seed always generates the same cases.

use std::fmt;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::fault::{CLIENTS, Fault, Injector, TimedFault};
use crate::runner::{RunReport, run};
use crate::scenario::{Scenario, ScriptedCall};
use crate::system::System;

/// A fault of the catalogue with its parameters and its window.
pub fn timed_fault() -> impl Strategy<Value = TimedFault> {
    let fault = prop_oneof![
        (1..60u64, 0..60u64).prop_map(|(latency_ms, jitter_ms)| Fault::Latency { latency_ms, jitter_ms }),
        Just(Fault::Hold),
        any::<bool>().prop_map(|oneway| Fault::Partition { oneway }),
        Just(Fault::CrashBounce),
        (1..10u32).prop_map(|p| Fault::Loss { rate: f64::from(p) / 100.0 }),
        (50..3_000u64).prop_map(|delay_ms| Fault::SlowHandler { delay_ms }),
        (prop_oneof![Just(4), Just(8), Just(13), Just(14)], 1..4u32)
            .prop_map(|(code, every)| Fault::TrailersOnly { code, every }),
        (0..4u32, 1..4u32).prop_map(|(after_messages, every)| Fault::RstStream { after_messages, every }),
        (1..80u32).prop_map(|after_frames| Fault::GoAway { after_frames }),
        (50..4_000u64).prop_map(|after_bytes| Fault::ConnectionReset { after_bytes }),
        (2..5u32, 0..6u64).prop_map(|(window, max_delay_ms)| Fault::FrameReorder { window, max_delay_ms }),
        (0..6u64).prop_map(|max_delay_ms| Fault::FrameDelay { max_delay_ms }),
    ];
    (0..1_500u64, 20..2_000u64, fault)
        .prop_map(|(at_ms, for_ms, fault)| TimedFault::new(at_ms, for_ms, fault))
}

/// [`timed_fault`] placed in a cluster of `nodes` (`System::nodes`): a network fault on every
/// client link, between one node and the others, or between the clients and one node; a crash
/// of one node; a server or proxy fault at every node or at one.
pub fn placed_fault(nodes: Vec<String>) -> impl Strategy<Value = TimedFault> {
    (timed_fault(), any::<prop::sample::Index>(), 0..3u8).prop_map(move |(mut timed, pick, how)| {
        if nodes.is_empty() {
            return timed;
        }
        let node = nodes[pick.index(nodes.len())].clone();
        match timed.fault.injector() {
            Injector::Network if timed.fault == Fault::CrashBounce => timed.node = Some(node),
            Injector::Network => match how {
                0 => {}
                1 => {
                    let rest: Vec<String> = nodes.iter().filter(|n| **n != node).cloned().collect();
                    timed.between = Some([vec![node], rest]);
                }
                _ => timed.between = Some([vec![CLIENTS.to_owned()], vec![node]]),
            },
            _ if how > 0 => timed.node = Some(node),
            _ => {}
        }
        timed
    })
}

/// A whole scenario: 1-9 scripted operations from `ops` over 1-3 clients with 1-3 in flight,
/// up to `max_faults` faults (a proxy stands in the path when one is a proxy fault), a
/// deadline, think time and in-call pauses, and the given `mutant`.
pub fn scenario<O: Clone + fmt::Debug>(
    ops: impl Strategy<Value = O>,
    max_faults: usize,
    mutant: Option<String>,
) -> impl Strategy<Value = Scenario<O>> {
    scenario_in(ops, max_faults, mutant, Vec::new())
}

/// [`scenario`] for a system with these `nodes` (`System::nodes`; none: a single server):
/// its faults are [`placed_fault`]s.
pub fn scenario_in<O: Clone + fmt::Debug>(
    ops: impl Strategy<Value = O>,
    max_faults: usize,
    mutant: Option<String>,
    nodes: Vec<String>,
) -> impl Strategy<Value = Scenario<O>> {
    // One server: exactly the faults `timed_fault` draws (a search seed finds what it found).
    let fault = if nodes.is_empty() { timed_fault().boxed() } else { placed_fault(nodes).boxed() };
    (
        1..=3u32,
        1..=3u32,
        proptest::collection::vec((0..3u32, ops), 1..10),
        proptest::collection::vec(fault, 0..=max_faults),
        300..3_000u64,
        0..80u64,
        (0..1_000u64, 0..1_000u64),
    )
        .prop_map(
            move |(clients, concurrency, calls, faults, deadline_ms, think_ms, (pause, spread))| {
                let mut s = Scenario::new("search");
                s.description = "found by property search".to_owned();
                s.clients = clients;
                s.concurrency = concurrency;
                s.calls = calls.into_iter().map(|(c, op)| ScriptedCall { client: c % clients, op }).collect();
                s.faults = faults;
                s.deadline_ms = deadline_ms;
                s.think_ms = think_ms;
                s.route_pause_ms = [pause, pause + spread];
                s.mutant = mutant.clone();
                s
            },
        )
}

/// A failing case, shrunk: the scenario, the seed, and the run that failed.
#[derive(Debug, Clone)]
pub struct Found<O> {
    /// The scenario (scripted workload, faults), as small as shrinking made it.
    pub scenario: Scenario<O>,
    /// The run's seed.
    pub seed: u64,
    /// The failing run.
    pub report: RunReport,
}

impl<O: serde::Serialize> Found<O> {
    /// The failure as a person reads it: `SEED=`, the first violations, the scenario file, and
    /// `replay` (the command that runs the file under the seed; `{file}` stands for its path,
    /// when it is not saved yet: then `search.toml`).
    pub fn describe(&self, replay: &str) -> String {
        let violations: Vec<String> =
            self.report.violations.iter().take(3).map(ToString::to_string).collect();
        let save_as = if replay.contains("{file}") { " (save as search.toml)" } else { "" };
        format!(
            "SEED={}\n{}\n--- scenario file{save_as} ---\n{}--- replay ---\n{}",
            self.seed,
            violations.join("\n"),
            self.scenario.to_toml(),
            replay.replace("{file}", "search.toml").replace("{seed}", &self.seed.to_string())
        )
    }
}

/// How a search runs.
#[derive(Debug, Clone, Copy)]
pub struct SearchConfig {
    /// Cases to generate.
    pub cases: u32,
    /// The search's own seed: another seed explores elsewhere.
    pub seed: u64,
    /// Shrinking steps at most.
    pub max_shrink_iters: u32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { cases: 64, seed: 0, max_shrink_iters: 2_000 }
    }
}

/// Runs `system` on scenarios from `strategy`, each under a generated seed, until one fails
/// (returned shrunk) or `config.cases` have passed (`None`). Failures are not persisted by
/// proptest: keep a shrunk case as a scenario file. Generation is a function of
/// `config.seed`; no OS randomness.
pub fn search<S: System>(
    system: &Arc<S>,
    strategy: impl Strategy<Value = Scenario<S::Op>>,
    config: SearchConfig,
) -> Result<Option<Found<S::Op>>, String> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&config.seed.to_le_bytes());
    let proptest = Config {
        cases: config.cases,
        max_shrink_iters: config.max_shrink_iters,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(proptest, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let outcome = runner.run(&(strategy, any::<u64>()), |(scenario, seed)| {
        let report = run(system, &scenario, seed);
        if report.passed() { Ok(()) } else { Err(TestCaseError::fail(format!("{:?}", report.violations))) }
    });
    match outcome {
        Ok(()) => Ok(None),
        Err(TestError::Fail(_, (scenario, seed))) => {
            let report = run(system, &scenario, seed);
            Ok(Some(Found { scenario, seed, report }))
        }
        Err(TestError::Abort(reason)) => Err(format!("search aborted: {reason}")),
    }
}
