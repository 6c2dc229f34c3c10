//! Deterministic simulation of the tutorial services on tonic inside turmoil.
//!
//! A run is a function of (scenario, seed): the same pair always produces the
//! same event trace. Nothing here reads the wall clock, OS randomness or a
//! `HashMap`'s iteration order.

pub mod catalogue;
pub mod check;
pub mod fault;
pub mod model;
pub mod net;
pub mod network;
pub mod proxy;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod sweep;
pub mod timeline;
pub mod trace;
pub mod workload;
pub mod world;

pub use fault::{Fault, TimedFault};
pub use runner::{RunReport, run};
pub use scenario::{Expect, Scenario};
pub use world::World;
