//! tonic's outcomes against grpcio's record and the specification, with the differences listed.
//!
//! Per case and method, three fields are compared: `code` (grpcio, tonic and the spec's allowed
//! codes must agree), `received` (grpcio and tonic must agree) and `next` (a clean call on the
//! same channel afterwards: both must be OK). A mismatch passes only when an entry of the
//! differences file names its case, method and field and lists both values seen, with a reason;
//! an entry that excuses nothing is stale and fails, as `conformance/known-failures.toml` does.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::case::{Case, Method};
use crate::probe::Outcome;

/// grpcio's outcomes, recorded by `ci/buggy-servers.sh --record` with the pinned grpcio.
pub const GRPCIO_RECORD: &str = include_str!("../grpcio.jsonl");
/// The differences between grpcio, tonic and the spec, each with a reason.
pub const DIFFERENCES: &str = include_str!("../differences.toml");

/// Why a record or differences file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("record line {line}: {error}")]
    Record { line: usize, error: String },
    #[error("differences: {0}")]
    Differences(String),
}

/// Reads a record: one JSON `Outcome` per line.
pub fn parse_record(text: &str) -> Result<Vec<Outcome>, LoadError> {
    let mut outcomes = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let outcome: Outcome = serde_json::from_str(line)
            .map_err(|e| LoadError::Record { line: i + 1, error: e.to_string() })?;
        if Case::from_name(&outcome.case).is_none() || Method::from_name(&outcome.method).is_none() {
            let error = format!("unknown case or method `{}` / `{}`", outcome.case, outcome.method);
            return Err(LoadError::Record { line: i + 1, error });
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// One listed difference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Difference {
    pub id: String,
    pub case: String,
    /// Both methods when absent.
    pub method: Option<String>,
    /// `code`, `received` or `next`.
    pub field: String,
    /// Every value grpcio is allowed to show.
    pub grpcio: Vec<toml::Value>,
    /// Every value tonic is allowed to show.
    pub tonic: Vec<toml::Value>,
    /// A race decides which of the listed values shows, and whether the difference shows at
    /// all. Where tonic's live run decides (`code`, `next`) the entry is never stale; a
    /// `received` count is grpcio's, which the committed record fixes: there the race only lets
    /// `--drift` accept a fresh grpcio run's other counts, and the record must still need it.
    #[serde(default)]
    pub race: bool,
    pub why: String,
}

impl Difference {
    /// Whether this entry may go unneeded by a comparison without being stale: a race that
    /// tonic's live run decides.
    pub fn may_go_unseen(&self) -> bool {
        self.race && self.field != "received"
    }

    /// Whether this entry excuses `field` of `case` on `method` with these values.
    pub fn excuses(&self, case: &str, method: &str, field: &str, grpcio: &str, tonic: &str) -> bool {
        self.case == case
            && self.method.as_deref().is_none_or(|m| m == method)
            && self.field == field
            && self.grpcio.iter().any(|v| matches(v, grpcio))
            && self.tonic.iter().any(|v| matches(v, tonic))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DifferencesFile {
    #[serde(default)]
    difference: Vec<Difference>,
}

/// Reads a differences file.
pub fn parse_differences(text: &str) -> Result<Vec<Difference>, LoadError> {
    let file: DifferencesFile = toml::from_str(text).map_err(|e| LoadError::Differences(e.to_string()))?;
    for d in &file.difference {
        if Case::from_name(&d.case).is_none() {
            return Err(LoadError::Differences(format!("{}: unknown case `{}`", d.id, d.case)));
        }
        if d.method.as_deref().is_some_and(|m| Method::from_name(m).is_none()) {
            return Err(LoadError::Differences(format!("{}: unknown method", d.id)));
        }
        if !["code", "received", "next"].contains(&d.field.as_str()) {
            return Err(LoadError::Differences(format!("{}: unknown field `{}`", d.id, d.field)));
        }
    }
    Ok(file.difference)
}

/// What became of one case on one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// grpcio, tonic and the spec agree.
    Same,
    /// They differ as listed (the ids).
    Known(Vec<String>),
    /// They differ, and nothing lists it.
    Differs(Vec<String>),
}

/// A row of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: Case,
    pub method: Method,
    pub spec: String,
    pub grpcio: Option<Outcome>,
    pub tonic: Outcome,
    pub verdict: Verdict,
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub rows: Vec<Row>,
    /// Differences no row needed.
    pub stale: Vec<String>,
}

impl Comparison {
    /// Whether every difference is listed and every listing is needed.
    pub fn passed(&self) -> bool {
        self.stale.is_empty() && self.rows.iter().all(|r| !matches!(r.verdict, Verdict::Differs(_)))
    }

    /// A table for a person, then what failed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<25} {:<13} {:<22} {:<26} {:<26} result",
            "case", "method", "spec", "grpcio (code/received)", "tonic (code/received)"
        );
        let cell = |o: Option<&Outcome>| {
            o.map_or("(not recorded)".to_owned(), |o| format!("{} / {}", o.code, o.received))
        };
        for r in &self.rows {
            let verdict = match &r.verdict {
                Verdict::Same => "same".to_owned(),
                Verdict::Known(ids) => format!("known: {}", ids.join(", ")),
                Verdict::Differs(what) => format!("DIFFERS: {}", what.join("; ")),
            };
            let _ = writeln!(
                out,
                "{:<25} {:<13} {:<22} {:<26} {:<26} {verdict}",
                r.case.name(),
                r.method.name(),
                r.spec,
                cell(r.grpcio.as_ref()),
                cell(Some(&r.tonic)),
            );
            let details = |o: Option<&Outcome>| o.map_or(String::new(), |o| format!("{:?}", o.details));
            if r.grpcio.as_ref().is_some_and(|g| g.code != "OK") || r.tonic.code != "OK" {
                let _ = writeln!(
                    out,
                    "    details: grpcio {}, tonic {}",
                    details(r.grpcio.as_ref()),
                    details(Some(&r.tonic))
                );
            }
        }
        for id in &self.stale {
            let _ = writeln!(out, "stale difference (nothing needs it: remove or update it): {id}");
        }
        let differs = self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Differs(_))).count();
        let known = self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Known(_))).count();
        let _ = writeln!(
            out,
            "{} rows: {} same, {known} known differences, {differs} unexplained; {} stale entries",
            self.rows.len(),
            self.rows.len() - known - differs,
            self.stale.len()
        );
        out
    }
}

