//! Failures property search once found, committed as scenario files named
//! `<what>@<seed>.toml`, replayed on every test run.

use faultline_tutorial::{run, scenario_from_toml};

#[test]
fn every_committed_regression_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no regressions in {}", dir.display());
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let seed: u64 = name
            .rsplit_once('@')
            .and_then(|(_, s)| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no @seed"));
        let scenario = scenario_from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let report = run(&scenario, seed);
        let violations: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert!(report.passed(), "{name} fails again:\n{}", violations.join("\n"));
    }
}
