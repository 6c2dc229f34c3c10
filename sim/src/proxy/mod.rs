//! A gRPC-aware fault proxy: a turmoil host between client and server that
//! reads both directions of every connection as HTTP/2 frames and injects
//! faults at frame level (RST_STREAM after the N-th message, GOAWAY,
//! connection reset mid-stream, frame reordering across streams, frame delay).
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
//! across the DATA frames of each targeted stream: a message counts once its
//! last byte has been forwarded. When the N-th message ends inside a frame,
//! the frame is cut right after it.
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
//!   server's encoder). Blocks are passed through byte for byte until a
//!   dropped block changes the dynamic table; from then on that connection's
//!   server→client header blocks are re-encoded as plain literals that never
//!   touch the client's dynamic table. Client→server header blocks are never
//!   dropped (a gRPC client sends none on a stream after it was reset).
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use turmoil::net::tcp::OwnedWriteHalf;
use turmoil::net::{TcpListener, TcpStream};

use crate::trace::{EventKind, Trace};

mod hpack;

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

/// How long closing a connection may wait for queued bytes to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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
            tokio::spawn(serve_connection(Arc::clone(&shared), id, client));
        }
    }
}

/// The faults of a proxy, one slot per kind.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// (after_messages, every >= 1)
    rst_stream: Option<(u32, u32)>,
    go_away: Option<u32>,
    connection_reset: Option<u64>,
    /// (window, max delay); only when the window can reorder anything.
    frame_reorder: Option<(usize, Duration)>,
    frame_delay: Option<u64>,
}

