//! A gRPC-aware fault proxy: a turmoil host between client and server that
//! reads both directions of every connection as HTTP/2 frames and injects
//! faults at frame level (RST_STREAM after the N-th message, GOAWAY,
//! connection reset mid-stream, frame reordering across streams, frame delay).
//!
//! # Layout
//!
//! * this module: [`Proxy`], [`ProxyFault`] and the accept loop;
//! * `plan`: the faults of a proxy, one slot per kind;
//! * `conn`: one connection's state machine (streams, resets, GOAWAY, closing);
//! * `lane`: one direction's output (reorder buffer, delay, writer task);
//! * `headers` and `hpack`: following the server's header blocks (below).
//!
//! Frames and gRPC messages are read with `faultline_wire`; error codes are
//! `h2::Reason`'s.
//!
//! # How it works
//!
//! [`Proxy::run`] accepts connections on `listen_port`; for each one it dials
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
//! All randomness comes from a `ChaCha8Rng` seeded with [`Proxy::seed`] on
//! ChaCha stream number = the connection's index (0, 1, ... in accept order).
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
//! [`ProxyFault::RstStream`] drops the frames of the streams it resets. Two
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
//! closes both sockets at once and records a `proxy-protocol-error` fault
//! event. turmoil has no way to send a TCP RST on purpose: a closed socket
//! reaches the peer as EOF, or as a reset when the proxy left bytes unread.
//!
//! # Trace
//!
//! Every fault firing is recorded as `EventKind::Fault` on the proxy's host,
//! with the connection index in the detail. The proxy also records a
//! `Connect` event for each upstream connection it opens.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use turmoil::net::TcpListener;

use crate::trace::{EventKind, Trace};

mod conn;
mod headers;
mod hpack;
mod lane;
mod plan;

use plan::Plan;

/// A gRPC-aware fault the proxy injects; each variant named and parameterised.
///
/// Every fault acts on each proxied connection separately (a reconnect gets a
/// fresh count). When `faults` holds several faults of one kind, the first
/// one is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProxyFault {
    /// After the client has received `after_messages` gRPC messages on a
    /// stream, reset that stream: the client gets RST_STREAM(CANCEL) right
    /// after the last byte of message `after_messages`, the server gets
    /// RST_STREAM(CANCEL), and later frames of that stream are dropped both
    /// ways (dropped DATA is handed back to the sender's connection window).
    /// Messages are counted by their gRPC length prefix, not by DATA frames
    /// (see the module docs). `after_messages: 0` resets a stream as soon as
    /// the client opens it. Applied to every `every`-th stream the client
    /// opens on a connection (1 = all; 0 is treated as 1).
    RstStream { after_messages: u32, every: u32 },
    /// After `after_frames` frames server->client on a connection (at least
    /// 1, so the server's SETTINGS go first), send the client
    /// GOAWAY(last stream id = highest client stream id seen, NO_ERROR). The
    /// connection stays up until every stream open at that moment has ended
    /// in both directions (or was reset), or [`GOAWAY_GRACE`] has passed,
    /// then both sockets are closed. Frames of streams the client opens after
    /// the GOAWAY are still forwarded; the client ignores their answers.
    #[serde(rename = "goaway")]
    GoAway { after_frames: u32 },
    /// Abruptly close both sockets of a connection once `after_bytes` bytes
    /// have been forwarded server->client: exactly `after_bytes` bytes reach
    /// the client (usually ending mid-frame), nothing else is delivered.
    ConnectionReset { after_bytes: u64 },
    /// Hold up to `window` DATA frames per direction and release them in a
    /// seeded-random order that keeps each stream's own order but reorders
    /// frames across streams of one connection. Any non-DATA frame first
    /// flushes the buffer (HEADERS carry HPACK state and must stay in order),
    /// so does a full buffer, and so does a timer once the oldest held frame
    /// has waited `max_delay_ms`. A `window` below 2 reorders nothing.
    FrameReorder { window: u32, max_delay_ms: u64 },
    /// Delay each forwarded frame by a seeded-random 0..=`max_delay_ms`,
    /// keeping order (a frame never overtakes the one before it).
    FrameDelay { max_delay_ms: u64 },
}

impl ProxyFault {
    /// The fault's name, as in the trace and in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RstStream { .. } => "rst-stream",
            Self::GoAway { .. } => "goaway",
            Self::ConnectionReset { .. } => "connection-reset",
            Self::FrameReorder { .. } => "frame-reorder",
            Self::FrameDelay { .. } => "frame-delay",
        }
    }
}

/// The `fault` name of the trace event recorded when a peer sends bytes the
/// proxy cannot follow (the connection is then closed).
pub const PROTOCOL_ERROR_EVENT: &str = "proxy-protocol-error";

/// How long a connection may live after the proxy sent it a GOAWAY.
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The proxy host: listens on `listen_port`, dials `upstream` for every
/// accepted connection and injects `faults` between the two.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The port clients connect to.
    pub listen_port: u16,
    /// Where to forward, e.g. `"server:50051"`.
    pub upstream: String,
    /// What to inject.
    pub faults: Vec<ProxyFault>,
    /// Seeds every random choice (mixed with the connection index).
    pub seed: u64,
    /// Where fault firings are recorded.
    pub trace: Trace,
    /// The host name the trace records events under (`"proxy"`).
    pub host: String,
    /// Simulated time after which the destructive faults (RST_STREAM, GOAWAY,
    /// connection reset) stop, so clients can recover; `None` keeps them on.
    /// Frame delay and reorder never stop: they cannot fail a call.
    pub heal_at: Option<Duration>,
}

impl Proxy {
    /// A proxy host named `"proxy"` listening on the gRPC port.
    pub fn new(upstream: impl Into<String>, faults: Vec<ProxyFault>, seed: u64, trace: Trace) -> Self {
        Self {
            listen_port: crate::net::GRPC_PORT,
            upstream: upstream.into(),
            faults,
            seed,
            trace,
            host: "proxy".to_owned(),
            heal_at: None,
        }
    }

    /// Accepts connections forever, one task per connection. Returns only
    /// when binding or accepting fails.
    pub async fn run(self) -> io::Result<()> {
        let listener = TcpListener::bind(("0.0.0.0", self.listen_port)).await?;
        let shared = Arc::new(Shared {
            plan: Plan::new(&self.faults),
            upstream: self.upstream,
            seed: self.seed,
            trace: self.trace,
            host: self.host,
            heal_at: self.heal_at,
        });
        let mut next_id = 0u64;
        loop {
            let (client, _) = listener.accept().await?;
            let id = next_id;
            next_id += 1;
            tokio::spawn(conn::serve(Arc::clone(&shared), id, client));
        }
    }
}

/// What every connection task of one proxy shares.
#[derive(Debug)]
struct Shared {
    plan: Plan,
    heal_at: Option<Duration>,
    upstream: String,
    seed: u64,
    trace: Trace,
    host: String,
}

impl Shared {
    /// The plan for faults that fail calls: empty once they have healed.
    fn destructive(&self) -> &Plan {
        let healed = self.heal_at.is_some_and(|at| turmoil::sim_elapsed().unwrap_or_default() >= at);
        if healed { &Plan::NONE } else { &self.plan }
    }

    /// Records a fault firing on the proxy's host.
    fn record(&self, fault: &str, detail: String) {
        self.trace.record(&self.host, EventKind::Fault { fault: fault.to_owned(), detail });
    }
}