/// Compares tonic's outcomes with grpcio's and the spec, given the listed differences.
pub fn compare(grpcio: &[Outcome], tonic: &[Outcome], differences: &[Difference]) -> Comparison {
    let mut used = BTreeSet::new();
    let mut rows = Vec::new();
    for t in tonic {
        let (Some(case), Some(method)) = (Case::from_name(&t.case), Method::from_name(&t.method)) else {
            continue;
        };
        let spec = case.spec(method);
        let g = grpcio.iter().find(|g| g.case == t.case && g.method == t.method);
        let mut known = Vec::new();
        let mut unexplained = Vec::new();
        let Some(g) = g else {
            rows.push(Row {
                case,
                method,
                spec: spec.render(),
                grpcio: None,
                tonic: t.clone(),
                verdict: Verdict::Differs(vec!["no grpcio record".to_owned()]),
            });
            continue;
        };
        let received = (g.received.to_string(), t.received.to_string());
        let fields = [
            ("code", (g.code.clone(), t.code.clone()), spec.allows(&g.code) && spec.allows(&t.code)),
            ("received", received, true),
            ("next", (g.next.clone(), t.next.clone()), g.next == "OK" && t.next == "OK"),
        ];
        for (field, (gv, tv), spec_ok) in fields {
            if gv == tv && spec_ok {
                continue;
            }
            let listed = differences.iter().find(|d| d.excuses(&t.case, &t.method, field, &gv, &tv));
            match listed {
                Some(d) => {
                    used.insert(d.id.clone());
                    if !known.contains(&d.id) {
                        known.push(d.id.clone());
                    }
                }
                None => unexplained
                    .push(format!("{field}: grpcio {gv}, tonic {tv}, spec {}", spec_text(field, &spec))),
            }
        }
        let verdict = if !unexplained.is_empty() {
            Verdict::Differs(unexplained)
        } else if !known.is_empty() {
            Verdict::Known(known)
        } else {
            Verdict::Same
        };
        rows.push(Row {
            case,
            method,
            spec: spec.render(),
            grpcio: Some(g.clone()),
            tonic: t.clone(),
            verdict,
        });
    }
    let stale = differences
        .iter()
        .filter(|d| !d.may_go_unseen() && !used.contains(&d.id))
        .map(|d| d.id.clone())
        .collect();
    Comparison { rows, stale }
}

fn spec_text(field: &str, spec: &crate::case::Spec) -> String {
    match field {
        "code" => spec.render(),
        "next" => "OK".to_owned(),
        _ => "(grpcio and tonic alike)".to_owned(),
    }
}

/// Whether a listed value matches one seen: equal as written, or a count within `"A..=B"`.
fn matches(listed: &toml::Value, seen: &str) -> bool {
    match listed {
        toml::Value::String(s) => {
            if let Some((lo, hi)) = s.split_once("..=")
                && let (Ok(lo), Ok(hi), Ok(seen)) =
                    (lo.parse::<u32>(), hi.parse::<u32>(), seen.parse::<u32>())
            {
                return (lo..=hi).contains(&seen);
            }
            s == seen
        }
        other => other.to_string() == seen,
    }
}

/// Where a fresh grpcio run differs from the record: every field must be equal, except a
/// `received` count that a race entry of `differences` allows for grpcio.
pub fn drift(recorded: &[Outcome], fresh: &[Outcome], differences: &[Difference]) -> Vec<String> {
    let mut found = Vec::new();
    let key = |o: &Outcome| (o.case.clone(), o.method.clone());
    let recorded_keys: BTreeSet<_> = recorded.iter().map(key).collect();
    let fresh_keys: BTreeSet<_> = fresh.iter().map(key).collect();
    for (case, method) in recorded_keys.symmetric_difference(&fresh_keys) {
        found.push(format!("{case} {method}: in one run only"));
    }
    for r in recorded {
        let Some(f) = fresh.iter().find(|f| key(f) == key(r)) else { continue };
        let racy = |d: &Difference| {
            d.race
                && d.case == f.case
                && d.method.as_deref().is_none_or(|m| m == f.method)
                && d.field == "received"
                && d.grpcio.iter().any(|v| matches(v, &f.received.to_string()))
        };
        let same_but_received = Outcome { received: r.received, ..f.clone() } == *r;
        if f == r || (same_but_received && differences.iter().any(racy)) {
            continue;
        }
        found.push(format!(
            "{} {}: recorded {}, now {}",
            r.case,
            r.method,
            serde_json::to_string(r).unwrap_or_default(),
            serde_json::to_string(f).unwrap_or_default()
        ));
    }
    found
}
