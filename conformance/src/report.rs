//! Results as data, and the report a person reads.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::Difference;
use crate::known::{Direction, KnownFailure, KnownFailures, Outcome, Transport};

/// How a case fared in one direction over one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No difference.
    Pass,
    /// A difference that no known failure excuses.
    Fail,
    /// Differences, each excused by an entry of `known-failures.toml`.
    KnownFailure,
    /// Every difference excused, but an entry of `known-failures.toml` excuses nothing (or,
    /// racy, saw an outcome it does not list): the entry must go or change.
    Stale,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::KnownFailure => "known",
            Verdict::Stale => "STALE",
        }
    }
}

/// One case in one direction over one transport.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub direction: Direction,
    pub transport: Transport,
    pub verdict: Verdict,
    pub differences: Vec<Finding>,
    /// Entries of `known-failures.toml` for this case that did not hold.
    pub stale: Vec<KnownFailure>,
}

/// A difference, and the known failure that excuses it if one does.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub difference: Difference,
    /// The excusing entry's reason; `None` when no entry excuses the difference.
    pub known: Option<String>,
}

impl From<Difference> for Finding {
    fn from(difference: Difference) -> Self {
        Self { difference, known: None }
    }
}

/// Every result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The server a `--target` run replayed against (`HOST:PORT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub results: Vec<CaseResult>,
}

/// Judges a case's differences against the known failures: each difference must be excused by
/// an entry, and each entry about the case must hold (see [`KnownFailure::holds`]).
pub fn judge(
    case: &str,
    direction: Direction,
    transport: Transport,
    differences: Vec<Difference>,
    known: &KnownFailures,
) -> CaseResult {
    let entries: Vec<&KnownFailure> = known.applicable(case, direction, transport).collect();
    let stale: Vec<KnownFailure> =
        entries.iter().filter(|k| !k.holds(&differences)).map(|k| (*k).clone()).collect();
    let findings: Vec<Finding> = differences
        .into_iter()
        .map(|d| {
            let known = entries.iter().find(|k| k.excuses(&d)).map(|k| k.reason.clone());
            Finding { difference: d, known }
        })
        .collect();
    let verdict = if findings.iter().any(|f| f.known.is_none()) {
        Verdict::Fail
    } else if !stale.is_empty() {
        Verdict::Stale
    } else if !findings.is_empty() {
        Verdict::KnownFailure
    } else {
        Verdict::Pass
    };
    CaseResult { case: case.to_owned(), direction, transport, verdict, differences: findings, stale }
}

impl Report {
    /// No failure and no stale known failure.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| matches!(r.verdict, Verdict::Pass | Verdict::KnownFailure))
    }

    /// Adds another run's results.
    pub fn extend(&mut self, other: Report) {
        self.target = self.target.take().or(other.target);
        self.results.extend(other.results);
    }

    /// How many results have this verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// The verdict of one case in one direction over one transport.
    pub fn verdict(&self, case: &str, direction: Direction, transport: Transport) -> Option<Verdict> {
        self.results
            .iter()
            .find(|r| r.case == case && r.direction == direction && r.transport == transport)
            .map(|r| r.verdict)
    }

    /// A table: one row per case, one column per direction and transport run.
    pub fn table(&self) -> String {
        let mut columns: Vec<(Direction, Transport)> = Vec::new();
        let mut cases: Vec<&str> = Vec::new();
        for r in &self.results {
            if !columns.contains(&(r.direction, r.transport)) {
                columns.push((r.direction, r.transport));
            }
            if !cases.contains(&r.case.as_str()) {
                cases.push(&r.case);
            }
        }
        let width = cases.iter().map(|c| c.len()).max().unwrap_or(4).max(4) + 2;
        let labels: Vec<String> = columns.iter().map(|(d, t)| format!("{d}/{t}")).collect();
        let mut out = format!("{:<width$}", "case");
        for l in &labels {
            let _ = write!(out, "{l:<w$}", w = l.len() + 2);
        }
        out = out.trim_end().to_owned();
        out.push('\n');
        for case in &cases {
            let mut row = format!("{case:<width$}");
            for ((d, t), l) in columns.iter().zip(&labels) {
                let cell = self.verdict(case, *d, *t).map_or("-", Verdict::label);
                let _ = write!(row, "{cell:<w$}", w = l.len() + 2);
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
        let against = self.target.as_ref().map_or_else(String::new, |t| format!(" against {t}"));
        let _ = writeln!(
            out,
            "\n{} checks{against}: {} passed, {} known failures, {} failed, {} stale",
            self.results.len(),
            self.count(Verdict::Pass),
            self.count(Verdict::KnownFailure),
            self.count(Verdict::Fail),
            self.count(Verdict::Stale),
        );
        out
    }

    /// Every result that is not a plain pass, with its reason and differences.
    pub fn details(&self, include_known: bool) -> String {
        let mut out = String::new();
        for r in &self.results {
            match r.verdict {
                Verdict::Pass => continue,
                Verdict::KnownFailure if !include_known => continue,
                _ => {}
            }
            let _ = writeln!(out, "{} {} {}/{}", r.verdict.label(), r.case, r.direction, r.transport);
            let file = if r.direction == Direction::Target {
                "the target's known-failures file"
            } else {
                "known-failures.toml"
            };
            for k in &r.stale {
                let _ = writeln!(
                    out,
                    "  stale known failure ({}): no longer differs as listed; fix or remove its entry in {file}",
                    k.aspect.name()
                );
                for o in &k.outcomes {
                    let _ = match o {
                        Outcome::Differs { expected, actual } => {
                            writeln!(out, "    listed: expected {expected:?}, actual {actual:?}")
                        }
                        Outcome::NoDifference => writeln!(out, "    listed: no difference"),
                    };
                }
                let _ = writeln!(out, "    reason: {}", k.reason);
            }
            let actual = match r.direction {
                Direction::Drift => "grpcio, re-recorded",
                Direction::Target => self.target.as_deref().unwrap_or("the target"),
                Direction::RustServer | Direction::RustClient => "rust",
            };
            let mut last_reason = None;
            for f in &r.differences {
                let d = &f.difference;
                let _ = writeln!(out, "  call {}, {}:", d.call, d.aspect.name());
                match &f.known {
                    // One intended difference often shows in several aspects.
                    Some(reason) if last_reason == Some(reason) => {
                        let _ = writeln!(out, "    known failure: as above");
                    }
                    Some(reason) => {
                        let _ = writeln!(out, "    known failure: {reason}");
                    }
                    None => {}
                }
                last_reason = f.known.as_ref();
                let _ = writeln!(out, "    expected (grpcio):");
                for line in d.expected.lines() {
                    let _ = writeln!(out, "      {line}");
                }
                let _ = writeln!(out, "    actual ({actual}):");
                for line in d.actual.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        out
    }
}
