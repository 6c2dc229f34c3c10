//! Shared helpers: the committed suite, and scratch copies of it to break.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use faultline_conformance::Suite;

/// The committed suite, loaded once.
pub fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| Suite::load(&Suite::default_dir()).expect("the committed suite loads"))
}

/// A fresh copy of the suite's data files in a scratch folder named after the test.
pub fn scratch_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-conformance-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(
        &Suite::default_dir(),
        &dir,
        &["cases.toml", "rules.toml", "known-failures.toml", "transcripts"],
    );
    dir
}

fn copy_dir(from: &Path, to: &Path, only: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !only.is_empty() && !only.contains(&name.as_str()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name), &[]);
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
