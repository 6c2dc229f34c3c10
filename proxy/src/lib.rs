//! A gRPC-aware fault proxy between client and server that reads both directions of every
//! connection as HTTP/2 frames and injects faults at frame level (RST_STREAM after the N-th
//! message, GOAWAY, connection reset mid-stream, frame reordering across streams, frame
//! delay). The same code runs as a turmoil host in the simulator ([`Proxy`]) and on real TCP
//! (`faultline proxy`, through [`Relay`]): it is generic over the sockets, and its time is
//! tokio's, which turmoil simulates.
//!
//! # Layout
//!
//! * this module: [`Relay`] (what the connections of one proxy share, and serving one),
//!   [`Proxy`] (the simulator's host: the accept loop on turmoil);
//! * `plan`: the faults of a proxy, one slot per kind, each with its window;
//! * `conn`: one connection's state machine (streams, resets, GOAWAY, closing);
//! * `lane`: one direction's output (reorder buffer, delay, writer task, backlog);
//! * `headers`: following the server's header blocks (with `faultline_wire::hpack`); public because
//!   they read a peer's bytes, which `faultline-fuzz` feeds them;
//! * `transport`: what differs between turmoil and real TCP (resets, the clock);
//! * `report`: what connections report, and the simulator's trace of it.
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
//! blocks reading the other one; but a lane holds at most about 1 MiB for its
//! writer, beyond which the proxy stops reading that lane's sender until the
//! writer catches up (a peer that does not read costs bounded memory, and
//! HTTP/2 flow control then does the rest). Frames of unknown types are
//! forwarded untouched.
//!
//! # Determinism
//!
//! All randomness comes from the world's random stream of the proxy host, one
//! stream per connection (its index, 0, 1, ... in accept order); a real proxy
//! seeds the same way from its `--seed`.
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
//! closes both sockets at once and reports a protocol error. `connection-reset` delivers
//! the cut, then closes the client's socket with a TCP RST on real TCP; turmoil has no way
//! to send one on purpose: there a closed socket reaches the peer as EOF, or as a reset when
//! the proxy left bytes unread.
//!
//! # Schedule and trace
//!
//! Each fault acts only inside its window of the run's schedule (a real proxy's
//! windows count from its start, or from when a fault was added at run time, and
//! its plan may change while connections are open: each connection takes the new
//! plan before its next read). Every time one
//! touches traffic it is reported as [`Acted`]; the simulator records it as an `Acted` fault event on the proxy's host,
//! scoped to the stream's call when the proxy knows it (it reads the
//! `faultline-call` metadata of each request while `rst-stream` is configured)
//! and to the client's connection otherwise, with how much it touched: streams
//! reset, connections sent GOAWAY or cut, DATA frames that overtook an earlier
//! one, frames delayed. The proxy also records a `Connect` event for each
//! upstream connection it opens.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncRead;
use tokio::sync::watch;
use tokio::time::Instant;

use faultline_model::fault::TimedFault;
use faultline_model::net::{self, LinkMeter, Traffic};
use faultline_model::trace::{EventKind, Trace};
use faultline_model::world::World;

mod conn;
pub mod headers;
mod lane;
mod plan;
mod report;
#[cfg(test)]
mod tests;
mod transport;

pub use plan::Plan;
pub use report::{Acted, Observer, TraceObserver};
pub use transport::{Clock, WriteHalf};

/// How long a connection may live after the proxy sent it a GOAWAY.
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The proxy host's name (in a cluster, each node's proxy is `proxy-<node>`).
pub const HOST: &str = "proxy";

