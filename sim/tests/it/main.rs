//! Integration tests of the simulator.

mod check;
mod cluster;
mod linearizability;
mod mutants;
mod proxy;
mod regressions;
mod scenario_file;
mod scenarios;
mod search;
mod strategies;
mod timeline;