impl Plan {
    fn new(faults: &[ProxyFault]) -> Self {
        let mut plan = Self::default();
        for fault in faults {
            match *fault {
                ProxyFault::RstStream { after_messages, every } => {
                    plan.rst_stream.get_or_insert((after_messages, every.max(1)));
                }
                ProxyFault::GoAway { after_frames } => {
                    plan.go_away.get_or_insert(after_frames.max(1));
                }
                ProxyFault::ConnectionReset { after_bytes } => {
                    plan.connection_reset.get_or_insert(after_bytes);
                }
                ProxyFault::FrameReorder { window, max_delay_ms } => {
                    let window = usize::try_from(window).unwrap_or(usize::MAX);
                    if window >= 2 {
                        plan.frame_reorder.get_or_insert((window, Duration::from_millis(max_delay_ms)));
                    }
                }
                ProxyFault::FrameDelay { max_delay_ms } => {
                    plan.frame_delay.get_or_insert(max_delay_ms);
                }
            }
        }
        plan
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

// HTTP/2 wire constants (RFC 9113).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const PUSH_PROMISE: u8 = 0x5;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
const NO_ERROR: u32 = 0x0;
const CANCEL: u32 = 0x8;
/// Every peer accepts frames this large (the smallest legal SETTINGS_MAX_FRAME_SIZE).
const SAFE_FRAME_SIZE: usize = 16_384;
/// The largest header block the proxy assembles.
const MAX_HEADER_BLOCK: usize = 1 << 20;
/// How much to read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// One whole frame: the 9-byte header and the payload.
#[derive(Debug, Clone)]
struct Frame(Bytes);

impl Frame {
    fn kind(&self) -> u8 {
        self.0[3]
    }

    fn has(&self, flag: u8) -> bool {
        self.0[4] & flag != 0
    }

    fn stream(&self) -> u32 {
        stream_id(&self.0)
    }

    fn payload(&self) -> &[u8] {
        &self.0[FRAME_HEADER_LEN..]
    }

    /// The payload of a DATA frame without its padding.
    fn data(&self) -> Result<&[u8], String> {
        let payload = self.payload();
        if !self.has(FLAG_PADDED) {
            return Ok(payload);
        }
        let pad = usize::from(*payload.first().ok_or("padded DATA frame without a pad length")?);
        let end = payload.len().checked_sub(pad).filter(|end| *end >= 1).ok_or("DATA padding too long")?;
        Ok(&payload[1..end])
    }

    /// The header block fragment of a HEADERS frame (padding and priority removed).
    fn header_fragment(&self) -> Result<&[u8], String> {
        let payload = self.payload();
        let mut start = 0;
        let mut end = payload.len();
        if self.has(FLAG_PADDED) {
            let pad = usize::from(*payload.first().ok_or("padded HEADERS frame without a pad length")?);
            start = 1;
            end = end.checked_sub(pad).ok_or("HEADERS padding too long")?;
        }
        if self.has(FLAG_PRIORITY) {
            start += 5;
        }
        if start > end {
            return Err("HEADERS frame too short".to_owned());
        }
        Ok(&payload[start..end])
    }
}

/// The stream id of a whole frame (`frame.len() >= 9`).
fn stream_id(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff
}

/// Builds a frame; `payload` must be shorter than 2^24 bytes.
fn build_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.put_uint(payload.len() as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & 0x7fff_ffff);
    out.put_slice(payload);
    out.freeze()
}

fn rst_stream_frame(stream: u32, code: u32) -> Bytes {
    build_frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

fn window_update_frame(stream: u32, increment: u32) -> Bytes {
    build_frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

fn go_away_frame(last_stream: u32, code: u32) -> Bytes {
    let mut payload = [0u8; 8];
    payload[..4].copy_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    payload[4..].copy_from_slice(&code.to_be_bytes());
    build_frame(GOAWAY, 0, 0, &payload)
}

/// A direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    fn label(self) -> &'static str {
        match self {
            Self::ClientToServer => "client->server",
            Self::ServerToClient => "server->client",
        }
    }
}

/// Bytes for a writer task, to be written at `at` (or at once).
#[derive(Debug)]
struct Out {
    at: Option<Instant>,
    bytes: Bytes,
}

/// Writes queued bytes in order, each no earlier than its release time;
/// closes the socket when the queue is closed and drained.
async fn write_loop(mut half: OwnedWriteHalf, mut queue: mpsc::UnboundedReceiver<Out>) {
    while let Some(Out { at, bytes }) = queue.recv().await {
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
        if half.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = half.shutdown().await;
}

/// One direction's input buffer and output pipeline.
#[derive(Debug)]
struct Lane {
    /// Bytes read and not yet cut into frames.
    input: BytesMut,
    /// The writer task's queue.
    out: mpsc::UnboundedSender<Out>,
    /// DATA frames held for reordering: (stream, frame), in arrival order.
    held: Vec<(u32, Bytes)>,
    /// When the oldest held frame arrived.
    held_since: Option<Instant>,
    /// Release time of the last delayed frame (delays keep order).
    last_release: Option<Instant>,
    /// Whether a `frame-delay` firing was recorded for this lane.
    delay_recorded: bool,
    /// Whether the output is inside a header block (HEADERS without
    /// END_HEADERS so far): nothing may be sent until its CONTINUATIONs.
    block_open: bool,
    /// Frames the proxy made up while a header block was open.
    deferred: VecDeque<Bytes>,
    /// Bytes queued to the writer so far.
    bytes_out: u64,
}

impl Lane {
    fn new(out: mpsc::UnboundedSender<Out>) -> Self {
        Self {
            input: BytesMut::with_capacity(READ_CHUNK),
            out,
            held: Vec::new(),
            held_since: None,
            last_release: None,
            delay_recorded: false,
            block_open: false,
            deferred: VecDeque::new(),
            bytes_out: 0,
        }
    }
}

/// Whether each side has finished a stream.
#[derive(Debug, Default)]
struct StreamEnds {
    client: bool,
    server: bool,
}

/// Follows gRPC's length-prefixed messages through a stream's DATA bytes.
#[derive(Debug, Default)]
struct MessageCounter {
    prefix: [u8; 5],
    prefix_len: usize,
    body_left: u64,
    complete: u32,
}

impl MessageCounter {
    /// Consumes the next DATA bytes of the stream; returns the offset just
    /// past the end of message number `target` (1-based) if it ends in `data`.
    fn feed(&mut self, data: &[u8], target: u32) -> Option<usize> {
        let mut pos = 0;
        while pos < data.len() {
            if self.prefix_len < self.prefix.len() {
                let take = (self.prefix.len() - self.prefix_len).min(data.len() - pos);
                self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&data[pos..pos + take]);
                self.prefix_len += take;
                pos += take;
                if self.prefix_len < self.prefix.len() {
                    break;
                }
                let [_, a, b, c, d] = self.prefix;
                self.body_left = u64::from(u32::from_be_bytes([a, b, c, d]));
            } else {
                let take = usize::try_from(self.body_left).unwrap_or(usize::MAX).min(data.len() - pos);
                pos += take;
                self.body_left -= take as u64;
            }
            if self.prefix_len == self.prefix.len() && self.body_left == 0 {
                self.prefix_len = 0;
                self.complete += 1;
                if self.complete >= target {
                    return Some(pos);
                }
            }
        }
        None
    }
}

/// A server->client header block being assembled.
#[derive(Debug)]
struct Block {
    stream: u32,
    end_stream: bool,
    /// The stream was reset: decode (for HPACK state) and drop.
    dropping: bool,
    /// The frames are forwarded unchanged as they arrive.
    passthrough: bool,
    fragment: Vec<u8>,
}

/// The proxy's copy of the server's HPACK encoder state.
#[derive(Debug, Default)]
struct HpackMirror {
    decoder: hpack::Decoder,
    /// A dropped block changed the table: re-encode every block from now on.
    translating: bool,
    block: Option<Block>,
}

/// The GOAWAY the proxy sent on a connection.
#[derive(Debug)]
struct GoAwaySent {
    /// Streams open when it was sent; the connection closes when they end.
    watch: BTreeSet<u32>,
    deadline: Instant,
}

/// Why a connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// A side closed, or a GOAWAY'd connection drained: deliver what was read, then close.
    Graceful,
    /// `connection-reset` fired: deliver the cut, drop everything else.
    Reset,
    /// A peer sent something the proxy cannot follow: close at once.
    Malformed,
}

