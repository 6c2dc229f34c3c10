//! `faultline-example-ledger`: the ledger's runner. `run` (the default) sweeps the fault
//! catalogue over seeds; `--with-bug` plants the ledger without idempotency keys, and a failing
//! run is then searched for a small case, saved as a file with the command that replays it.
//! `replay`, `list` and `merge` as `faultline` has them. Exit codes: 0 pass, 1 a scenario
//! failed, 2 bad input.

use std::process::ExitCode;

use faultline_example_ledger::{BUG, Ledger, ops};
use faultline_sim::cli::Runner;
use faultline_sim::search::SearchConfig;

fn main() -> ExitCode {
    Runner::new(Ledger)
        .package(env!("CARGO_PKG_NAME"))
        .with_bug(BUG)
        // Its calls are unary: no stream carries the messages `rst-stream` counts.
        .allow_vacuous(["rst-stream"])
        .search_on_failure(ops(), 2, SearchConfig { cases: 512, ..SearchConfig::default() })
        .main()
}
