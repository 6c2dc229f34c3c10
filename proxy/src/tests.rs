//! The relay over in-memory pipes, in paused time: what no turmoil run can show, since
//! turmoil's sockets never push back.

use std::time::Duration;

use faultline_wire::frame::{Frame, PREFACE, kind};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::time::{Instant, timeout};

use super::lane::MAX_BACKLOG;
use super::{Acted, Connection, Mode, Observer, Plan, Relay};

/// Reports nothing (these tests inject no faults).
struct Quiet;

impl Observer for Quiet {
    fn acted(&self, _: Acted) {}
    fn protocol_error(&self, _: u64, detail: String) {
        panic!("unexpected protocol error: {detail}");
    }
}

/// A relay between two pipes; returns the test's ends: (client, server).
fn relay() -> (DuplexStream, DuplexStream) {
    const PIPE: usize = 64 * 1024;
    let (client, client_end) = duplex(PIPE);
    let (server, server_end) = duplex(PIPE);
    let (relay, _) = Relay::new(Plan::default(), Mode::Live(Instant::now()));
    let connection = Connection {
        id: 0,
        client: tokio::io::split(client_end),
        upstream: tokio::io::split(server_end),
        rng: ChaCha8Rng::seed_from_u64(0),
        observer: Box::new(Quiet),
        client_meter: None,
    };
    tokio::spawn(relay.serve(connection));
    (client, server)
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_read_stops_the_server_side_after_a_bounded_backlog() {
    let (mut client, mut server) = relay();
    client.write_all(PREFACE).await.unwrap();
    let mut preface = [0u8; 24];
    server.read_exact(&mut preface).await.unwrap();

    // The server sends 16 KiB DATA frames until a write blocks (paused time jumps ahead once
    // every task is idle: the timeout fires only when nothing can move).
    let frame = Frame::new(kind::DATA, 0, 1, &[7; 16 * 1024]).0;
    let frames = 8 * MAX_BACKLOG / frame.len();
    let stream: Vec<u8> = frame.iter().copied().cycle().take(frames * frame.len()).collect();
    let mut sent = 0usize;
    while let Ok(written) = timeout(Duration::from_secs(60), server.write(&stream[sent..])).await {
        sent += written.unwrap();
        assert!(sent < stream.len(), "the proxy kept reading a server whose client does not read");
    }
    // What it holds: its backlog and a read chunk or two; the rest sits in the two pipes.
    assert!(sent >= MAX_BACKLOG, "stopped early, after {sent} bytes");
    assert!(sent <= MAX_BACKLOG + 2 * frame.len() + 2 * 64 * 1024, "{sent} bytes taken");

    // Once the client reads, everything arrives, in order.
    let len = stream.len();
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; len];
        client.read_exact(&mut got).await.map(|_| got)
    });
    server.write_all(&stream[sent..]).await.unwrap();
    assert!(reader.await.unwrap().unwrap() == stream);
}

#[test]
fn a_connection_remembers_a_bounded_number_of_reset_streams_the_newest() {
    use super::conn::{RESET_REMEMBERED, ResetStreams};
    let mut reset = ResetStreams::default();
    let streams = (0..3 * RESET_REMEMBERED as u32).map(|i| 2 * i + 1);
    for stream in streams.clone() {
        reset.insert(stream);
    }
    assert_eq!(reset.len(), RESET_REMEMBERED);
    let last = streams.clone().next_back().unwrap();
    assert!(reset.contains(&last) && reset.contains(&(last - 2 * (RESET_REMEMBERED as u32 - 1))));
    assert!(!reset.contains(&1) && !reset.contains(&(last - 2 * RESET_REMEMBERED as u32)));
}
