//! What the benchmarks and the load generator share: the calls they make, an
//! in-process loopback server, a closed-loop load driver and the simulated
//! workloads.
//!
//! Every figure is a throughput of a fixed workload (calls, messages, points
//! or round trips per second). Figures from one machine are compared only
//! side by side, in one run (`ci/bench.sh` prints ratios); none is asserted.

pub mod calls;
pub mod duplex;
pub mod load;
pub mod server;
pub mod simulated;

pub use calls::{CallKind, Mode};
pub use load::{LoadSpec, Tally};
