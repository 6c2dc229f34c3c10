//! The case list (`cases.toml`, shared with the recorder) and the known failures
//! (`known-failures.toml`, and a target's `--known-failures` file): intended differences
//! between grpcio and the Rust side (or another server), each one difference of one aspect,
//! spelled as the report renders it.
//!
//! Rendered strings rather than structured fields (a status code, a header): one form for every
//! aspect, exactly what `--verbose` prints (an entry is written by copying from it), and any
//! change in what differs, down to a word of a status message, stops the entry matching.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compare::{Aspect, Difference};

/// One conformance case as `cases.toml` lists it (the recorder reads the call details).
#[derive(Debug, Clone, Deserialize)]
pub struct CaseSpec {
    pub id: String,
    pub description: String,
}

#[derive(Deserialize)]
struct CasesFile {
    case: Vec<CaseSpec>,
}

/// Which side a run puts against the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The transcript's client side (or grpcio's client, live) against the Rust server.
    RustServer,
    /// The Rust client against the transcript's server side (or grpcio's server, live).
    RustClient,
    /// grpcio re-recorded against its committed transcript (the pinned grpcio drifting).
    Drift,
    /// The transcript's client side against any server at an address (`--target`), whatever
    /// implements it: grpcio, grpc-js, `faultline serve`. Its known failures are a file per
    /// target (`--known-failures`), every entry of it of this direction.
    Target,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::RustServer => "rust-server",
            Direction::RustClient => "rust-client",
            Direction::Drift => "drift",
            Direction::Target => "target",
        })
    }
}

/// How the two sides were connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// An in-memory HTTP/2 connection on a paused tokio clock (`cargo test`).
    InProcess,
    /// Turmoil TCP with the `smoke` scenario's network (1-5 ms latency, random order).
    Simulated,
    /// Real TCP against a live server or client (grpcio in CI, or a `--target`).
    Live,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::InProcess => "in-process",
            Transport::Simulated => "simulated",
            Transport::Live => "live",
        })
    }
}

/// What a known failure allows its aspect to look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The aspect differs exactly so: both sides as the report renders them.
    Differs { expected: String, actual: String },
    /// The aspect does not differ (one of a racy entry's outcomes).
    NoDifference,
}

/// How `known-failures.toml` spells the no-difference outcome.
pub const NO_DIFFERENCE: &str = "no difference";

impl Outcome {
    /// A difference as listed. A TOML multi-line string may close on its own line: one trailing
    /// newline is layout (rendered values never end in one).
    fn differs(expected: String, actual: String) -> Self {
        let trim = |mut s: String| {
            if s.ends_with('\n') {
                s.pop();
            }
            s
        };
        Outcome::Differs { expected: trim(expected), actual: trim(actual) }
    }

    fn matches(&self, d: &Difference) -> bool {
        match self {
            Outcome::Differs { expected, actual } => *expected == d.expected && *actual == d.actual,
            Outcome::NoDifference => false,
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Differs { expected, actual } => {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Outcome", 2)?;
                st.serialize_field("expected", expected)?;
                st.serialize_field("actual", actual)?;
                st.end()
            }
            Outcome::NoDifference => s.serialize_str(NO_DIFFERENCE),
        }
    }
}

/// An intended difference: in this case, direction(s) and transport(s), this aspect differs
/// exactly so (or, racy, in one of a few listed ways), for this reason.
#[derive(Debug, Clone, Serialize)]
pub struct KnownFailure {
    pub case: String,
    pub directions: Vec<Direction>,
    /// Only on these transports (all when absent).
    pub transports: Option<Vec<Transport>>,
    pub aspect: Aspect,
    /// One difference; or, when a race of real clocks decides, every outcome the race may have.
    pub outcomes: Vec<Outcome>,
    pub reason: String,
}

impl KnownFailure {
    /// Whether the entry is about `case` in `direction` over `transport`.
    pub fn applies(&self, case: &str, direction: Direction, transport: Transport) -> bool {
        self.case == case
            && self.directions.contains(&direction)
            && self.transports.as_ref().is_none_or(|t| t.contains(&transport))
    }

