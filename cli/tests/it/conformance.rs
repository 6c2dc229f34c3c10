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

/// `faultline serve all --conformance-hook` with a deliberately wrong rule, in this process on
/// a real TCP port (`faultline serve` has no `--mutant`: users never run a broken server).
struct MutantServer {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MutantServer {
    fn start(mutant: faultline_services::Mutant) -> Self {
        use faultline_server::{AbortHook, Server, ServerConfig, Services};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let config = ServerConfig::new(Services::All)
                    .mutant(Some(mutant))
                    .hook(std::sync::Arc::new(AbortHook));
                let server = Server::new(config);
                faultline_server::tcp::serve(&server, listener, async move {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        Self { addr, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for MutantServer {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(std::thread::JoinHandle::join);
    }
}

#[test]
fn target_faultline_serve_passes_with_its_known_failures_and_exits_0() {
    let server = crate::support::Server::start_with(&["all", "--conformance-hook"]);
    let out = run(faultline()
        .args(["conformance", "--target", &server.addr, "--known-failures"])
        .arg(conformance_dir().join("targets/faultline-serve.toml")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", stderr(&out));
    assert!(stdout.contains("target/live"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "24 checks against {}: 20 passed, 4 known failures, 0 failed, 0 stale",
            server.addr
        )),
        "{stdout}"
    );
}

#[test]
fn target_without_its_known_failures_reports_them_and_exits_1() {
    let server = crate::support::Server::start_with(&["all", "--conformance-hook"]);
    let out = run(faultline().args(["conformance", "--target", &server.addr]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL unknown-method target/live"), "{stdout}");
    assert!(stdout.contains(&format!("actual ({}):", server.addr)), "{stdout}");
}

#[test]
fn target_a_broken_server_fails_with_a_diff_and_exit_1() {
    let server = MutantServer::start(faultline_services::Mutant::DefaultFeatureOnMiss);
    let out = run(faultline()
        .args(["conformance", "--target", &server.addr, "--known-failures"])
        .arg(conformance_dir().join("targets/faultline-serve.toml")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL get-feature-miss target/live"), "{stdout}");
    assert!(stdout.contains("1 failed, 0 stale"), "{stdout}");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // --json says the same.
    let out = run(faultline()
        .args(["conformance", "--json", "--target", &server.addr, "--known-failures"])
        .arg(conformance_dir().join("targets/faultline-serve.toml")));
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["target"], server.addr.as_str());
    let failed: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| r["case"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["get-feature-miss"]);
}

#[test]
fn target_nothing_listening_is_exit_2_in_one_line_at_once() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = run(faultline().args(["conformance", "--target", &addr]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot reach {addr}")), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn target_bad_input_is_exit_2_in_one_line() {
    let server_file = conformance_dir().join("targets/faultline-serve.toml");
    let rust_file = conformance_dir().join("known-failures.toml");
    let cases: [(Vec<String>, &str); 4] = [
        (vec!["--target".into(), "localhost".into()], "`localhost` is not HOST:PORT"),
        (
            vec!["--known-failures".into(), server_file.display().to_string()],
            "required arguments were not provided: --target",
        ),
        (
            vec!["--target".into(), "127.0.0.1:1".into(), "--mutant".into(), "exclusive-edges".into()],
            "cannot be used with",
        ),
        (
            vec![
                "--target".into(),
                "127.0.0.1:1".into(),
                "--known-failures".into(),
                rust_file.display().to_string(),
            ],
            "is not for direction `target`",
        ),
    ];
    for (args, message) in cases {
        let out = run(faultline().arg("conformance").args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
