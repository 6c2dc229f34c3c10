//! Faultline's vocabulary, shared by the simulator, the proxy and the timeline: the faults and
//! their schedule, scenarios, the simulated world a seed draws, the network's meters and
//! connectors, the event trace, and what a run reports.
//!
//! Plain data and the rules on it; nothing here runs a simulation. Users reach every item
//! through `faultline_sim`, which re-exports these modules at the same paths.

pub mod fault;
pub mod net;
pub mod report;
pub mod scenario;
pub mod trace;
pub mod world;

pub use fault::{Fault, TimedFault};
pub use report::{CallSummary, FaultTally, Property, RunReport, Violation};
pub use scenario::{Expect, Scenario};
pub use world::World;
