//! `faultline conformance`: the table, exit codes, and bad transcripts as one-line errors.

use std::path::PathBuf;

use crate::support::{faultline, run, stderr};

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

#[test]
fn conformance_prints_a_table_and_exits_0() {
    let out = run(faultline().args(["conformance", "--seed", "0x1"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", stderr(&out));
    for column in
        ["rust-server/in-process", "rust-client/in-process", "rust-server/simulated", "rust-client/simulated"]
    {
        assert!(stdout.contains(column), "no {column} column:\n{stdout}");
    }
    assert!(stdout.contains("0 failed, 0 stale"), "{stdout}");
}

#[test]
fn a_broken_service_rule_fails_with_a_diff_and_exit_1() {
    let out = run(faultline().args([
        "conformance",
        "--mutant",
        "segment-truncation",
        "--direction",
        "rust-server",
        "--no-sim",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL record-route-tutorial rust-server/in-process"), "{stdout}");
    assert!(stdout.contains("distance: 805728"), "{stdout}");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_transcript_of_another_schema_version_is_exit_2_in_one_line() {
    let dir = std::env::temp_dir().join(format!("faultline-cli-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(conformance_dir().join("transcripts")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let path = dir.join("say-hello.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap().replacen("\"schema_version\":1", "\"schema_version\":9", 1);
    std::fs::write(&path, text).unwrap();
    let out = run(faultline().args(["conformance", "--no-sim", "--transcripts"]).arg(&dir));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("say-hello.jsonl:1") && err.contains("schema_version 9"), "{err}");
}

#[test]
fn a_malformed_known_failure_is_exit_2_in_one_line() {
    let dir = std::env::temp_dir().join(format!("faultline-cli-known-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["cases.toml", "rules.toml"] {
        std::fs::copy(conformance_dir().join(name), dir.join(name)).unwrap();
    }
    std::fs::write(
        dir.join("known-failures.toml"),
        "[[failure]]\ncase = \"say-hello\"\ndirections = [\"rust-server\"]\naspect = \"colour\"\n\
         expected = \"a\"\nactual = \"b\"\nreason = \"x\"\n",
    )
    .unwrap();
    let out = run(faultline()
        .args(["conformance", "--no-sim", "--dir"])
        .arg(&dir)
        .arg("--transcripts")
        .arg(conformance_dir().join("transcripts")));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("known-failures.toml: known failure `say-hello`: unknown aspect `colour`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