    /// Whether the entry excuses `d`: its aspect, and one of its outcomes exactly.
    pub fn excuses(&self, d: &Difference) -> bool {
        d.aspect == self.aspect && self.outcomes.iter().any(|o| o.matches(d))
    }

    /// Whether what a run saw of the entry's aspect is among its outcomes: some difference it
    /// excuses, or no difference at all where that is listed. An entry that does not hold is
    /// stale.
    pub fn holds(&self, differences: &[Difference]) -> bool {
        let mut in_aspect = differences.iter().filter(|d| d.aspect == self.aspect).peekable();
        if in_aspect.peek().is_none() {
            return self.outcomes.contains(&Outcome::NoDifference);
        }
        in_aspect.any(|d| self.excuses(d))
    }
}

/// One `[[failure]]` as written, checked into a [`KnownFailure`] by [`load_known`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailure {
    case: Option<String>,
    /// Instead of `case`: the same difference in each of these cases (one entry per case, each
    /// of which must hold).
    cases: Option<Vec<String>>,
    #[serde(default)]
    directions: Vec<Direction>,
    transports: Option<Vec<Transport>>,
    aspect: Option<String>,
    expected: Option<String>,
    actual: Option<String>,
    outcomes: Option<Vec<RawOutcome>>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawOutcome {
    Pair { expected: String, actual: String },
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    #[serde(default)]
    failure: Vec<RawFailure>,
}

/// The known failures.
#[derive(Debug, Clone, Default)]
pub struct KnownFailures {
    pub entries: Vec<KnownFailure>,
}

impl KnownFailures {
    /// The entries about `case` in `direction` over `transport`.
    pub fn applicable(
        &self,
        case: &str,
        direction: Direction,
        transport: Transport,
    ) -> impl Iterator<Item = &KnownFailure> {
        self.entries.iter().filter(move |k| k.applies(case, direction, transport))
    }
}

/// A `[[failure]]` entry that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error("known failure for unknown case `{case}`")]
    UnknownCase { case: String },
    #[error("a known failure needs `case`, or `cases` (a non-empty list), not both")]
    NoCase,
    #[error("known failure `{case}` needs a reason")]
    NoReason { case: String },
    #[error("known failure `{case}` needs directions")]
    NoDirections { case: String },
    #[error("known failure `{case}` needs an aspect")]
    NoAspect { case: String },
    #[error("known failure `{case}`: unknown aspect `{aspect}` (one of: {keys})", keys = aspect_keys())]
    UnknownAspect { case: String, aspect: String },
    #[error("known failure `{case}` ({aspect}) needs `expected` and `actual`, or else `outcomes`")]
    NoDifference { case: String, aspect: String },
    #[error(
        "known failure `{case}` ({aspect}): an outcome is \"no difference\" or {{ expected, actual }}, not {found:?}"
    )]
    BadOutcome { case: String, aspect: String, found: String },
    #[error(
        "known failure `{case}` ({aspect}) is not for direction `target`: a target's file (--known-failures) lists only differences of a --target run"
    )]
    NotTarget { case: String, aspect: String },
}

fn aspect_keys() -> String {
    Aspect::EVERY.iter().map(|a| a.key()).collect::<Vec<_>>().join(", ")
}

