//! Integration tests of the simulator.

mod proxy;
