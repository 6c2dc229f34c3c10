//! A sweep's report, shared by `run` and `merge`: the table and findings a person reads, the
//! `--json` output, the `--junit` file. Runs are folded in one at a time and never kept (past
//! the first findings), so a report's size does not depend on the number of seeds.
//!
//! `--json` is JSON Lines, written as the sweep goes: a `sweep` header (what a merge checks),
//! one `run` per job in job order, one `summary` per scenario, and an `end`. Every wall-clock
//! figure is a `wall_ms` field; everything else is a function of the header.

use std::io::{BufWriter, Stdout, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::System;
use crate::scenario::Expect;
use crate::sweep::{Expected, ReplayCommand, RunRecord, SeedRange, Shard, Summary, Sweep, Tally};
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use super::exit::Failure;
use super::{junit, table};

/// The version of the `--json` format; `merge` refuses any other.
pub const FORMAT: u32 = 1;

/// What a sweep ran: the first line of its `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: u32,
    /// The `faultline` version that ran it.
    pub faultline: String,
    pub scenarios: Vec<ScenarioInfo>,
    pub seeds: SeedRange,
    /// The slice this output holds; none for a whole sweep (or a merge of shards).
    pub shard: Option<Shard>,
    pub swarm: bool,
    pub check_determinism: bool,
}

/// One scenario of a sweep, as a merge compares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    /// What `faultline replay` takes: a catalogue name or a scenario file's path.
    pub replay_as: String,
    pub expect: Expect,
    /// The property a caught scenario must be caught by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_by: Option<String>,
    /// A hash of every knob the scenario sets.
    pub fingerprint: String,
    /// Vacuous on every seed is allowed (`--allow-vacuous`).
    #[serde(default)]
    pub allow_vacuous: bool,
}

/// The last line: how many runs, the verdict, the sweep's wall time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub runs: u64,
    pub ok: bool,
    pub wall_ms: u64,
}

/// One line of `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Line {
    Sweep(Header),
    Run(RunRecord),
    Summary(Summary),
    End(End),
}

impl Header {
    /// The header of `sweep`.
    pub fn of<S: System>(sweep: &Sweep<S>) -> Self {
        Self {
            format: FORMAT,
            faultline: env!("CARGO_PKG_VERSION").to_owned(),
            scenarios: sweep
                .entries
                .iter()
                .map(|e| ScenarioInfo {
                    name: e.scenario.name.clone(),
                    replay_as: e.replay_as.clone(),
                    expect: e.scenario.expect,
                    caught_by: e.scenario.caught_by.clone(),
                    fingerprint: e.fingerprint(),
                    allow_vacuous: e.allow_vacuous,
                })
                .collect(),
            seeds: sweep.seeds,
            shard: sweep.shard,
            swarm: sweep.swarm,
            check_determinism: sweep.check_determinism,
        }
    }

    /// An empty tally of this sweep's scenarios.
    pub fn tally(&self) -> Tally {
        Tally::new(
            self.scenarios
                .iter()
                .map(|s| Expected {
                    name: s.name.clone(),
                    expect: s.expect,
                    caught_by: s.caught_by.clone(),
                    allow_vacuous: s.allow_vacuous,
                })
                .collect(),
            self.swarm,
        )
    }

    /// The seeds as a test case names them: `seeds 0..=7`, with the shard if one.
    pub fn seed_label(&self) -> String {
        match self.shard {
            Some(shard) => format!("seeds {} shard {shard}", self.seeds),
            None => format!("seeds {}", self.seeds),
        }
    }
}

/// Where a report goes.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// JSON Lines on stdout instead of the table.
    pub json: bool,
    /// A JUnit XML file, besides.
    pub junit: Option<PathBuf>,
}

/// A report being written.
pub struct Report {
    header: Header,
    replay: ReplayCommand,
    tally: Tally,
    json: Option<BufWriter<Stdout>>,
    junit: Option<PathBuf>,
}

fn write_failed(e: std::io::Error) -> Failure {
    Failure::environment(anyhow!(e).context("cannot write the JSON output"))
}

