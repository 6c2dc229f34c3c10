//! Integration tests of the simulator.

mod check;
mod mutants;
mod proxy;
mod scenario_file;
mod scenarios;
mod timeline;
