//! Deterministic simulation testing for any tonic service: the service runs inside turmoil
//! behind Faultline's server assembly, clients run a seeded workload, faults act on the
//! network, the hosts and the HTTP/2 frames, and properties judge every call.
//!
//! A run is a function of (system, scenario, seed): the same triple always produces the same
//! event trace. Nothing here reads the wall clock, OS randomness or a `HashMap`'s iteration
//! order. A [`System`] says what is under test; [`Harness`] runs it from a `#[test]`;
//! [`cli::Runner`] is its command line. The tutorial's services (crate `faultline-tutorial`)
//! are the first system; the core knows nothing of them.

pub mod catalogue;
pub mod check;
#[cfg(feature = "runner")]
pub mod cli;
pub mod harness;
pub mod linearizability;
pub mod network;
pub mod runner;
pub mod search;
pub mod server;
pub mod sweep;
pub mod system;
pub mod topology;

// The vocabulary (crate `faultline-model`), the frame proxy and the timeline are crates of
// their own; here they keep the paths users know.
pub use faultline_model::{fault, net, report, scenario, trace, world};
pub use faultline_proxy as proxy;
pub use faultline_timeline as timeline;

// What a `System` implementation must match, at the versions this crate is built with: use
// these rather than adding them yourself (`faultline_sim::rand_chacha::ChaCha8Rng`, ...).
pub use {proptest, prost, rand, rand_chacha, tokio, tonic, turmoil};

pub use check::{Property, Violation};
pub use fault::{Fault, TimedFault};
pub use harness::Harness;
pub use runner::{RunReport, Stepping, run, run_stepping};
pub use scenario::{Expect, Scenario};
pub use system::{Call, CallContext, CallRecord, CallSummary, History, Peer, ServerStart, System};
pub use world::World;
