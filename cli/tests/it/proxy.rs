//! `faultline proxy` between real peers over loopback: clean pass-through, faults from a
//! scenario file and from the control endpoint (each asserted from the client's side and in
//! the JSON log), and hostile or missing peers on both sides.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{self, Receiver};

use faultline_proto::routeguide::{Point, Rectangle};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::support::{Server, faultline, run, stderr};
use crate::wire::{
    PATIENCE, PREFACE, call, closed, frame, frame_raw, framed, h2_connect, kind, start, within,
};

const GET_FEATURE: &str = "/routeguide.RouteGuide/GetFeature";
const LIST_FEATURES: &str = "/routeguide.RouteGuide/ListFeatures";

/// A `faultline proxy` child (killed when dropped) and its log, line by line.
struct Proxy {
    child: Child,
    addr: String,
    log: Receiver<Value>,
}

impl Proxy {
    /// Starts `faultline proxy --upstream UPSTREAM ARGS` on an OS-chosen port and waits for its
    /// `listening on` line.
    fn start(upstream: &str, args: &[&str]) -> Proxy {
        let mut child = faultline()
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn faultline proxy");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Proxy { child, addr, log: json_lines(stdout) }
    }

    /// The next log line with this `event`, skipping others.
    fn next(&self, event: &str) -> Value {
        loop {
            let line = self.log.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("no `{event}` line logged"));
            if line["event"] == event {
                return line;
            }
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every further stdout line, parsed (a line that is not JSON fails the test).
fn json_lines(stdout: BufReader<ChildStdout>) -> Receiver<Value> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let value: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if send.send(value).is_err() {
                break;
            }
        }
    });
    receive
}

/// A scenario file with these `[[faults]]` entries.
fn scenario(faults: &str) -> tempfile_path::Path {
    tempfile_path::write(&format!("name = \"proxy-test\"\n{faults}"))
}

/// Temporary scenario files, removed when dropped.
mod tempfile_path {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Path(pub PathBuf);

    pub fn write(text: &str) -> Path {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("faultline-proxy-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Path(path)
    }

    impl Path {
        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn whole_world() -> Rectangle {
    let corner = |latitude, longitude| Some(Point { latitude, longitude });
    Rectangle { lo: corner(-900_000_000, -1_800_000_000), hi: corner(900_000_000, 1_800_000_000) }
}

/// The tutorial client's lines, RouteChat's in sorted order (its sent and received lines
/// interleave by a race).
fn tutorial_lines(args: &[&str]) -> Vec<String> {
    let out = run(faultline().args(["client", "route-guide", "--no-pause", "--seed", "7"]).args(args));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (before, chat) = text.split_once("-------------- RouteChat").expect("a RouteChat section");
    let mut chat: Vec<String> = chat.lines().map(str::to_owned).collect();
    chat.sort();
    before.lines().map(str::to_owned).chain(chat).collect()
}

#[test]
fn without_faults_the_tutorial_client_sees_exactly_what_it_sees_directly() {
    let server = Server::start("all");
    let mut proxy = Proxy::start(&server.addr, &[]);
    let direct = tutorial_lines(&["--addr", &server.addr]);
    assert_eq!(direct.iter().filter(|l| l.starts_with("Feature called ")).count(), 1 + 100);
    assert_eq!(tutorial_lines(&["--addr", &proxy.addr]), direct);
    assert!(proxy.alive());
    let started = proxy.log.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        (started["event"].as_str(), started["faults"].as_array().map(Vec::len)),
        (Some("started"), Some(0))
    );
    assert!(proxy.log.try_recv().is_err(), "no fault, nothing logged");
}

#[tokio::test]
async fn rst_stream_cancels_after_exactly_n_messages_and_the_connection_carries_on() {
    let server = Server::start("all");
    let file = scenario(
        "[[faults]]\nkind = \"rst-stream\"\nafter_messages = 3\nevery = 1\nat_ms = 0\nfor_ms = 600000\n",
    );
    let proxy = Proxy::start(&server.addr, &["--file", file.arg()]);
    let mut client = h2_connect(&proxy.addr).await;
    let mut list = start(&mut client, LIST_FEATURES).await;
    list.send_all(&[framed(&whole_world())]).await.unwrap();
    let mut received = 0;
    let error = loop {
        match list.next_message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended normally after {received} messages"),
            Err(e) => break e,
        }
    };
    assert_eq!(received, 3, "the proxy cuts right after the third message");
    assert_eq!(error.reason(), Some(h2::Reason::CANCEL), "{error}");
    // A unary answer has one message: never reset; the connection's HPACK state is intact.
    let reply =
        call(&mut client, GET_FEATURE, &[framed(&Point { latitude: 409146138, longitude: -746188906 })])
            .await;
    assert_eq!((reply.code, reply.messages.len()), (Some(0), 1), "{reply:?}");

    let fault = proxy.next("fault");
    assert_eq!(fault["fault"], "rst-stream");
    assert_eq!(fault["stream"], 1);
    assert_eq!(fault["method"], LIST_FEATURES);
    assert_eq!(fault["did"], "stream 1 after 3 messages");
}

#[tokio::test]
async fn connection_reset_is_a_tcp_reset_after_the_given_bytes() {
    let server = Server::start("all");
    let file =
        scenario("[[faults]]\nkind = \"connection-reset\"\nafter_bytes = 200\nat_ms = 0\nfor_ms = 600000\n");
    let proxy = Proxy::start(&server.addr, &["--file", file.arg()]);
    let mut client = h2_connect(&proxy.addr).await;
    let mut list = start(&mut client, LIST_FEATURES).await;
    list.send_all(&[framed(&whole_world())]).await.unwrap();
    let error = loop {
        match list.next_message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended normally"),
            Err(e) => break e,
        }
    };
    // The reset reaches the client's h2 task as ECONNRESET on its next read, or as EPIPE when
    // its next move is a write (a WINDOW_UPDATE for the data it just read): 1 run in 12 here.
    // A close with FIN would read as an end of stream (UnexpectedEof), not as either.
    let io = error.get_io().map(std::io::Error::kind);
    assert!(
        matches!(io, Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)),
        "{error} ({io:?})"
    );
    let fault = proxy.next("fault");
    assert_eq!(
        (fault["fault"].as_str(), fault["did"].as_str()),
        (Some("connection-reset"), Some("after 200 bytes server->client"))
    );
}

