//! `faultline merge FILE...`: the `--json` outputs of a sweep's pieces — shards `i/n` of one
//! seed range, contiguous seed ranges, or both — merged into the report the whole sweep gives:
//! the same table, JSON (wall times apart) and exit code.
//!
//! Inputs are read line by line and their runs interleaved in the whole sweep's job order,
//! which is known from the headers alone, so a merge holds one line per input at a time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sweep::{ReplayCommand, RunRecord, SeedRange, Shard};
use anyhow::anyhow;
use clap::Args;

use super::exit::Failure;
use super::report::{FORMAT, Header, Line, Outputs, Report};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// `run --json` outputs: every shard of a seed range, and/or contiguous ranges.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the merged JSON Lines instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
}

fn bad(message: String) -> Failure {
    Failure::environment(anyhow!(message))
}

/// A `--json` output, read one line at a time.
struct Reader {
    path: PathBuf,
    lines: Lines<BufReader<File>>,
    line_no: u64,
}

impl Reader {
    fn error(&self, what: &str) -> Failure {
        bad(format!("{}:{}: {what}", self.path.display(), self.line_no))
    }

    /// The next line, parsed; none at the end of the file.
    fn next(&mut self) -> Result<Option<Line>, Failure> {
        let Some(text) = self.lines.next() else { return Ok(None) };
        self.line_no += 1;
        let text = text.map_err(|e| self.error(&format!("cannot read: {e}")))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| self.error(&format!("not a faultline sweep record: {e}")))
    }
}

/// One input: its header, and the lines after it.
struct Input {
    header: Header,
    rest: Reader,
}

impl Input {
    fn open(path: &Path) -> Result<Self, Failure> {
        let file = File::open(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        let mut rest = Reader { path: path.to_owned(), lines: BufReader::new(file).lines(), line_no: 0 };
        let header = match rest.next()? {
            Some(Line::Sweep(header)) => header,
            Some(_) => return Err(rest.error("no `sweep` header: not `faultline run --json` output")),
            None => return Err(bad(format!("{}: empty, not `faultline run --json` output", path.display()))),
        };
        if header.format != FORMAT {
            let what = format!("format version {} (this faultline reads {FORMAT})", header.format);
            return Err(rest.error(&what));
        }
        if !header.seeds.is_valid() || header.shard.is_some_and(|s| !s.is_valid()) {
            return Err(rest.error("seed range or shard out of bounds"));
        }
        Ok(Self { header, rest })
    }

    fn name(&self) -> String {
        self.rest.path.display().to_string()
    }

    /// The next run; the sweep says which scenario and seed it must be.
    fn run(&mut self, scenario: &str, seed: u64) -> Result<RunRecord, Failure> {
        match self.rest.next()? {
            Some(Line::Run(run)) if run.scenario == scenario && run.seed == seed => Ok(run),
            Some(Line::Run(run)) => Err(self.rest.error(&format!(
                "expected the run of {scenario} seed {seed}, found {} seed {}",
                run.scenario, run.seed
            ))),
            _ => Err(self
                .rest
                .error(&format!("expected the run of {scenario} seed {seed}: truncated output?"))),
        }
    }

    /// After the last run: summaries, then the end record. Returns the input's wall time.
    fn end(&mut self) -> Result<u64, Failure> {
        loop {
            match self.rest.next()? {
                Some(Line::Summary(_)) => continue,
                Some(Line::End(end)) => return Ok(end.wall_ms),
                Some(_) => return Err(self.rest.error("more runs than its shard has")),
                None => return Err(self.rest.error("no `end` record: truncated output?")),
            }
        }
    }
}

/// The inputs that cover one seed range: a whole run, or every shard `i/n` of it.
struct Piece {
    seeds: SeedRange,
    /// Input of each shard index (one input, index 0, when unsharded).
    inputs: Vec<usize>,
}

impl Piece {
    fn input_of(&self, job: u128) -> usize {
        self.inputs[(job % self.inputs.len() as u128) as usize]
    }
}

/// Checks that the inputs are pieces of one sweep, each run once: one seed range or
/// contiguous ones, each whole or in every shard of one count.
fn pieces(inputs: &[Input]) -> Result<Vec<Piece>, Failure> {
    let first = &inputs[0];
    let name = |i: usize| inputs[i].name();
    for (i, input) in inputs.iter().enumerate().skip(1) {
        let (a, b) = (&first.header, &input.header);
        let differs = if a.faultline != b.faultline {
            Some(format!("faultline version {} vs {}", b.faultline, a.faultline))
        } else if a.scenarios != b.scenarios {
            Some("scenarios (names, files or settings)".to_owned())
        } else if (a.swarm, a.check_determinism) != (b.swarm, b.check_determinism) {
            Some("--swarm or --check-determinism".to_owned())
        } else {
            None
        };
        if let Some(what) = differs {
            return Err(bad(format!("{} and {} are not of one sweep: {what} differ", name(0), name(i))));
        }
    }
    let mut by_range: BTreeMap<SeedRange, Vec<(Option<Shard>, usize)>> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        by_range.entry(input.header.seeds).or_default().push((input.header.shard, i));
    }
    let mut out: Vec<Piece> = Vec::new();
    for (seeds, mut parts) in by_range {
        parts.sort();
        if let Some(prev) = out.last() {
            if seeds.start() <= prev.seeds.last() {
                let (a, b) = (name(prev.inputs[0]), name(parts[0].1));
                return Err(bad(format!("overlap: {a} (seeds {}) and {b} (seeds {seeds})", prev.seeds)));
            }
            if seeds.start() > prev.seeds.last() + 1 {
                let missing = SeedRange::new(prev.seeds.last() + 1, seeds.start() - prev.seeds.last() - 1)
                    .map_err(|e| bad(e.to_string()))?;
                return Err(bad(format!("missing seeds {missing}: no input covers them")));
            }
        }
        let inputs = match parts[..] {
            [(None, i)] => vec![i],
            _ => {
                let a = parts[0];
                if let Some(&(_, i)) = parts.iter().find(|(s, _)| s.is_none()) {
                    let other = parts.iter().find(|(_, j)| *j != i).map_or(i, |p| p.1);
                    return Err(bad(format!(
                        "overlap: {} and {} both run seeds {seeds}",
                        name(i),
                        name(other)
                    )));
                }
                let count = a.0.map_or(1, Shard::count);
                if let Some(other) = parts.iter().find(|(s, _)| s.map(Shard::count) != Some(count)) {
                    return Err(bad(format!(
                        "overlap: shards of seeds {seeds} cut two ways, {} in {} and {} in {}",
                        a.0.map_or("whole".into(), |s| s.to_string()),
                        name(a.1),
                        other.0.map_or("whole".into(), |s| s.to_string()),
                        name(other.1)
                    )));
                }
                if let Some(w) = parts.windows(2).find(|w| w[0].0 == w[1].0) {
                    let shard = w[0].0.map_or("whole".into(), |s| s.to_string());
                    return Err(bad(format!(
                        "overlap: shard {shard} of seeds {seeds} given twice, {} and {}",
                        name(w[0].1),
                        name(w[1].1)
                    )));
                }
                if let Some(index) = (0..count).find(|&index| {
                    parts.get(index as usize).and_then(|p| p.0).map(Shard::index) != Some(index)
                }) {
                    return Err(bad(format!(
                        "missing shard {index}/{count} of seeds {seeds} (have {} of {count})",
                        parts.len()
                    )));
                }
                parts.iter().map(|p| p.1).collect()
            }
        };
        out.push(Piece { seeds, inputs });
    }
    Ok(out)
}

