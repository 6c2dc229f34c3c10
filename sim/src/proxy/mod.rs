//! A gRPC-aware fault proxy: a turmoil host between client and server that
//! reads both directions of every connection as HTTP/2 frames and injects
//! faults at frame level (RST_STREAM after the N-th message, GOAWAY,
//! connection reset mid-stream, frame reordering across streams, frame delay).
//!
//! # Layout
//!
//! * this module: [`Proxy`] and the accept loop;
//! * `plan`: the faults of a proxy, one slot per kind, each with its window;
//! * `conn`: one connection's state machine (streams, resets, GOAWAY, closing);
//! * `lane`: one direction's output (reorder buffer, delay, writer task);
//! * `headers` and `hpack`: following the server's header blocks (below); public because
//!   they read a peer's bytes, which `faultline-fuzz` feeds them.
//!
//! Frames and gRPC messages are read with `faultline_wire`; error codes are
//! `h2::Reason`'s.
//!
//! # How it works
//!
//! [`Proxy::run`] accepts connections on the gRPC port; for each one it dials
//! `upstream` and runs one task that reads both sockets, cuts the byte streams
//! into frames (the 24-byte client preface first, then 9-byte headers:
//! 24-bit length, type, flags, 31-bit stream id) and forwards them whole, in
//! order, through a per-direction pipeline: *fault logic → reorder buffer →
//! delay → writer task*. Writers run as their own tasks, so a slow peer never
//! blocks reading the other one. Frames of unknown types are forwarded
//! untouched.
//!
//! # Determinism
//!
//! All randomness comes from the world's random stream of the proxy host, one
//! stream per connection (its index, 0, 1, ... in accept order).
//! Time is tokio's, which turmoil simulates; every map is a `BTreeMap`; the
//! connection task polls its sockets in a fixed (`biased`) order.
//!
//! # Counting gRPC messages
//!
//! tonic coalesces every message that is ready into one DATA frame (a whole
//! ListFeatures answer is usually a single frame), so "one DATA frame = one
//! message" would be wrong. The proxy instead follows the gRPC
//! length-prefixed framing (1 flag byte, 4-byte big-endian length, body)
//! across the DATA frames of each targeted stream with a
//! `faultline_wire::grpc::Scanner`: a message counts once its last byte has
//! been forwarded. When the N-th message ends inside a frame, the frame is cut
//! right after it.
//!
//! # Keeping HTTP/2 state consistent while dropping frames
//!
//! `rst-stream` drops the frames of the streams it resets. Two
//! pieces of connection state would break:
//!
//! * Flow control: dropped DATA still consumed the sender's connection window.
//!   The proxy returns it with a connection-level WINDOW_UPDATE to the sender.
//! * HPACK: header blocks (HEADERS + CONTINUATION) update the receiver's
//!   dynamic table, so the server's trailers for a reset stream cannot simply
//!   be dropped, and forwarding them makes h2 fail the whole connection
//!   (trailers on a stream the peer reset are a connection PROTOCOL_ERROR).
//!   So when an `RstStream` fault is configured the proxy decodes every
//!   server→client header block with its own HPACK decoder (a mirror of the
//!   server's encoder; h2 keeps its HPACK code private). Blocks are passed
//!   through byte for byte until a dropped block changes the dynamic table;
//!   from then on that connection's server→client header blocks are
//!   re-encoded as plain literals that never touch the client's dynamic
//!   table. Client→server header blocks are never dropped (a gRPC client
//!   sends none on a stream after it was reset).
//!
//! # Closing
//!
//! When either side closes (EOF or error), everything already read is
//! forwarded, then both sockets are closed. Garbage (a wrong preface, a
//! malformed frame the proxy has to look into, an interrupted header block)
//! closes both sockets at once and records a `ProtocolError` event. turmoil has no way to send a TCP RST on purpose: a closed socket
//! reaches the peer as EOF, or as a reset when the proxy left bytes unread.
//!
//! # Schedule and trace
//!
//! Each fault acts only inside its window of the run's schedule. Every time one
//! touches traffic it is recorded as an `Acted` fault event on the proxy's host,
//! scoped to the stream's call when the proxy knows it (it reads the
//! `faultline-call` metadata of each request while `rst-stream` is configured)
//! and to the client's connection otherwise, with how much it touched: streams
//! reset, connections sent GOAWAY or cut, DATA frames that overtook an earlier
//! one, frames delayed. The proxy also records a `Connect` event for each
//! upstream connection it opens.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::fault::TimedFault;
use crate::net::{self, Traffic};
use crate::trace::{EventKind, FaultEvent, Phase, Scope, Trace};
use crate::world::World;

mod conn;
pub mod headers;
pub mod hpack;
mod lane;
mod plan;

use plan::{Plan, Slot};

/// How long a connection may live after the proxy sent it a GOAWAY.
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The proxy host's name.
pub const HOST: &str = "proxy";

/// The proxy host: listens on the gRPC port, dials `upstream` for every accepted connection
/// and injects its faults, each in its window of the schedule, between the two.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Where to forward, e.g. `"server:50051"`.
    pub upstream: String,
    /// The scenario's proxy faults, with their indices in its fault list.
    pub faults: Vec<(usize, TimedFault)>,
    /// The world, for the proxy's random streams (one per connection).
    pub world: World,
    /// Where fault firings are recorded.
    pub trace: Trace,
    /// Where the bytes the proxy writes to clients are counted.
    pub traffic: Traffic,
}

impl Proxy {
    /// Accepts connections forever, one task per connection. Returns only when binding or
    /// accepting fails.
    pub async fn run(self) -> io::Result<()> {
        let listener = net::bind_grpc().await?;
        let shared = Arc::new(Shared {
            plan: Plan::new(&self.faults),
            upstream: self.upstream,
            world: self.world,
            trace: self.trace,
            traffic: self.traffic,
        });
        let mut next_id = 0u64;
        loop {
            let (client, peer) = listener.accept().await?;
            let id = next_id;
            next_id += 1;
            tokio::spawn(conn::serve(Arc::clone(&shared), id, client, net::host_of(peer)));
        }
    }
}

/// What every connection task of one proxy shares.
#[derive(Debug)]
struct Shared {
    plan: Plan,
    upstream: String,
    world: World,
    trace: Trace,
    traffic: Traffic,
}

impl Shared {
    /// Records that the fault of `slot` acted on `scope`, touching `touched` units of traffic.
    fn acted<T>(&self, slot: &Slot<T>, fault: &'static str, scope: Scope, touched: u64, detail: String) {
        let event = FaultEvent { fault, index: slot.index, phase: Phase::Acted, touched, scope, detail };
        self.trace.record(HOST, EventKind::Fault(event));
    }
}
