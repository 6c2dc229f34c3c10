//! Deliberately wrong variants of the services, as other ports implement them.
//!
//! The harness must catch each one; a mutant is a test-only switch on a
//! service value, never on by default. Some are wrong rules other ports have; the
//! rest are bugs only faults, time or volume reveal (an idle timeout, a leak, a
//! panic on one input, a handler that outlives its call).

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
    /// Every RouteGuide call fails UNAVAILABLE (the harness must fail it through clean windows).
    Unavailable,
    /// RecordRoute gives up when the next point takes over 300 ms to arrive (an idle timeout
    /// far shorter than the tutorial client's 0.5–1.5 s pauses).
    IdleTimeout,
    /// RecordRoute rounds `elapsed_time` to the nearest second instead of truncating it.
    ElapsedRounded,
    /// ListFeatures computes the rectangle's aspect ratio with an integer division that panics
    /// when the rectangle has no height.
    AspectRatioPanic,
    /// Every RouteGuide call leaks one of 2,500 slots; once they are gone, calls fail
    /// RESOURCE_EXHAUSTED (a method that degrades after many calls).
    SlotLeak,
    /// ListFeatures finishes its stream, then keeps the call's request for 5 s in a detached task
    /// (a handler that outlives its call).
    LingeringHandler,
    /// RouteChat's replies are right but held back: those to a note go out only when the next
    /// note arrives, or the client ends its stream (a client that waits for them waits forever).
    HeldBackReplies,
    /// RecordRoute gives up when the next point takes over 1.6 s: just past the tutorial
    /// client's longest pause (1.5 s), so only a stall on the way reveals it.
    SlowStreamTimeout,
    /// After its first restart the server answers every RouteGuide call UNAVAILABLE: it never
    /// recovers from a crash (the system applies it at `incarnation > 0`).
    StuckAfterRestart,
}

impl Mutant {
    /// Every mutant, in a fixed order.
    pub const ALL: [Mutant; 15] = [
        Mutant::SegmentTruncation,
        Mutant::DefaultFeatureOnMiss,
        Mutant::EchoNewNote,
        Mutant::ExclusiveEdges,
        Mutant::DropLastMessage,
        Mutant::SharedChat,
        Mutant::Unavailable,
        Mutant::IdleTimeout,
        Mutant::ElapsedRounded,
        Mutant::AspectRatioPanic,
        Mutant::SlotLeak,
        Mutant::LingeringHandler,
        Mutant::HeldBackReplies,
        Mutant::SlowStreamTimeout,
        Mutant::StuckAfterRestart,
    ];

    /// The mutants of one call's semantics, which a single call can reveal (the rest need
    /// concurrency, time or volume).
    pub const SINGLE_CALL: [Mutant; 5] = [
        Mutant::SegmentTruncation,
        Mutant::DefaultFeatureOnMiss,
        Mutant::EchoNewNote,
        Mutant::ExclusiveEdges,
        Mutant::DropLastMessage,
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
            Mutant::Unavailable => "unavailable",
            Mutant::IdleTimeout => "idle-timeout",
            Mutant::ElapsedRounded => "elapsed-rounded",
            Mutant::AspectRatioPanic => "aspect-ratio-panic",
            Mutant::SlotLeak => "slot-leak",
            Mutant::LingeringHandler => "lingering-handler",
            Mutant::HeldBackReplies => "held-back-replies",
            Mutant::SlowStreamTimeout => "slow-stream-timeout",
            Mutant::StuckAfterRestart => "stuck-after-restart",
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
#[error("unknown mutant `{0}` (known: {known})", known = Mutant::ALL.map(Mutant::name).join(", "))]
pub struct UnknownMutant(pub String);

impl FromStr for Mutant {
    type Err = UnknownMutant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownMutant(s.to_owned()))
    }
}
