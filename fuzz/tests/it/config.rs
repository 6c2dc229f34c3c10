//! Case counts (`PROPTEST_CASES` when set, else each property's default) and where shrunk
//! failures are kept.

use proptest::test_runner::{Config, FileFailurePersistence};

/// A config running `default` cases unless `PROPTEST_CASES` says otherwise.
pub fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config {
        cases,
        // Shrunk failures next to each test file, replayed first on every run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}
