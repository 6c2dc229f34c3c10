//! Corrupt transcripts given to `faultline conformance`: exit code 2 and one line that names
//! the file (and the line, where there is one). The wrong-version case is in `conformance.rs`.

use std::path::PathBuf;

use crate::support::{faultline, run, stderr};

#[test]
fn corrupt_transcripts_are_exit_2_in_one_line_naming_the_file() {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/transcripts");
    let original = std::fs::read(committed.join("say-hello.jsonl")).unwrap();
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        (
            "a line cut short",
            Some(original[..original.len() / 2].to_vec()),
            "say-hello.jsonl:1: not a transcript line",
        ),
        ("not UTF-8", Some(b"\xff\xfe{\n".to_vec()), "say-hello.jsonl"),
        ("not JSON", Some(b"hello\n".to_vec()), "say-hello.jsonl:1: not a transcript line"),
        ("an empty file", Some(Vec::new()), "say-hello.jsonl"),
        ("a missing file", None, "say-hello"),
    ];
    for (case, contents, message) in cases {
        let dir = std::env::temp_dir().join(format!("faultline-bad-transcripts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&committed).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        match contents {
            Some(bytes) => std::fs::write(dir.join("say-hello.jsonl"), bytes).unwrap(),
            None => std::fs::remove_file(dir.join("say-hello.jsonl")).unwrap(),
        }
        let out = run(faultline().args(["conformance", "--no-sim", "--transcripts"]).arg(&dir));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(err.contains(message), "{case}: expected {message:?} in {err:?}");
        assert!(!err.contains("panicked"), "{case}: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
