//! Bad data is a clear error: wrong schema version, corrupt lines, missing or extra transcripts.

use faultline_conformance::{Suite, SuiteError, TranscriptError};

use crate::support::scratch_copy;

fn load(dir: &std::path::Path) -> SuiteError {
    Suite::load(dir).expect_err("the broken suite must not load")
}

/// Why the broken suite did not load: the error and its causes, as the CLI prints them.
fn why(dir: &std::path::Path) -> String {
    let err = load(dir);
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn edit(dir: &std::path::Path, case: &str, f: impl Fn(String) -> String) {
    let path = dir.join("transcripts").join(format!("{case}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(text)).unwrap();
}

#[test]
fn a_transcript_of_another_schema_version_is_refused_by_name() {
    let dir = scratch_copy("schema");
    edit(&dir, "say-hello", |t| t.replacen("\"schema_version\":1", "\"schema_version\":2", 1));
    let err = load(&dir);
    assert!(matches!(err, SuiteError::Transcript(TranscriptError::SchemaVersion { .. })), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("say-hello.jsonl:1") && msg.contains("schema_version 2"), "{msg}");
}

#[test]
fn a_corrupt_line_is_refused_with_its_file_and_line() {
    let dir = scratch_copy("corrupt");
    edit(&dir, "get-feature-hit", |t| t[..t.len() / 2].to_owned());
    let msg = why(&dir);
    assert!(msg.contains("get-feature-hit.jsonl:1") && msg.contains("not a transcript line"), "{msg}");
}

#[test]
fn a_message_whose_length_disagrees_with_its_bytes_is_refused() {
    let dir = scratch_copy("length");
    edit(&dir, "say-hello", |t| t.replacen("\"len\":5", "\"len\":6", 1));
    let msg = why(&dir);
    assert!(msg.contains("`len` is 6 but its bytes are 5"), "{msg}");
}

#[test]
fn a_case_without_a_transcript_and_a_transcript_without_a_case_are_refused() {
    let dir = scratch_copy("missing");
    std::fs::remove_file(dir.join("transcripts/say-hello.jsonl")).unwrap();
    assert!(matches!(load(&dir), SuiteError::Missing(case, _) if case == "say-hello"));
    let dir = scratch_copy("extra");
    std::fs::copy(dir.join("transcripts/say-hello.jsonl"), dir.join("transcripts/not-a-case.jsonl")).unwrap();
    edit(&dir, "not-a-case", |t| t.replace("\"case_id\":\"say-hello\"", "\"case_id\":\"not-a-case\""));
    assert!(matches!(load(&dir), SuiteError::Extra(case, _) if case == "not-a-case"));
}

#[test]
fn a_known_failure_for_an_unknown_case_is_refused() {
    let dir = scratch_copy("known");
    let path = dir.join("known-failures.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}\n[[failure]]\ncase = \"nope\"\ndirections = [\"rust-server\"]\nreason = \"x\"\n"),
    )
    .unwrap();
    assert!(why(&dir).contains("known failure for unknown case `nope`"));
}

#[test]
fn transcripts_round_trip_through_the_writer() {
    let set = &crate::support::suite().transcripts;
    let dir = scratch_copy("roundtrip").join("written");
    set.write(&dir).unwrap();
    let again = faultline_conformance::TranscriptSet::load(&dir).unwrap();
    assert_eq!(&again, set);
}
