//! `--target`: the recorded client side against a server over real TCP. The Rust server passes
//! with its target file; the same server with a broken rule fails on the case that exercises
//! the rule; nothing listening, or something that is not HTTP/2, is an error before any case.

use std::io::Write as _;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_conformance::known::{KnownFailures, load_target_known};
use faultline_conformance::target::CONNECT_TIMEOUT;
use faultline_conformance::{Direction, Suite, SuiteError, Target, TargetError, Transport, Verdict};
use faultline_server::{AbortHook, Server, ServerConfig, Services};
use faultline_services::Mutant;
use tokio::sync::oneshot;

use crate::support::suite;

/// `faultline serve all --conformance-hook` (optionally with a mutant) on a real TCP port in
/// a thread of its own; stops when dropped.
struct LiveServer {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveServer {
    fn start(mutant: Option<Mutant>) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let config = ServerConfig::new(Services::All).mutant(mutant).hook(Arc::new(AbortHook));
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

impl Drop for LiveServer {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(std::thread::JoinHandle::join);
    }
}

fn target_file(name: &str) -> std::path::PathBuf {
    Suite::default_dir().join("targets").join(format!("{name}.toml"))
}

#[test]
fn the_rust_server_over_tcp_passes_with_its_target_file() {
    let server = LiveServer::start(None);
    let known = load_target_known(&target_file("faultline-serve"), &suite().cases).unwrap();
    let report = suite().run_target(&Target::new(&server.addr).unwrap(), &known).unwrap();
    assert_eq!(report.results.len(), suite().cases.len());
    assert!(report.passed(), "{}\n{}", report.table(), report.details(true));
    assert_eq!(report.target.as_deref(), Some(server.addr.as_str()));
    // The same known failures as the in-process run against the same server.
    let in_process = suite().run_in_process(Direction::RustServer, None).unwrap();
    for r in &report.results {
        assert_eq!(
            Some(r.verdict),
            in_process.verdict(&r.case, Direction::RustServer, Transport::InProcess),
            "{}",
            r.case
        );
    }
}

#[test]
fn the_rust_servers_target_file_is_known_failures_toml_for_the_target_direction() {
    // Same server, same differences: conformance/targets/faultline-serve.toml says what
    // known-failures.toml says of rust-server, entry for entry.
    let target = load_target_known(&target_file("faultline-serve"), &suite().cases).unwrap();
    let key = |k: &faultline_conformance::known::KnownFailure| {
        (k.case.clone(), k.aspect, serde_json::to_string(&k.outcomes).unwrap(), k.reason.clone())
    };
    let theirs: Vec<_> = target.entries.iter().map(key).collect();
    let ours: Vec<_> = suite()
        .known
        .entries
        .iter()
        .filter(|k| k.directions.contains(&Direction::RustServer) && k.transports.is_none())
        .map(key)
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn every_committed_target_file_loads() {
    for entry in std::fs::read_dir(Suite::default_dir().join("targets")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load_target_known(&path, &suite().cases).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn a_broken_server_over_tcp_fails_on_the_case_that_exercises_the_rule() {
    let server = LiveServer::start(Some(Mutant::DefaultFeatureOnMiss));
    let known = load_target_known(&target_file("faultline-serve"), &suite().cases).unwrap();
    let report = suite().run_target(&Target::new(&server.addr).unwrap(), &known).unwrap();
    assert!(!report.passed());
    assert_eq!(report.verdict("get-feature-miss", Direction::Target, Transport::Live), Some(Verdict::Fail));
    assert_eq!(report.count(Verdict::Fail), 1, "{}", report.details(false));
    let details = report.details(false);
    assert!(details.contains(&format!("actual ({}):", server.addr)), "{details}");
}

#[test]
fn a_target_entry_that_excuses_nothing_is_stale() {
    let server = LiveServer::start(None);
    let mut known = load_target_known(&target_file("faultline-serve"), &suite().cases).unwrap();
    known.entries.extend(
        KnownFailures::parse(
            r#"
[[failure]]
case = "say-hello"
directions = ["target"]
aspect = "status"
expected = 'OK (0) "", from the server'
actual = 'CANCELLED (1) "", from the server'
reason = "made up for this test"
"#,
            &suite().cases,
        )
        .unwrap()
        .entries,
    );
    let report = suite().run_target(&Target::new(&server.addr).unwrap(), &known).unwrap();
    assert_eq!(report.verdict("say-hello", Direction::Target, Transport::Live), Some(Verdict::Stale));
    assert!(!report.passed());
    assert!(report.details(false).contains("fix or remove its entry in the target's known-failures file"));
}

#[test]
fn nothing_listening_is_an_error_before_any_case_and_quick() {
    let addr = {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let started = Instant::now();
    let error = suite().run_target(&Target::new(&addr).unwrap(), &KnownFailures::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(
        matches!(&error, SuiteError::Target(TargetError::Unreachable { addr: a, .. }) if *a == addr),
        "{error}"
    );
}

#[test]
fn a_server_that_is_not_http2_is_an_error_before_any_case() {
    // Answers every connection as HTTP/1.1 would a request it cannot parse, then closes.
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let started = Instant::now();
    let error = suite().run_target(&Target::new(&addr).unwrap(), &KnownFailures::default()).unwrap_err();
    assert!(started.elapsed() < CONNECT_TIMEOUT, "{:?}", started.elapsed());
    assert!(matches!(&error, SuiteError::Target(TargetError::NotHttp2 { .. })), "{error}");
}

#[test]
fn a_target_file_of_another_direction_is_refused() {
    let error =
        load_target_known(&Suite::default_dir().join("known-failures.toml"), &suite().cases).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "known-failures.toml: known failure `unknown-method` (trailers) is not for direction `target`"
        ),
        "{text}"
    );
}
