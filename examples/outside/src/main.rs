//! The counter's runner: `run`, `replay`, `list`, `merge`, as `faultline` has them.

fn main() -> std::process::ExitCode {
    faultline_sim::cli::Runner::new(outside_counter::Counters)
        .package(env!("CARGO_PKG_NAME"))
        .with_bug(outside_counter::BUG)
        // Unary calls only: no stream carries the messages `rst-stream` counts.
        .allow_vacuous(["rst-stream"])
        .main()
}
