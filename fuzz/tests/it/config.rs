//! Case counts (`PROPTEST_CASES` when set, else each property's default) and where shrunk
//! failures are kept.

use proptest::test_runner::{Config, FileFailurePersistence};

/// A config running `default` cases unless `PROPTEST_CASES` says otherwise.
pub fn cases(default: u32) -> Config {
    scaled(default, 1)
}

/// For a property whose cases cost tens of times more: `default`, or a twentieth of
/// `PROPTEST_CASES`.
pub fn costly(default: u32) -> Config {
    scaled(default, 20)
}

fn scaled(default: u32, divisor: u32) -> Config {
    let from_env = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok());
    let cases = from_env.map_or(default, |n| (n / divisor).max(1));
    Config {
        cases,
        // Shrunk failures next to each test file, replayed first on every run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}
