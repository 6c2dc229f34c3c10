//! `faultline buggy-server`: served, checked in process and against a target, bad input.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::{faultline, run, stderr};

#[test]
fn check_passes_in_process_and_against_a_served_buggy_server() {
    let out = run(faultline().args(["buggy-server", "--check"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(stdout.contains("28 rows: "), "{stdout}");
    assert!(stdout.contains("0 unexplained; 0 stale entries"), "{stdout}");

    let mut server = faultline()
        .args(["buggy-server", "--listen", "127.0.0.1:0", "--case", "rst-after-headers"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let out = run(faultline().args(["buggy-server", "--check", "--target", &addr]));
    // The per-call metadata overrides the server's default case: the check passes as in process.
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    // Without metadata, the default case: `faultline client` fails its first call.
    let out = run(faultline().args(["client", "route-guide", "--no-pause", "--addr", &addr]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing grpc-status trailer"), "{}", stderr(&out));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_changed_record_fails_with_exit_1_and_bad_input_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("faultline-buggy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let changed = dir.join("changed.jsonl");
    let record =
        faultline_buggy::compare::GRPCIO_RECORD.replacen(r#""code": "UNKNOWN""#, r#""code": "OK""#, 1);
    std::fs::write(&changed, record).unwrap();
    let out = run(faultline().args(["buggy-server", "--check", "--grpcio"]).arg(&changed));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIFFERS"));
    let out = run(faultline().args(["buggy-server", "--drift"]).arg(&changed));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n").unwrap();
    for args in [
        vec!["buggy-server"],
        vec!["buggy-server", "--listen", "127.0.0.1:0", "--case", "nope"],
        vec!["buggy-server", "--listen", "not-an-address"],
        vec!["buggy-server", "--check", "--target", "127.0.0.1:1"],
        vec!["buggy-server", "--check", "--grpcio", garbage.to_str().unwrap()],
        vec!["buggy-server", "--drift", "/nonexistent/fresh.jsonl"],
    ] {
        let out = run(faultline().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}: {}", stderr(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
