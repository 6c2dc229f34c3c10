//! Criterion benchmarks live in `benches/`; filled in by the benchmarks issue.