#[tokio::test]
async fn faults_switch_at_run_time_through_the_control_endpoint() {
    let server = Server::start("all");
    let proxy = Proxy::start(&server.addr, &["--control", "127.0.0.1:0"]);
    let control = proxy.next("started")["control"].as_str().unwrap().to_owned();
    let request = |method: &str, path: &str, body: &str| http(&control, method, path, body);

    assert_eq!(request("GET", "/faults", ""), (200, "[]".to_owned()));
    let added = request("POST", "/faults", r#"{"kind": "rst-stream", "after_messages": 2, "every": 1}"#);
    assert_eq!(added, (201, r#"{"id":0}"#.to_owned()));
    let (status, _) =
        request("POST", "/faults", r#"{"kind": "rst-stream", "after_messages": 5, "every": 1}"#);
    assert_eq!(status, 409, "one fault per kind");
    let (status, body) = request("POST", "/faults", r#"{"kind": "partition", "oneway": true}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a proxy fault"), "{body}");
    assert_eq!(request("POST", "/faults", "{").0, 400);
    assert_eq!(request("GET", "/nothing", "").0, 404);
    let (_, list) = request("GET", "/faults", "");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!((list[0]["kind"].as_str(), list[0]["after_messages"].as_u64()), (Some("rst-stream"), Some(2)));
    assert_eq!(list[0]["until_ms"], Value::Null);

    // Already-open connections take the new plan too.
    let mut client = h2_connect(&proxy.addr).await;
    let messages = |reply: &crate::wire::Reply| reply.messages.len();
    let mut list_call = start(&mut client, LIST_FEATURES).await;
    list_call.send_all(&[framed(&whole_world())]).await.unwrap();
    let mut received = 0;
    while let Ok(Some(_)) = list_call.next_message().await {
        received += 1;
    }
    assert_eq!(received, 2);
    assert_eq!(proxy.next("fault")["fault"], "rst-stream");

    assert_eq!(request("DELETE", "/faults/0", "").0, 204);
    assert_eq!(request("DELETE", "/faults/0", "").0, 404);
    let reply = call(&mut client, LIST_FEATURES, &[framed(&whole_world())]).await;
    assert_eq!((reply.code, messages(&reply)), (Some(0), 100), "removed: the whole answer again");
}

/// One HTTP/1.1 request; the status and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut tcp = StdTcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim().to_owned();
    (status, body)
}

#[tokio::test]
async fn an_unreachable_upstream_closes_the_client_logs_one_line_and_the_proxy_keeps_serving() {
    // Port 1 on loopback: nothing listens there, the connect is refused at once.
    let mut proxy = Proxy::start("127.0.0.1:1", &[]);
    for conn in 0..2 {
        let mut tcp = within("connect", tokio::net::TcpStream::connect(&proxy.addr)).await.unwrap();
        let _ = tcp.write_all(PREFACE).await;
        closed(&mut tcp).await;
        let line = proxy.next("upstream-unreachable");
        assert_eq!((line["conn"].as_u64(), line["upstream"].as_str()), (Some(conn), Some("127.0.0.1:1")));
        assert!(line["error"].as_str().unwrap().contains("refused"), "{line}");
    }
    assert!(proxy.alive());
}

#[tokio::test]
async fn garbage_from_either_side_closes_only_its_connection() {
    let server = Server::start("all");
    let mut proxy = Proxy::start(&server.addr, &[]);
    let mut bystander = h2_connect(&proxy.addr).await;
    let garbage: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        // A HEADERS frame on stream 0.
        &[PREFACE.as_slice(), &frame(kind::HEADERS, 0x4, 0, &[0x88])].concat(),
        // A header block the proxy's HPACK decoder must reject: index 0.
        &[PREFACE.as_slice(), &frame(kind::HEADERS, 0x4, 1, &[0x80])].concat(),
        // A frame header announcing 16 MiB - 1 to a server that accepts 16 KiB: refused before
        // the proxy buffers any of it.
        &[PREFACE.as_slice(), &frame_raw((1 << 24) - 1, kind::DATA, 0, 1, &[])].concat(),
    ];
    for bytes in garbage {
        let mut tcp = within("connect", tokio::net::TcpStream::connect(&proxy.addr)).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        closed(&mut tcp).await;
        assert!(proxy.next("protocol-error")["detail"].as_str().unwrap().starts_with("client->server: "));
    }
    // A "server" that answers with a HEADERS frame on stream 0.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_addr = fake.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut tcp, _)) = fake.accept() {
            let _ = tcp.write_all(&frame(kind::HEADERS, 0x4, 0, &[0x88]));
            let _ = tcp.read(&mut [0; 64]);
        }
    });
    let to_fake = Proxy::start(&fake_addr, &[]);
    let mut tcp = within("connect", tokio::net::TcpStream::connect(&to_fake.addr)).await.unwrap();
    tcp.write_all(PREFACE).await.unwrap();
    closed(&mut tcp).await;
    assert!(to_fake.next("protocol-error")["detail"].as_str().unwrap().starts_with("server->client: "));

    let reply = call(&mut bystander, GET_FEATURE, &[framed(&Point { latitude: 0, longitude: 0 })]).await;
    assert_eq!(reply.code, Some(0), "{reply:?}");
    assert!(proxy.alive());
}

