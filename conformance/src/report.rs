//! Results as data, and the report a person reads.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::Difference;
use crate::known::{Direction, KnownFailures, Transport};

/// How a case fared in one direction over one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No difference.
    Pass,
    /// A difference that is not a known failure.
    Fail,
    /// A difference listed in `known-failures.toml`.
    KnownFailure,
    /// Listed in `known-failures.toml` but no longer different: the entry must go.
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
    /// The known-failures entry's reason, when there is one.
    pub reason: Option<String>,
    pub differences: Vec<Difference>,
}

/// Every result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub results: Vec<CaseResult>,
}

/// Judges a case's differences against the known failures.
pub fn judge(
    case: &str,
    direction: Direction,
    transport: Transport,
    differences: Vec<Difference>,
    known: &KnownFailures,
) -> CaseResult {
    let entry = known.entry(case, direction, transport);
    let reason = entry.map(|k| k.reason.clone());
    let verdict = match (differences.is_empty(), entry) {
        (true, None) => Verdict::Pass,
        (true, Some(k)) if k.racy => Verdict::Pass,
        (true, Some(_)) => Verdict::Stale,
        (false, Some(_)) => Verdict::KnownFailure,
        (false, None) => Verdict::Fail,
    };
    CaseResult { case: case.to_owned(), direction, transport, verdict, reason, differences }
}

impl Report {
    /// No failure and no stale known failure.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| matches!(r.verdict, Verdict::Pass | Verdict::KnownFailure))
    }

    /// Adds another run's results.
    pub fn extend(&mut self, other: Report) {
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
        let _ = writeln!(
            out,
            "\n{} checks: {} passed, {} known failures, {} failed, {} stale",
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
            if let Some(reason) = &r.reason {
                let _ = writeln!(out, "  known failure: {reason}");
            }
            if r.verdict == Verdict::Stale {
                let _ = writeln!(out, "  no longer differs: remove its entry from known-failures.toml");
            }
            let actual = if r.direction == Direction::Drift { "grpcio, re-recorded" } else { "rust" };
            for d in &r.differences {
                let _ = writeln!(out, "  call {}, {}:", d.call, d.aspect.name());
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