impl Report {
    /// Starts a report of `header` (the JSON header goes out at once).
    pub fn start(header: Header, outputs: Outputs, replay: ReplayCommand) -> Result<Self, Failure> {
        let mut report = Self {
            replay,
            tally: header.tally(),
            json: outputs.json.then(|| BufWriter::new(std::io::stdout())),
            header,
            junit: outputs.junit,
        };
        report.line(&Line::Sweep(report.header.clone()))?;
        Ok(report)
    }

    fn line(&mut self, line: &Line) -> Result<(), Failure> {
        if let Some(out) = &mut self.json {
            serde_json::to_writer(&mut *out, line).map_err(|e| write_failed(e.into()))?;
            out.write_all(b"\n").map_err(write_failed)?;
        }
        Ok(())
    }

    /// Folds in one run of entry `entry` (and writes its JSON line).
    pub fn add(&mut self, entry: usize, record: RunRecord) -> Result<(), Failure> {
        self.tally.add(entry, &record);
        if self.json.is_some() {
            self.line(&Line::Run(record))?;
        }
        Ok(())
    }

    /// Ends the report: summaries and the end line, or the table and findings; the JUnit file.
    /// Exit 1 when a scenario missed its expectation.
    pub fn finish(mut self, wall: Duration) -> Result<(), Failure> {
        let summaries = self.tally.summaries();
        let ok = self.tally.ok();
        if self.json.is_some() {
            for s in &summaries {
                self.line(&Line::Summary(s.clone()))?;
            }
            let end = End { runs: self.tally.runs(), ok, wall_ms: wall.as_millis() as u64 };
            self.line(&Line::End(end))?;
            if let Some(out) = &mut self.json {
                out.flush().map_err(write_failed)?;
            }
        } else {
            print!("{}", self.human(&summaries, wall));
        }
        if let Some(path) = &self.junit {
            std::fs::write(path, junit::render(&self.header, &self.tally, &self.replay))
                .with_context(|| format!("cannot write the JUnit file {}", path.display()))
                .map_err(Failure::environment)?;
        }
        if ok {
            Ok(())
        } else {
            Err(Failure::check(anyhow!("some scenarios did not meet their expectation")))
        }
    }

    /// The table, each finding with its first violations and replay command, and a footer.
    fn human(&self, summaries: &[Summary], wall: Duration) -> String {
        let mut out = table::render(&summaries.iter().map(row).collect::<Vec<_>>());
        for f in self.tally.findings() {
            let r = &f.record;
            out += &format!("\nFAILED {} SEED={}\n", r.scenario, r.seed);
            if self.header.swarm {
                let names: Vec<&str> = r.faults.keys().map(String::as_str).collect();
                out += &format!("  swarm enabled faults: {}\n", names.join(", "));
            }
            for v in r.violations.iter().take(5) {
                out += &format!("  {v}\n");
            }
            if r.violations.len() > 5 {
                out += &format!("  ... and {} more\n", r.violations.len() - 5);
            }
            let replay_as = &self.header.scenarios[f.entry].replay_as;
            out += &format!("  replay: {}\n", self.replay.line(replay_as, r.seed, self.header.swarm));
        }
        if self.tally.findings_not_kept() > 0 {
            out += &format!(
                "\n... and {} more failing runs (not kept; --json lists every run)\n",
                self.tally.findings_not_kept()
            );
        }
        out += &format!("{} runs in {:.1}s wall\n", self.tally.runs(), wall.as_secs_f64());
        out
    }
}

/// A summary as a table row: faults as `name×acted[touched]`, with the runs it was idle in.
fn row(s: &Summary) -> table::Row {
    let faults = s
        .faults
        .iter()
        .map(|(name, f)| {
            let idle = if f.idle_runs > 0 { format!(" idle:{}", f.idle_runs) } else { String::new() };
            format!("{name}×{}[{}]{idle}", f.acted, f.touched)
        })
        .collect::<Vec<_>>()
        .join(" ");
    table::Row {
        scenario: s.scenario.clone(),
        seeds: s.seeds,
        verdict: s.verdict(),
        calls: s.calls,
        failed_calls: s.failed_calls,
        vacuous: s.vacuous,
        codes: s.codes_seen(),
        faults,
        sim_time: Duration::from_micros(s.sim_time_us),
        excusable: Duration::from_micros(s.excusable_us),
        wall_time: Duration::from_millis(s.wall_ms),
    }
}