#[test]
fn sigterm_stops_the_proxy_with_exit_0() {
    let server = Server::start("all");
    let mut proxy = Proxy::start(&server.addr, &[]);
    let _open = StdTcpStream::connect(&proxy.addr).unwrap();
    let pid = proxy.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (send, receive) = mpsc::channel();
    let mut child = std::mem::replace(&mut proxy.child, faultline().arg("--version").spawn().unwrap());
    std::thread::spawn(move || send.send(child.wait()));
    let status = receive.recv_timeout(PATIENCE).expect("the proxy exits").unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let server = Server::start("all");
    let no_proxy_faults =
        scenario("[[faults]]\nkind = \"partition\"\noneway = false\nat_ms = 0\nfor_ms = 10\n");
    let twice = scenario(
        "[[faults]]\nkind = \"goaway\"\nafter_frames = 1\nat_ms = 0\nfor_ms = 10\n\
         [[faults]]\nkind = \"goaway\"\nafter_frames = 2\nat_ms = 0\nfor_ms = 10\n",
    );
    let malformed = scenario("[[faults]]\nkind = \"rst-stream\"\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--file", no_proxy_faults.arg()], "has no proxy faults"),
        (vec!["--file", twice.arg()], "a `goaway` fault is already planned"),
        (vec!["--file", malformed.arg()], "malformed scenario file"),
        (vec!["--file", "/no/such/file.toml"], "cannot read scenario file"),
        (vec!["--control", &server.addr], "cannot listen on"),
        (vec!["--seed", "x"], "is not a seed"),
        (vec!["--max-connections", "0"], "invalid value '0'"),
        (vec!["--threads", "0"], "invalid value '0'"),
    ];
    let busy = ["--listen", &server.addr, "--upstream", &server.addr];
    let cases = cases.into_iter().map(|(args, message)| {
        let mut full = vec!["proxy", "--listen", "127.0.0.1:0", "--upstream", &server.addr];
        full.extend(args);
        (full, message)
    });
    for (args, message) in cases.chain([(["proxy"].into_iter().chain(busy).collect(), "cannot listen on")]) {
        let out = run(faultline().args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(err.contains(message), "{args:?}: {err:?} lacks {message:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
