//! Conformance against grpcio: recorded transcripts replayed against the Rust server and
//! played to the Rust client, compared message byte for byte, status and normalised metadata;
//! and the recorded client side against any server at an address ([`Target`]).
//!
//! Data lives beside this crate: `cases.toml` (what the recorder in `ci/recorder` records),
//! `transcripts/` (what grpcio did, one JSON line per call), `rules.toml` (normalisation, each
//! rule with its reason) and `known-failures.toml` (intended differences). A run is a
//! [`Report`]: one [`CaseResult`] per case, direction and transport.

pub mod client;
pub mod compare;
pub mod framing;
pub mod known;
pub mod play;
pub mod replay;
pub mod report;
pub mod rules;
pub mod server;
pub mod sim;
pub mod suite;
pub mod target;
pub mod transcript;
pub mod wire;

pub use compare::{Aspect, Difference};
pub use known::{Direction, Transport};
pub use report::{CaseResult, Finding, Report, Verdict};
pub use rules::Rules;
pub use suite::{Suite, SuiteError};
pub use target::{Target, TargetError};
pub use transcript::{Call, TranscriptError, TranscriptSet};