impl RawFailure {
    /// The entry checked, as one [`KnownFailure`] per case it names.
    fn check(self, cases: &[CaseSpec]) -> Result<Vec<KnownFailure>, KnownError> {
        let ids = match (self.case, self.cases) {
            (Some(case), None) => vec![case],
            (None, Some(ids)) if !ids.is_empty() => ids,
            _ => return Err(KnownError::NoCase),
        };
        if let Some(case) = ids.iter().find(|id| !cases.iter().any(|c| &c.id == *id)) {
            return Err(KnownError::UnknownCase { case: case.clone() });
        }
        // Errors about the entry itself name its cases.
        let case = ids.join(", ");
        let Some(reason) = self.reason.filter(|r| !r.trim().is_empty()) else {
            return Err(KnownError::NoReason { case });
        };
        if self.directions.is_empty() {
            return Err(KnownError::NoDirections { case });
        }
        let Some(key) = self.aspect else { return Err(KnownError::NoAspect { case }) };
        let Some(aspect) = Aspect::from_key(&key) else {
            return Err(KnownError::UnknownAspect { case, aspect: key });
        };
        let outcomes = match (self.expected, self.actual, self.outcomes) {
            (Some(expected), Some(actual), None) => vec![Outcome::differs(expected, actual)],
            (None, None, Some(raw)) if !raw.is_empty() => raw
                .into_iter()
                .map(|o| match o {
                    RawOutcome::Pair { expected, actual } => Ok(Outcome::differs(expected, actual)),
                    RawOutcome::Word(w) if w == NO_DIFFERENCE => Ok(Outcome::NoDifference),
                    RawOutcome::Word(found) => {
                        Err(KnownError::BadOutcome { case: case.clone(), aspect: key.clone(), found })
                    }
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(KnownError::NoDifference { case, aspect: key }),
        };
        Ok(ids
            .into_iter()
            .map(|case| KnownFailure {
                case,
                directions: self.directions.clone(),
                transports: self.transports.clone(),
                aspect,
                outcomes: outcomes.clone(),
                reason: reason.clone(),
            })
            .collect())
    }
}

/// A data file (cases, rules, known failures) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}")]
    Toml { path: String, source: toml::de::Error },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{path}: {error}")]
    Known { path: String, error: KnownError },
}

fn read(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.display().to_string(), source })
}

/// Reads `cases.toml`.
pub fn load_cases(path: &Path) -> Result<Vec<CaseSpec>, DataError> {
    let file: CasesFile = toml::from_str(&read(path)?)
        .map_err(|source| DataError::Toml { path: path.display().to_string(), source })?;
    let mut ids: Vec<&str> = file.case.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(DataError::Invalid {
            path: path.display().to_string(),
            reason: format!("case `{}` twice", w[0]),
        });
    }
    Ok(file.case)
}

/// Reads `known-failures.toml`, checking every entry names a case, an aspect, the difference
/// (or outcomes) it excuses and a reason.
pub fn load_known(path: &Path, cases: &[CaseSpec]) -> Result<KnownFailures, DataError> {
    let p = path.display().to_string();
    KnownFailures::parse(&read(path)?, cases).map_err(|e| match e {
        DataError::Toml { source, .. } => DataError::Toml { path: p.clone(), source },
        DataError::Known { error, .. } => DataError::Known { path: p.clone(), error },
        other => other,
    })
}

/// Reads a target's known failures (`--known-failures FILE`): `known-failures.toml`'s format,
/// every entry for direction `target` (an entry of another direction would never apply, so
/// never be checked: a file meant for another run).
pub fn load_target_known(path: &Path, cases: &[CaseSpec]) -> Result<KnownFailures, DataError> {
    let known = load_known(path, cases)?;
    if let Some(k) = known.entries.iter().find(|k| !k.directions.contains(&Direction::Target)) {
        return Err(DataError::Known {
            path: path.display().to_string(),
            error: KnownError::NotTarget { case: k.case.clone(), aspect: k.aspect.key().to_owned() },
        });
    }
    Ok(known)
}

impl KnownFailures {
    /// Parses and checks known failures from TOML text (errors name no file).
    pub fn parse(text: &str, cases: &[CaseSpec]) -> Result<Self, DataError> {
        let file: KnownFile =
            toml::from_str(text).map_err(|source| DataError::Toml { path: String::new(), source })?;
        let entries: Vec<Vec<KnownFailure>> = file
            .failure
            .into_iter()
            .map(|raw| raw.check(cases))
            .collect::<Result<_, _>>()
            .map_err(|error| DataError::Known { path: String::new(), error })?;
        Ok(KnownFailures { entries: entries.into_iter().flatten().collect() })
    }
}