pub fn run(args: MergeArgs, replay: ReplayCommand) -> Result<(), Failure> {
    let mut inputs = args.files.iter().map(|p| Input::open(p)).collect::<Result<Vec<_>, _>>()?;
    let pieces = pieces(&inputs)?;
    let (first, last) = (pieces[0].seeds, pieces[pieces.len() - 1].seeds);
    let count = (last.last() - first.start())
        .checked_add(1)
        .ok_or_else(|| bad("the merged seed range is past 2^64 - 1 seeds".into()))?;
    let header = Header {
        seeds: SeedRange::new(first.start(), count).map_err(|e| bad(e.to_string()))?,
        shard: None,
        ..inputs[0].header.clone()
    };
    let scenarios: Vec<String> = header.scenarios.iter().map(|s| s.name.clone()).collect();
    let mut report = Report::start(header, Outputs { json: args.json, junit: args.junit }, replay)?;
    // The whole sweep's job order: scenario by scenario, seeds ascending across the pieces;
    // within a piece, job `scenario × seeds + offset` is in shard `job % n`.
    for (entry, scenario) in scenarios.iter().enumerate() {
        for piece in &pieces {
            let mut offset: u64 = 0;
            loop {
                let job = entry as u128 * u128::from(piece.seeds.count()) + u128::from(offset);
                let run = inputs[piece.input_of(job)].run(scenario, piece.seeds.start() + offset)?;
                report.add(entry, run)?;
                if offset == piece.seeds.count() - 1 {
                    break;
                }
                offset += 1;
            }
        }
    }
    let mut wall_ms = 0;
    for input in &mut inputs {
        wall_ms = wall_ms.max(input.end()?);
    }
    // A merge's wall time: its longest piece (the pieces ran side by side).
    report.finish(Duration::from_millis(wall_ms))
}
