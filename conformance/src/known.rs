//! The case list (`cases.toml`, shared with the recorder) and the known failures
//! (`known-failures.toml`): intended differences between grpcio and the Rust side.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

/// Which Rust side a run puts against the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The transcript's client side (or grpcio's client, live) against the Rust server.
    RustServer,
    /// The Rust client against the transcript's server side (or grpcio's server, live).
    RustClient,
    /// grpcio re-recorded against its committed transcript (the pinned grpcio drifting).
    Drift,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::RustServer => "rust-server",
            Direction::RustClient => "rust-client",
            Direction::Drift => "drift",
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
    /// Real TCP against live grpcio (CI).
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

/// An intended difference: this case fails in these directions, for this reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    pub case: String,
    pub directions: Vec<Direction>,
    /// Only on these transports (all when absent).
    pub transports: Option<Vec<Transport>>,
    /// The difference depends on a race of real clocks, so a pass is not stale.
    #[serde(default)]
    pub racy: bool,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    #[serde(default)]
    failure: Vec<KnownFailure>,
}

/// The known failures.
#[derive(Debug, Clone, Default)]
pub struct KnownFailures {
    pub entries: Vec<KnownFailure>,
}

impl KnownFailures {
    /// The entry saying `case` is expected to fail in `direction` over `transport`, if any.
    pub fn entry(&self, case: &str, direction: Direction, transport: Transport) -> Option<&KnownFailure> {
        self.entries.iter().find(|k| {
            k.case == case
                && k.directions.contains(&direction)
                && k.transports.as_ref().is_none_or(|t| t.contains(&transport))
        })
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

/// Reads `known-failures.toml`, checking every entry names a case and gives a reason.
pub fn load_known(path: &Path, cases: &[CaseSpec]) -> Result<KnownFailures, DataError> {
    let p = path.display().to_string();
    let file: KnownFile =
        toml::from_str(&read(path)?).map_err(|source| DataError::Toml { path: p.clone(), source })?;
    for k in &file.failure {
        if !cases.iter().any(|c| c.id == k.case) {
            return Err(DataError::Invalid {
                path: p,
                reason: format!("known failure for unknown case `{}`", k.case),
            });
        }
        if k.reason.trim().is_empty() || k.directions.is_empty() {
            return Err(DataError::Invalid {
                path: p,
                reason: format!("known failure `{}` needs directions and a reason", k.case),
            });
        }
    }
    Ok(KnownFailures { entries: file.failure })
}
