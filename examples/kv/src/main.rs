//! `faultline-example-kv`: the replicated store's runner. `run` (the default) sweeps the fault
//! catalogue and the cluster scenarios over seeds; `--with-bug` plants the primary that answers
//! writes before its backups have them, and a failing run is then searched for a small case,
//! saved as a file with the command that replays it. `replay`, `list` and `merge` as
//! `faultline` has them. Exit codes: 0 pass, 1 a scenario failed, 2 bad input.

use std::process::ExitCode;

use faultline_example_kv::{BUG, Kv, ops};
use faultline_sim::cli::Runner;
use faultline_sim::search::SearchConfig;

fn main() -> ExitCode {
    Runner::new(Kv)
        .package(env!("CARGO_PKG_NAME"))
        .with_bug(BUG)
        // Its calls are unary: no stream carries the messages `rst-stream` counts.
        .allow_vacuous(["rst-stream"])
        .search_on_failure(ops(), 2, SearchConfig { cases: 512, ..SearchConfig::default() })
        .main()
}