/// The state of one proxied connection.
struct Conn {
    shared: Arc<Shared>,
    id: u64,
    rng: ChaCha8Rng,
    c2s: Lane,
    s2c: Lane,
    preface_seen: bool,
    highest_client_stream: u32,
    streams_opened: u32,
    /// Streams not yet finished both ways.
    open: BTreeMap<u32, StreamEnds>,
    /// Streams `rst-stream` targets, with their message count so far.
    counting: BTreeMap<u32, MessageCounter>,
    /// Streams the proxy reset.
    reset: BTreeSet<u32>,
    frames_from_server: u64,
    go_away: Option<GoAwaySent>,
    hpack: Option<HpackMirror>,
    closing: Option<Closing>,
}

async fn serve_connection(shared: Arc<Shared>, id: u64, client: TcpStream) {
    let to = shared.upstream.rsplit_once(':').map_or(shared.upstream.as_str(), |(host, _)| host).to_owned();
    let upstream = TcpStream::connect(shared.upstream.as_str()).await;
    shared.trace.record(&shared.host, EventKind::Connect { to, ok: upstream.is_ok() });
    let Ok(server) = upstream else {
        return;
    };
    let (mut client_read, client_write) = client.into_split();
    let (mut server_read, server_write) = server.into_split();
    let (to_client, client_queue) = mpsc::unbounded_channel();
    let (to_server, server_queue) = mpsc::unbounded_channel();
    let client_writer = tokio::spawn(write_loop(client_write, client_queue));
    let server_writer = tokio::spawn(write_loop(server_write, server_queue));

    let mut rng = ChaCha8Rng::seed_from_u64(shared.seed);
    rng.set_stream(id);
    let hpack = shared.plan.rst_stream.is_some().then(HpackMirror::default);
    let mut conn = Conn {
        shared,
        id,
        rng,
        c2s: Lane::new(to_server),
        s2c: Lane::new(to_client),
        preface_seen: false,
        highest_client_stream: 0,
        streams_opened: 0,
        open: BTreeMap::new(),
        counting: BTreeMap::new(),
        reset: BTreeSet::new(),
        frames_from_server: 0,
        go_away: None,
        hpack,
        closing: None,
    };

    let closing = loop {
        if let Some(closing) = conn.closing {
            break closing;
        }
        let deadline = conn.next_deadline();
        conn.c2s.input.reserve(READ_CHUNK);
        conn.s2c.input.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            () = sleep_until(deadline) => conn.on_timer(),
            read = server_read.read_buf(&mut conn.s2c.input) => conn.on_read(Dir::ServerToClient, read),
            read = client_read.read_buf(&mut conn.c2s.input) => conn.on_read(Dir::ClientToServer, read),
        }
    };

    match closing {
        Closing::Graceful => {
            conn.finish();
            drop(conn);
            wait_for(server_writer).await;
            wait_for(client_writer).await;
        }
        Closing::Reset => {
            server_writer.abort();
            drop(server_read);
            drop(conn);
            wait_for(client_writer).await;
        }
        Closing::Malformed => {
            server_writer.abort();
            client_writer.abort();
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Lets a writer drain its queue, within [`CLOSE_TIMEOUT`].
async fn wait_for(writer: JoinHandle<()>) {
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_TIMEOUT, writer).await.is_err() {
        abort.abort();
    }
}

impl Conn {
    fn lane(&mut self, dir: Dir) -> &mut Lane {
        match dir {
            Dir::ClientToServer => &mut self.c2s,
            Dir::ServerToClient => &mut self.s2c,
        }
    }

    /// The plan for faults that fail calls: empty once they have healed.
    fn destructive(&self) -> &Plan {
        static HEALED: Plan = Plan {
            rst_stream: None,
            go_away: None,
            connection_reset: None,
            frame_reorder: None,
            frame_delay: None,
        };
        let healed = self.shared.heal_at.is_some_and(|at| turmoil::sim_elapsed().unwrap_or_default() >= at);
        if healed { &HEALED } else { &self.shared.plan }
    }

    fn record(&self, fault: &str, detail: String) {
        self.shared.trace.record(&self.shared.host, EventKind::Fault { fault: fault.to_owned(), detail });
    }

    fn is_aborting(&self) -> bool {
        matches!(self.closing, Some(Closing::Reset | Closing::Malformed))
    }

    fn on_read(&mut self, dir: Dir, read: io::Result<usize>) {
        match read {
            Ok(0) | Err(_) => {
                self.closing.get_or_insert(Closing::Graceful);
            }
            Ok(_) => {
                if let Err(what) = self.process(dir)
                    && !self.is_aborting()
                {
                    self.record(PROTOCOL_ERROR_EVENT, format!("conn {}: {}: {what}", self.id, dir.label()));
                    self.closing = Some(Closing::Malformed);
                }
            }
        }
    }

    /// Cuts the bytes read so far into frames and handles each whole one.
    fn process(&mut self, dir: Dir) -> Result<(), String> {
        if dir == Dir::ClientToServer && !self.preface_seen {
            let input = &self.c2s.input;
            let n = input.len().min(PREFACE.len());
            if input[..n] != PREFACE[..n] {
                return Err("not an HTTP/2 client preface".to_owned());
            }
            if n < PREFACE.len() {
                return Ok(());
            }
            let preface = self.c2s.input.split_to(PREFACE.len()).freeze();
            self.preface_seen = true;
            let _ = self.c2s.out.send(Out { at: None, bytes: preface });
        }
        loop {
            if self.is_aborting() {
                return Ok(());
            }
            let input = &mut self.lane(dir).input;
            if input.len() < FRAME_HEADER_LEN {
                return Ok(());
            }
            let len = (usize::from(input[0]) << 16) | (usize::from(input[1]) << 8) | usize::from(input[2]);
            let total = FRAME_HEADER_LEN + len;
            if input.len() < total {
                input.reserve(total - input.len());
                return Ok(());
            }
            let frame = Frame(input.split_to(total).freeze());
            match dir {
                Dir::ClientToServer => self.on_client_frame(frame)?,
                Dir::ServerToClient => self.on_server_frame(frame)?,
            }
        }
    }

    fn on_client_frame(&mut self, frame: Frame) -> Result<(), String> {
        let stream = frame.stream();
        match frame.kind() {
            HEADERS => {
                if stream == 0 {
                    return Err("HEADERS on stream 0".to_owned());
                }
                let mut reset_now = false;
                if stream > self.highest_client_stream {
                    self.highest_client_stream = stream;
                    self.streams_opened += 1;
                    self.open.insert(stream, StreamEnds::default());
                    if let Some((after, every)) = self.destructive().rst_stream
                        && self.streams_opened.is_multiple_of(every)
                    {
                        if after == 0 {
                            reset_now = true;
                        } else {
                            self.counting.insert(stream, MessageCounter::default());
                        }
                    }
                }
                if frame.has(FLAG_END_STREAM) {
                    self.stream_end(stream, Dir::ClientToServer);
                }
                self.forward(Dir::ClientToServer, frame.0);
                if reset_now {
                    self.reset_stream(stream, 0);
                }
                return Ok(());
            }
            DATA => {
                if stream == 0 {
                    return Err("DATA on stream 0".to_owned());
                }
                if self.reset.contains(&stream) {
                    self.give_back(Dir::ServerToClient, frame.payload().len());
                    return Ok(());
                }
                if frame.has(FLAG_END_STREAM) {
                    self.stream_end(stream, Dir::ClientToServer);
                }
            }
            RST_STREAM => {
                if self.reset.contains(&stream) {
                    return Ok(());
                }
                self.stream_closed(stream);
            }
            WINDOW_UPDATE | PRIORITY if stream != 0 && self.reset.contains(&stream) => return Ok(()),
            _ => {}
        }
        self.forward(Dir::ClientToServer, frame.0);
        Ok(())
    }

    fn on_server_frame(&mut self, frame: Frame) -> Result<(), String> {
        self.frames_from_server += 1;
        let stream = frame.stream();
        let in_block = self.hpack.as_ref().is_some_and(|mirror| mirror.block.is_some());
        if in_block && frame.kind() != CONTINUATION {
            return Err(format!("header block interrupted by a frame of type {}", frame.kind()));
        }
        match frame.kind() {
            HEADERS => {
                if stream == 0 {
                    return Err("HEADERS on stream 0".to_owned());
                }
                self.on_server_headers(frame)?;
            }
            CONTINUATION => self.on_server_continuation(frame)?,
            PUSH_PROMISE if self.hpack.is_some() => {
                return Err("PUSH_PROMISE (gRPC clients disable push)".to_owned());
            }
            DATA => {
                if stream == 0 {
                    return Err("DATA on stream 0".to_owned());
                }
                self.on_server_data(frame)?;
            }
            RST_STREAM => {
                if !self.reset.contains(&stream) {
                    self.stream_closed(stream);
                    self.forward(Dir::ServerToClient, frame.0);
                }
            }
            WINDOW_UPDATE | PRIORITY if stream != 0 && self.reset.contains(&stream) => {}
            _ => self.forward(Dir::ServerToClient, frame.0),
        }
        self.maybe_go_away();
        Ok(())
    }

    fn on_server_headers(&mut self, frame: Frame) -> Result<(), String> {
        let stream = frame.stream();
        let dropping = self.reset.contains(&stream);
        let end_stream = frame.has(FLAG_END_STREAM);
        if end_stream && !dropping {
            self.stream_end(stream, Dir::ServerToClient);
        }
        let Some(mirror) = self.hpack.as_mut() else {
            self.forward(Dir::ServerToClient, frame.0);
            return Ok(());
        };
        let fragment = frame.header_fragment()?;
        if fragment.len() > MAX_HEADER_BLOCK {
            return Err("header block too large".to_owned());
        }
        let passthrough = !dropping && !mirror.translating;
        mirror.block = Some(Block { stream, end_stream, dropping, passthrough, fragment: fragment.to_vec() });
        let end_headers = frame.has(FLAG_END_HEADERS);
        if passthrough {
            self.forward(Dir::ServerToClient, frame.0);
        }
        if end_headers {
            self.finish_block()?;
        }
        Ok(())
    }

    fn on_server_continuation(&mut self, frame: Frame) -> Result<(), String> {
        let Some(mirror) = self.hpack.as_mut() else {
            self.forward(Dir::ServerToClient, frame.0);
            return Ok(());
        };
        let Some(block) = mirror.block.as_mut() else {
            return Err("CONTINUATION outside a header block".to_owned());
        };
        if block.stream != frame.stream() {
            return Err("CONTINUATION on another stream".to_owned());
        }
        if block.fragment.len() + frame.payload().len() > MAX_HEADER_BLOCK {
            return Err("header block too large".to_owned());
        }
        block.fragment.extend_from_slice(frame.payload());
        let passthrough = block.passthrough;
        let end_headers = frame.has(FLAG_END_HEADERS);
        if passthrough {
            self.forward(Dir::ServerToClient, frame.0);
        }
        if end_headers {
            self.finish_block()?;
        }
        Ok(())
    }

    /// Decodes a complete server->client header block into the HPACK mirror
    /// and, when translating, sends it re-encoded.
    fn finish_block(&mut self) -> Result<(), String> {
        let Some(mirror) = self.hpack.as_mut() else {
            return Ok(());
        };
        let Some(block) = mirror.block.take() else {
            return Ok(());
        };
        let decoded = mirror.decoder.decode(&block.fragment).map_err(|e| format!("HPACK: {e}"))?;
        if block.dropping {
            mirror.translating |= decoded.mutated;
            return Ok(());
        }
        if block.passthrough {
            return Ok(());
        }
        let encoded = hpack::encode_literals(&decoded.fields);
        let chunks: Vec<&[u8]> =
            if encoded.is_empty() { vec![&[]] } else { encoded.chunks(SAFE_FRAME_SIZE).collect() };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut flags = if i + 1 == count { FLAG_END_HEADERS } else { 0 };
            let kind = if i == 0 { HEADERS } else { CONTINUATION };
            if i == 0 && block.end_stream {
                flags |= FLAG_END_STREAM;
            }
            self.forward(Dir::ServerToClient, build_frame(kind, flags, block.stream, chunk));
        }
        Ok(())
    }

    fn on_server_data(&mut self, frame: Frame) -> Result<(), String> {
        let stream = frame.stream();
        let len = frame.payload().len();
        if self.reset.contains(&stream) {
            self.give_back(Dir::ClientToServer, len);
            return Ok(());
        }
        if let (Some((after, _)), Some(counter)) =
            (self.destructive().rst_stream, self.counting.get_mut(&stream))
        {
            let data = frame.data()?;
            if let Some(cut) = counter.feed(data, after) {
                // Cut right after the message (END_STREAM goes too: the reset follows).
                let kept = build_frame(DATA, 0, stream, &data[..cut]);
                self.give_back(Dir::ClientToServer, len - cut);
                self.forward(Dir::ServerToClient, kept);
                self.reset_stream(stream, after);
                return Ok(());
            }
        }
        if frame.has(FLAG_END_STREAM) {
            self.stream_end(stream, Dir::ServerToClient);
        }
        self.forward(Dir::ServerToClient, frame.0);
        Ok(())
    }

    /// Returns `len` bytes of dropped DATA to the connection window of the
    /// side that sent them (`to` is the direction towards that side).
    fn give_back(&mut self, to: Dir, len: usize) {
        if let Ok(increment @ 1..) = u32::try_from(len) {
            self.inject(to, window_update_frame(0, increment));
        }
    }

    /// Resets `stream` both ways and records the firing.
    fn reset_stream(&mut self, stream: u32, messages: u32) {
        self.reset.insert(stream);
        self.counting.remove(&stream);
        self.inject(Dir::ServerToClient, rst_stream_frame(stream, CANCEL));
        self.inject(Dir::ClientToServer, rst_stream_frame(stream, CANCEL));
        self.record("rst-stream", format!("conn {}: stream {stream} after {messages} messages", self.id));
        self.stream_closed(stream);
    }

    /// Sends the client a GOAWAY once enough server frames went by.
    fn maybe_go_away(&mut self) {
        let Some(after) = self.destructive().go_away else {
            return;
        };
        if self.go_away.is_some() || self.frames_from_server < u64::from(after) {
            return;
        }
        let last = self.highest_client_stream;
        self.inject(Dir::ServerToClient, go_away_frame(last, NO_ERROR));
        let watch = self.open.range(..=last).map(|(stream, _)| *stream).collect();
        self.go_away = Some(GoAwaySent { watch, deadline: Instant::now() + GOAWAY_GRACE });
        self.record(
            "goaway",
            format!(
                "conn {}: after {} frames server->client, last stream {last}",
                self.id, self.frames_from_server
            ),
        );
        self.check_drained();
    }

    /// Marks one side of a stream finished.
    fn stream_end(&mut self, stream: u32, dir: Dir) {
        if let Some(ends) = self.open.get_mut(&stream) {
            match dir {
                Dir::ClientToServer => ends.client = true,
                Dir::ServerToClient => ends.server = true,
            }
            if ends.client && ends.server {
                self.stream_closed(stream);
            }
        }
    }

    fn stream_closed(&mut self, stream: u32) {
        self.open.remove(&stream);
        self.counting.remove(&stream);
        self.check_drained();
    }

    /// Closes a GOAWAY'd connection once its watched streams have ended.
    fn check_drained(&mut self) {
        if let Some(sent) = &self.go_away
            && sent.watch.iter().all(|stream| !self.open.contains_key(stream))
        {
            self.closing.get_or_insert(Closing::Graceful);
        }
    }

    /// Sends a frame the proxy made up, after any header block in progress.
    fn inject(&mut self, dir: Dir, bytes: Bytes) {
        let lane = self.lane(dir);
        if lane.block_open {
            lane.deferred.push_back(bytes);
        } else {
            self.forward(dir, bytes);
        }
    }

    /// The reorder stage: holds DATA frames, lets anything else through after
    /// flushing what is held.
    fn forward(&mut self, dir: Dir, bytes: Bytes) {
        if let Some((window, _)) = self.shared.plan.frame_reorder {
            if bytes[3] == DATA {
                let stream = stream_id(&bytes);
                let lane = self.lane(dir);
                lane.held.push((stream, bytes));
                lane.held_since.get_or_insert_with(Instant::now);
                if lane.held.len() >= window {
                    self.flush(dir);
                }
                return;
            }
            self.flush(dir);
        }
        self.output(dir, bytes);
    }

    /// Releases every held DATA frame of a lane in a random order that keeps
    /// each stream's own order.
    fn flush(&mut self, dir: Dir) {
        let lane = self.lane(dir);
        lane.held_since = None;
        let held = std::mem::take(&mut lane.held);
        if held.len() < 2 {
            for (_, bytes) in held {
                self.output(dir, bytes);
            }
            return;
        }
        let arrival: Vec<u32> = held.iter().map(|(stream, _)| *stream).collect();
        let mut queues: BTreeMap<u32, VecDeque<Bytes>> = BTreeMap::new();
        for (stream, bytes) in held {
            queues.entry(stream).or_default().push_back(bytes);
        }
        let mut sent = Vec::with_capacity(arrival.len());
        let mut frames = Vec::with_capacity(arrival.len());
        for left in (1..=arrival.len()).rev() {
            let mut pick = self.rng.random_range(0..left);
            for (stream, queue) in &mut queues {
                if pick < queue.len() {
                    if let Some(bytes) = queue.pop_front() {
                        sent.push(*stream);
                        frames.push(bytes);
                    }
                    break;
                }
                pick -= queue.len();
            }
        }
        if sent != arrival {
            self.record(
                "frame-reorder",
                format!(
                    "conn {}: {} DATA frames {}: streams {arrival:?} sent as {sent:?}",
                    self.id,
                    dir.label(),
                    sent.len()
                ),
            );
        }
        for bytes in frames {
            self.output(dir, bytes);
        }
    }

    /// The last stage: byte counting for `connection-reset`, header-block
    /// tracking, delay, and the writer queue.
    fn output(&mut self, dir: Dir, bytes: Bytes) {
        if self.is_aborting() {
            return;
        }
        let len = bytes.len() as u64;
        if dir == Dir::ServerToClient
            && let Some(limit) = self.destructive().connection_reset
            && self.s2c.bytes_out + len >= limit
        {
            let cut = usize::try_from(limit - self.s2c.bytes_out).unwrap_or(bytes.len()).min(bytes.len());
            if cut > 0 {
                self.send(dir, bytes.slice(..cut));
            }
            self.s2c.bytes_out = limit;
            self.record("connection-reset", format!("conn {}: after {limit} bytes server->client", self.id));
            self.closing = Some(Closing::Reset);
            return;
        }
        let lane = self.lane(dir);
        lane.bytes_out += len;
        if matches!(bytes[3], HEADERS | PUSH_PROMISE | CONTINUATION) {
            lane.block_open = bytes[4] & FLAG_END_HEADERS == 0;
        }
        self.send(dir, bytes);
        while !self.lane(dir).block_open {
            let Some(bytes) = self.lane(dir).deferred.pop_front() else {
                break;
            };
            self.forward(dir, bytes);
        }
    }

    /// Queues bytes for the writer, delayed when `frame-delay` is on.
    fn send(&mut self, dir: Dir, bytes: Bytes) {
        let mut at = None;
        if let Some(max) = self.shared.plan.frame_delay {
            let delay = self.rng.random_range(0..=max);
            let now = Instant::now();
            let lane = self.lane(dir);
            let release = (now + Duration::from_millis(delay)).max(lane.last_release.unwrap_or(now));
            lane.last_release = Some(release);
            at = Some(release);
            if delay > 0 && !lane.delay_recorded {
                lane.delay_recorded = true;
                let detail = format!(
                    "conn {}: {} frames delayed up to {max} ms (first by {delay} ms)",
                    self.id,
                    dir.label()
                );
                self.record("frame-delay", detail);
            }
        }
        let _ = self.lane(dir).out.send(Out { at, bytes });
    }

    /// When the reorder timer or the GOAWAY grace next expires.
    fn next_deadline(&self) -> Option<Instant> {
        let reorder = self.shared.plan.frame_reorder.map(|(_, max)| max);
        let held = [self.c2s.held_since, self.s2c.held_since]
            .into_iter()
            .flatten()
            .filter_map(|since| reorder.map(|max| since + max));
        held.chain(self.go_away.as_ref().map(|sent| sent.deadline)).min()
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some((_, max)) = self.shared.plan.frame_reorder {
            for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                if self.lane(dir).held_since.is_some_and(|since| since + max <= now) {
                    self.flush(dir);
                }
            }
        }
        if self.go_away.as_ref().is_some_and(|sent| sent.deadline <= now) {
            self.closing.get_or_insert(Closing::Graceful);
        }
    }

    /// Before a graceful close: release held frames and deferred ones.
    fn finish(&mut self) {
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            self.flush(dir);
            let lane = self.lane(dir);
            lane.block_open = false;
            while let Some(bytes) = self.lane(dir).deferred.pop_front() {
                self.forward(dir, bytes);
            }
            self.flush(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_message(body_len: usize) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.extend(std::iter::repeat_n(7u8, body_len));
        out
    }

    #[test]
    fn message_counter_finds_the_end_of_the_nth_message_across_frames() {
        let stream: Vec<u8> = [3, 0, 10, 1].iter().flat_map(|len| grpc_message(*len)).collect();
        // Whole stream in one frame: the third message ends after 8 + 5 + 15 bytes.
        assert_eq!(MessageCounter::default().feed(&stream, 3), Some(8 + 5 + 15));
        // Byte by byte: same place.
        let mut counter = MessageCounter::default();
        let at = stream.iter().enumerate().find_map(|(i, byte)| counter.feed(&[*byte], 3).map(|_| i + 1));
        assert_eq!(at, Some(28));
        // Not enough messages.
        assert_eq!(MessageCounter::default().feed(&stream, 5), None);
    }

    #[test]
    fn frames_are_built_and_read_back() {
        let frame = Frame(build_frame(DATA, FLAG_PADDED, 5, &[2, b'a', b'b', 0, 0]));
        assert_eq!(frame.kind(), DATA);
        assert_eq!(frame.stream(), 5);
        assert_eq!(frame.data().unwrap(), b"ab");
        let bad = Frame(build_frame(DATA, FLAG_PADDED, 5, &[9, b'a']));
        assert!(bad.data().is_err());
        let headers = Frame(build_frame(HEADERS, FLAG_PRIORITY, 1, &[0, 0, 0, 0, 16, 0x82]));
        assert_eq!(headers.header_fragment().unwrap(), &[0x82]);
        assert!(Frame(build_frame(HEADERS, FLAG_PRIORITY, 1, &[0])).header_fragment().is_err());
    }

    #[test]
    fn faults_have_stable_names_and_serde_tags() {
        let faults = vec![
            ProxyFault::RstStream { after_messages: 3, every: 1 },
            ProxyFault::GoAway { after_frames: 4 },
            ProxyFault::ConnectionReset { after_bytes: 100 },
            ProxyFault::FrameReorder { window: 4, max_delay_ms: 5 },
            ProxyFault::FrameDelay { max_delay_ms: 20 },
        ];
        for fault in &faults {
            let json = serde_json::to_value(fault).unwrap();
            assert_eq!(json["kind"], fault.name());
            assert_eq!(&serde_json::from_value::<ProxyFault>(json).unwrap(), fault);
        }
        let plan = Plan::new(&faults);
        assert_eq!(plan.rst_stream, Some((3, 1)));
        assert_eq!(plan.frame_reorder, Some((4, Duration::from_millis(5))));
        assert_eq!(
            Plan::new(&[ProxyFault::RstStream { after_messages: 1, every: 0 }]).rst_stream,
            Some((1, 1))
        );
        assert_eq!(Plan::new(&[ProxyFault::FrameReorder { window: 1, max_delay_ms: 5 }]).frame_reorder, None);
    }
}
