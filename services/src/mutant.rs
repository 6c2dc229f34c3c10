//! Deliberately wrong variants of the services, as other ports implement them.
//!
//! The harness must catch each one; a mutant is a test-only switch on a
//! service value, never on by default.

use std::fmt;
use std::str::FromStr;

/// A known-buggy deviation from the reference semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutant {
    /// RecordRoute truncates each segment's distance instead of the sum.
    SegmentTruncation,
    /// GetFeature returns an empty `Feature` (no location) on a miss.
    DefaultFeatureOnMiss,
    /// RouteChat echoes the new note back along with earlier ones.
    EchoNewNote,
    /// ListFeatures excludes features on the rectangle's edges.
    ExclusiveEdges,
    /// ListFeatures drops the last feature of the stream.
    DropLastMessage,
    /// RouteChat keeps one note history for all calls instead of one per call.
    SharedChat,
}

impl Mutant {
    /// Every mutant, in a fixed order.
    pub const ALL: [Mutant; 6] = [
        Mutant::SegmentTruncation,
        Mutant::DefaultFeatureOnMiss,
        Mutant::EchoNewNote,
        Mutant::ExclusiveEdges,
        Mutant::DropLastMessage,
        Mutant::SharedChat,
    ];

    /// The mutant's kebab-case name, as used on the command line and in scenarios.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::SegmentTruncation => "segment-truncation",
            Mutant::DefaultFeatureOnMiss => "default-feature-on-miss",
            Mutant::EchoNewNote => "echo-new-note",
            Mutant::ExclusiveEdges => "exclusive-edges",
            Mutant::DropLastMessage => "drop-last-message",
            Mutant::SharedChat => "shared-chat",
        }
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not a mutant.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown mutant `{0}` (known: segment-truncation, default-feature-on-miss, echo-new-note, exclusive-edges, drop-last-message, shared-chat)"
)]
pub struct UnknownMutant(pub String);

impl FromStr for Mutant {
    type Err = UnknownMutant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownMutant(s.to_owned()))
    }
}