/// The proxy host: listens on the gRPC port, dials `upstream` for every accepted connection
/// and injects its faults, each in its window of the schedule, between the two.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The proxy's host name ([`HOST`], or `proxy-<node>` in a cluster).
    pub host: String,
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
        // The plan never changes in a simulation: the sender goes at once.
        let (relay, _) = Relay::new(Plan::new(&self.faults), Mode::Simulated);
        let to = self.upstream.rsplit_once(':').map_or(self.upstream.as_str(), |(host, _)| host).to_owned();
        let mut next_id = 0u64;
        loop {
            let (client, peer) = listener.accept().await?;
            let id = next_id;
            next_id += 1;
            let client_host = net::host_of(peer);
            let (relay, upstream, to) = (relay.clone(), self.upstream.clone(), to.clone());
            let (world, trace, traffic) = (self.world.clone(), self.trace.clone(), self.traffic.clone());
            let host = self.host.clone();
            tokio::spawn(async move {
                let since_us = faultline_model::trace::sim_now_us();
                let server = turmoil::net::TcpStream::connect(upstream.as_str()).await;
                trace.record(&host, EventKind::Connect { to, ok: server.is_ok(), since_us });
                let (Ok(server), Ok(local)) = (server, client.local_addr()) else {
                    return;
                };
                let (me, them) = ((host.as_str(), local), (client_host.as_str(), peer));
                let (client_meter, read_meter) =
                    (traffic.stream_meter(me, them), traffic.read_meter(them, me));
                let (client_read, client_write) = client.into_split();
                let client_read = tokio_util::io::InspectReader::new(client_read, move |bytes: &[u8]| {
                    read_meter.read(bytes.len())
                });
                let connection = Connection {
                    id,
                    client: (client_read, client_write),
                    upstream: server.into_split(),
                    rng: world.rng(&host, id),
                    client_meter: Some(client_meter),
                    observer: Box::new(TraceObserver { trace, host: host.clone(), client: client_host }),
                };
                relay.serve(connection).await;
            });
        }
    }
}

/// How a relay runs.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// As the simulator's host: windows on simulated time; requests' header blocks read only
    /// while `rst-stream` is planned when a connection opens; each frame written on its own
    /// (a run's trace depends on all three).
    Simulated,
    /// Between real peers: windows count from this instant; every request's header block is
    /// read (faults report their stream's method, and `rst-stream` may be added at run
    /// time); whatever is ready for a peer goes out in one write.
    Live(Instant),
}

/// What the connections of one proxy share: its faults (a plan that may change while it
/// runs) and how it runs.
#[derive(Debug)]
pub struct Relay {
    plans: watch::Receiver<Arc<Plan>>,
    clock: Clock,
    live: bool,
}

/// One connection to proxy: both sockets' halves and what is particular to it.
pub struct Connection<CR, CW, SR, SW> {
    /// Its number, from 0 in accept order.
    pub id: u64,
    /// The client's socket, read and write halves.
    pub client: (CR, CW),
    /// The upstream server's socket.
    pub upstream: (SR, SW),
    /// Its randomness (reordering, delays).
    pub rng: ChaCha8Rng,
    /// Where its faults are reported.
    pub observer: Box<dyn Observer>,
    /// Counts the bytes written to the client, if anything needs them.
    pub client_meter: Option<LinkMeter>,
}

impl Relay {
    /// A relay with `plan`, and the sender that replaces it while connections run.
    pub fn new(plan: Plan, mode: Mode) -> (Arc<Self>, watch::Sender<Arc<Plan>>) {
        let (plans, receiver) = watch::channel(Arc::new(plan));
        let (clock, live) = match mode {
            Mode::Simulated => (Clock::Simulated, false),
            Mode::Live(start) => (Clock::Since(start), true),
        };
        (Arc::new(Self { plans: receiver, clock, live }), plans)
    }

    /// The clock fault windows count on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Proxies one connection until both sides are closed.
    pub async fn serve<CR, CW, SR, SW>(self: Arc<Self>, connection: Connection<CR, CW, SR, SW>)
    where
        CR: AsyncRead + Send + Unpin + 'static,
        CW: WriteHalf,
        SR: AsyncRead + Send + Unpin + 'static,
        SW: WriteHalf,
    {
        conn::serve(self, connection).await;
    }
}
