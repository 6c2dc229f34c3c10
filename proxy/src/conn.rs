//! One proxied connection: reads both sockets, follows the client's streams, injects the
//! faults of the plan and passes what is left to each direction's [`Lane`].

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use faultline_wire::frame::{Frame, FrameReader, Unit, flag, kind};
use faultline_wire::grpc::{Mark, Scanner};
use h2::Reason;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::headers::{HeaderMirror, RequestHeaders};
use super::lane::{Backlog, DEFAULT_MAX_FRAME, Dir, Lane, READ_CHUNK, overtook, write_loop};
use super::plan::{Plan, Slot};
use super::report::{Acted, Observer};
use super::transport::WriteHalf;
use super::{Connection, GOAWAY_GRACE, Relay};

/// How long closing a connection may wait for queued bytes to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether each side has finished a stream.
#[derive(Debug, Default)]
struct StreamEnds {
    client: bool,
    server: bool,
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
    relay: Arc<Relay>,
    id: u64,
    /// The faults as of the last look at the relay's plan.
    plan: Arc<Plan>,
    plans: watch::Receiver<Arc<Plan>>,
    observer: Box<dyn Observer>,
    /// One stream of randomness for both lanes: the order of draws is part of the seed's outcome.
    rng: ChaCha8Rng,
    c2s: Lane,
    s2c: Lane,
    highest_client_stream: u32,
    streams_opened: u32,
    /// Streams not yet finished both ways.
    open: BTreeMap<u32, StreamEnds>,
    /// Streams `rst-stream` targets, with their server->client messages so far.
    counting: BTreeMap<u32, Scanner>,
    /// Streams the proxy reset (the newest, up to a bound).
    reset: ResetStreams,
    frames_from_server: u64,
    go_away: Option<GoAwaySent>,
    /// Only with `rst-stream`, the one fault that drops header blocks.
    headers: Option<HeaderMirror>,
    /// Only with `rst-stream` (or a live relay): the client's request
    /// blocks, and the call and method of each open stream.
    requests: Option<RequestHeaders>,
    calls: BTreeMap<u32, u64>,
    methods: BTreeMap<u32, String>,
    closing: Option<Closing>,
}

/// How many reset streams a connection remembers: their late frames are dropped. Stream ids only
/// grow, and a frame still in flight for a stream this many resets old is not a case a real
/// peer produces; past it the oldest is forgotten, so a long-lived connection (`faultline proxy`
/// runs for days) holds a bounded set.
pub(super) const RESET_REMEMBERED: usize = 4096;

/// The streams the proxy reset, the newest [`RESET_REMEMBERED`] of them.
#[derive(Debug, Default)]
pub(super) struct ResetStreams(BTreeSet<u32>);

impl ResetStreams {
    /// Remembers `stream`, forgetting the oldest past the bound.
    pub(super) fn insert(&mut self, stream: u32) {
        self.0.insert(stream);
        while self.0.len() > RESET_REMEMBERED {
            self.0.pop_first();
        }
    }

    /// Whether the proxy reset `stream` (and still remembers it).
    pub(super) fn contains(&self, stream: &u32) -> bool {
        self.0.contains(stream)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Proxies one connection until both sides are closed.
pub(super) async fn serve<CR, CW, SR, SW>(relay: Arc<Relay>, connection: Connection<CR, CW, SR, SW>)
where
    CR: AsyncRead + Send + Unpin + 'static,
    CW: WriteHalf,
    SR: AsyncRead + Send + Unpin + 'static,
    SW: WriteHalf,
{
    let Connection { id, client: (mut client_read, client_write), upstream, rng, observer, client_meter } =
        connection;
    let (mut server_read, server_write) = upstream;
    let (to_client, client_queue) = mpsc::unbounded_channel();
    let (to_server, server_queue) = mpsc::unbounded_channel();
    let written = Arc::new(Notify::new());
    let (client_backlog, server_backlog) = (Backlog::new(written.clone()), Backlog::new(written.clone()));
    let client_writer = tokio::spawn(write_loop(
        client_write,
        client_queue,
        client_backlog.clone(),
        client_meter,
        relay.live,
    ));
    let server_writer =
        tokio::spawn(write_loop(server_write, server_queue, server_backlog.clone(), None, relay.live));

    let mut plans = relay.plans.clone();
    let plan = plans.borrow_and_update().clone();
    let mirror = plan.rst_stream.is_some() || relay.live;
    let mut conn = Conn {
        relay,
        id,
        plan,
        plans,
        observer,
        rng,
        c2s: Lane::new(FrameReader::client_side(), to_server, server_backlog),
        s2c: Lane::new(FrameReader::server_side(), to_client, client_backlog),
        highest_client_stream: 0,
        streams_opened: 0,
        open: BTreeMap::new(),
        counting: BTreeMap::new(),
        reset: ResetStreams::default(),
        frames_from_server: 0,
        go_away: None,
        headers: mirror.then(HeaderMirror::default),
        requests: mirror.then(RequestHeaders::default),
        calls: BTreeMap::new(),
        methods: BTreeMap::new(),
        closing: None,
    };
    // The server's bytes have no preface: frames from the first byte.
    conn.s2c.framed = true;

    let closing = loop {
        if let Some(closing) = conn.closing {
            break closing;
        }
        conn.refresh_plan();
        let deadline = conn.next_deadline();
        // A lane whose writer is behind stops the reading of its sender (bounded buffering).
        let (server_paused, client_paused) = (conn.s2c.is_full(), conn.c2s.is_full());
        conn.c2s.input.buffer().reserve(READ_CHUNK);
        conn.s2c.input.buffer().reserve(READ_CHUNK);
        tokio::select! {
            biased;
            () = sleep_until(deadline) => conn.on_timer(),
            read = server_read.read_buf(conn.s2c.input.buffer()), if !server_paused => {
                conn.on_read(Dir::ServerToClient, read);
            }
            read = client_read.read_buf(conn.c2s.input.buffer()), if !client_paused => {
                conn.on_read(Dir::ClientToServer, read);
            }
            () = written.notified(), if server_paused || client_paused => {}
        }
    };

    match closing {
        Closing::Graceful => {
            conn.finish();
            drop(conn);
            wait_for(server_writer).await;
            wait_for(client_writer).await;
            // A lingering close: both write halves are shut (FIN sent); what the peers still
            // send (a PING's answer, a WINDOW_UPDATE) is read and dropped until they close too.
            // Closing with those bytes unread would reset the connection, and a reset can beat
            // the last response bytes to the client.
            let drain = async {
                let mut sink = vec![0u8; READ_CHUNK];
                while matches!(client_read.read(&mut sink).await, Ok(1..)) {}
                while matches!(server_read.read(&mut sink).await, Ok(1..)) {}
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
        }
        Closing::Reset => {
            server_writer.abort();
            drop(server_read);
            // The cut goes out, then the client's socket is reset (closed, on turmoil).
            conn.s2c.reset();
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

/// Where message number `nth` of a stream (from 1, counted from the stream's first DATA
/// byte) ends in `data`, the stream's next DATA bytes, if it ends there.
fn end_of_message(scanner: &mut Scanner, data: &[u8], nth: u32) -> Option<usize> {
    let before = scanner.messages();
    let mut ends = 0;
    let mut cut = None;
    scanner.scan(data, |mark| {
        if let Mark::End { at } = mark {
            ends += 1;
            if before + ends >= u64::from(nth) {
                cut = Some(at);
                return false;
            }
        }
        true
    });
    cut
}

impl Conn {
    fn lane(&mut self, dir: Dir) -> &mut Lane {
        match dir {
            Dir::ClientToServer => &mut self.c2s,
            Dir::ServerToClient => &mut self.s2c,
        }
    }

    /// A lane and the connection's randomness, borrowed together.
    fn lane_and_rng(&mut self, dir: Dir) -> (&mut Lane, &mut ChaCha8Rng) {
        match dir {
            Dir::ClientToServer => (&mut self.c2s, &mut self.rng),
            Dir::ServerToClient => (&mut self.s2c, &mut self.rng),
        }
    }

    /// Takes the relay's plan if it changed since the last look. Frames held for a
    /// reordering that is no longer planned go out at once.
    fn refresh_plan(&mut self) {
        if !self.plans.has_changed().unwrap_or(false) {
            return;
        }
        self.plan = self.plans.borrow_and_update().clone();
        if self.plan.frame_reorder.is_none() {
            self.flush(Dir::ClientToServer);
            self.flush(Dir::ServerToClient);
        }
    }

    /// Now, on the relay's clock.
    fn now_us(&self) -> u64 {
        self.relay.clock.now_us()
    }

    /// Reports that the fault of `slot` acted, on one stream or on the whole connection.
    fn acted<T>(&self, slot: &Slot<T>, stream: Option<u32>, touched: u64, what: String) {
        self.observer.acted(Acted {
            fault: slot.name,
            index: slot.index,
            conn: self.id,
            stream,
            call: stream.and_then(|s| self.calls.get(&s).copied()),
            method: stream.and_then(|s| self.methods.get(&s).cloned()),
            touched,
            what,
        });
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
                    self.observer.protocol_error(self.id, format!("{}: {what}", dir.label()));
                    self.closing = Some(Closing::Malformed);
                }
            }
        }
    }

    /// Cuts the bytes read so far into frames and handles each whole one.
    fn process(&mut self, dir: Dir) -> Result<(), String> {
        while !self.is_aborting() {
            if let Some(error) = self.lane(dir).oversized() {
                return Err(error);
            }
            let Some(unit) = self.lane(dir).input.next_unit()? else {
                return Ok(());
            };
            match unit {
                // The preface passes no fault stage: no fault is about it.
                Unit::Preface(bytes) => {
                    self.lane(dir).framed = true;
                    self.lane(dir).queue(None, bytes);
                }
                Unit::Frame(frame) => {
                    self.note_settings(dir, &frame);
                    match dir {
                        Dir::ClientToServer => self.on_client_frame(frame)?,
                        Dir::ServerToClient => self.on_server_frame(frame)?,
                    }
                }
            }
        }
        Ok(())
    }

    /// A peer's SETTINGS_MAX_FRAME_SIZE bounds the frames the other lane may carry to it.
    fn note_settings(&mut self, from: Dir, frame: &Frame) {
        if frame.kind() != kind::SETTINGS || frame.has(flag::ACK) {
            return;
        }
        for setting in frame.payload().chunks_exact(6) {
            if setting[..2] == [0, 5] {
                let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
                let max = usize::try_from(value).unwrap_or(usize::MAX).max(DEFAULT_MAX_FRAME);
                // What the client accepts bounds the server's lane, and the other way round.
                match from {
                    Dir::ClientToServer => self.s2c.max_frame = max,
                    Dir::ServerToClient => self.c2s.max_frame = max,
                }
            }
        }
    }

    fn on_client_frame(&mut self, frame: Frame) -> Result<(), String> {
        let stream = frame.stream();
        if let Some(requests) = self.requests.as_mut()
            && let Some(request) = requests.read_request(&frame)?
        {
            if let Some(call) = request.call {
                self.calls.insert(request.stream, call);
            }
            if let Some(method) = request.method.filter(|_| self.relay.live) {
                self.methods.insert(request.stream, method);
            }
        }
        match frame.kind() {
            kind::HEADERS => {
                if stream == 0 {
                    return Err("HEADERS on stream 0".to_owned());
                }
                let mut reset_now = false;
                if stream > self.highest_client_stream {
                    self.highest_client_stream = stream;
                    self.streams_opened += 1;
                    self.open.insert(stream, StreamEnds::default());
                    if let Some(Slot { value: (after, every), .. }) =
                        Slot::now(self.plan.rst_stream.as_ref(), self.now_us())
                        && self.streams_opened.is_multiple_of(every)
                    {
                        if after == 0 {
                            reset_now = true;
                        } else {
                            self.counting.insert(stream, Scanner::default());
                        }
                    }
                }
                if frame.has(flag::END_STREAM) {
                    self.stream_end(stream, Dir::ClientToServer);
                }
                self.forward(Dir::ClientToServer, frame);
                if reset_now {
                    self.reset_stream(stream, 0);
                }
                return Ok(());
            }
            kind::DATA => {
                if stream == 0 {
                    return Err("DATA on stream 0".to_owned());
                }
                if self.reset.contains(&stream) {
                    self.give_back(Dir::ServerToClient, frame.payload().len());
                    return Ok(());
                }
                if frame.has(flag::END_STREAM) {
                    self.stream_end(stream, Dir::ClientToServer);
                }
            }
            kind::RST_STREAM => {
                if self.reset.contains(&stream) {
                    return Ok(());
                }
                self.stream_closed(stream);
            }
            kind::WINDOW_UPDATE | kind::PRIORITY if stream != 0 && self.reset.contains(&stream) => {
                return Ok(());
            }
            _ => {}
        }
        self.forward(Dir::ClientToServer, frame);
        Ok(())
    }

    fn on_server_frame(&mut self, frame: Frame) -> Result<(), String> {
        self.frames_from_server += 1;
        let stream = frame.stream();
        if self.headers.as_ref().is_some_and(HeaderMirror::in_block) && frame.kind() != kind::CONTINUATION {
            return Err(format!("header block interrupted by a frame of type {}", frame.kind()));
        }
        match frame.kind() {
            kind::HEADERS => {
                if stream == 0 {
                    return Err("HEADERS on stream 0".to_owned());
                }
                self.on_server_headers(frame)?;
            }
            kind::CONTINUATION => self.on_server_continuation(frame)?,
            kind::PUSH_PROMISE if self.headers.is_some() => {
                return Err("PUSH_PROMISE (gRPC clients disable push)".to_owned());
            }
            kind::DATA => {
                if stream == 0 {
                    return Err("DATA on stream 0".to_owned());
                }
                self.on_server_data(frame)?;
            }
            kind::RST_STREAM => {
                if !self.reset.contains(&stream) {
                    self.stream_closed(stream);
                    self.forward(Dir::ServerToClient, frame);
                }
            }
            kind::WINDOW_UPDATE | kind::PRIORITY if stream != 0 && self.reset.contains(&stream) => {}
            _ => self.forward(Dir::ServerToClient, frame),
        }
        self.maybe_go_away();
        Ok(())
    }

    fn on_server_headers(&mut self, frame: Frame) -> Result<(), String> {
        let stream = frame.stream();
        let dropping = self.reset.contains(&stream);
        if frame.has(flag::END_STREAM) && !dropping {
            self.stream_end(stream, Dir::ServerToClient);
        }
        let Some(mirror) = self.headers.as_mut() else {
            self.forward(Dir::ServerToClient, frame);
            return Ok(());
        };
        let unchanged = mirror.headers(&frame, dropping)?;
        self.on_block_frame(frame, unchanged)
    }

    fn on_server_continuation(&mut self, frame: Frame) -> Result<(), String> {
        let Some(mirror) = self.headers.as_mut() else {
            self.forward(Dir::ServerToClient, frame);
            return Ok(());
        };
        let unchanged = mirror.continuation(&frame)?;
        self.on_block_frame(frame, unchanged)
    }

    /// Sends on a frame of a server header block if the mirror passes it unchanged and, at
    /// the block's end, whatever replaces the block.
    fn on_block_frame(&mut self, frame: Frame, unchanged: bool) -> Result<(), String> {
        let end_headers = frame.has(flag::END_HEADERS);
        if unchanged {
            self.forward(Dir::ServerToClient, frame);
        }
        if end_headers && let Some(mirror) = self.headers.as_mut() {
            for frame in mirror.finish()? {
                self.forward(Dir::ServerToClient, frame);
            }
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
        if let (Some(Slot { value: (after, _), .. }), Some(scanner)) = (
            Slot::now(self.plan.rst_stream.as_ref(), self.relay.clock.now_us()),
            self.counting.get_mut(&stream),
        ) {
            let data = frame.data()?;
            if let Some(cut) = end_of_message(scanner, data, after) {
                // Cut right after the message (END_STREAM goes too: the reset follows).
                let kept = Frame::new(kind::DATA, 0, stream, &data[..cut]);
                self.give_back(Dir::ClientToServer, len - cut);
                self.forward(Dir::ServerToClient, kept);
                self.reset_stream(stream, after);
                return Ok(());
            }
        }
        if frame.has(flag::END_STREAM) {
            self.stream_end(stream, Dir::ServerToClient);
        }
        self.forward(Dir::ServerToClient, frame);
        Ok(())
    }

    /// Returns `len` bytes of dropped DATA to the connection window of the
    /// side that sent them (`to` is the direction towards that side).
    fn give_back(&mut self, to: Dir, len: usize) {
        if let Ok(increment @ 1..) = u32::try_from(len) {
            self.inject(to, Frame::window_update(0, increment));
        }
    }

    /// Resets `stream` both ways and records the firing.
    fn reset_stream(&mut self, stream: u32, messages: u32) {
        self.reset.insert(stream);
        self.counting.remove(&stream);
        self.inject(Dir::ServerToClient, Frame::rst_stream(stream, Reason::CANCEL.into()));
        self.inject(Dir::ClientToServer, Frame::rst_stream(stream, Reason::CANCEL.into()));
        if let Some(slot) = self.plan.rst_stream {
            let what = format!("stream {stream} after {messages} messages");
            self.acted(&slot, Some(stream), 1, what);
        }
        self.stream_closed(stream);
    }

    /// Sends the client a GOAWAY once enough server frames went by.
    fn maybe_go_away(&mut self) {
        let Some(slot) = Slot::now(self.plan.go_away.as_ref(), self.now_us()) else {
            return;
        };
        let after = slot.value;
        if self.go_away.is_some() || self.frames_from_server < u64::from(after) {
            return;
        }
        let last = self.highest_client_stream;
        self.inject(Dir::ServerToClient, Frame::go_away(last, Reason::NO_ERROR.into()));
        let watch: BTreeSet<u32> = self.open.range(..=last).map(|(stream, _)| *stream).collect();
        let what = format!(
            "after {} frames server->client, last stream {last}, {} stream(s) open",
            self.frames_from_server,
            watch.len()
        );
        self.acted(&slot, None, 1, what);
        self.go_away = Some(GoAwaySent { watch, deadline: Instant::now() + GOAWAY_GRACE });
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
        self.calls.remove(&stream);
        self.methods.remove(&stream);
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
    fn inject(&mut self, dir: Dir, frame: Frame) {
        let lane = self.lane(dir);
        if lane.block_open {
            lane.deferred.push_back(frame);
        } else {
            self.forward(dir, frame);
        }
    }

    /// The reorder stage: holds DATA frames, lets anything else through after
    /// flushing what is held.
    fn forward(&mut self, dir: Dir, frame: Frame) {
        if let Some(Slot { value: (window, _), .. }) =
            Slot::now(self.plan.frame_reorder.as_ref(), self.now_us())
            && frame.kind() == kind::DATA
        {
            if self.lane(dir).hold(frame, window) {
                self.flush(dir);
            }
            return;
        }
        // Outside the window, and before any other frame: whatever is held goes first.
        self.flush(dir);
        self.output(dir, frame);
    }

    /// Sends on every DATA frame a lane holds, reordered.
    fn flush(&mut self, dir: Dir) {
        let (lane, rng) = self.lane_and_rng(dir);
        let released = lane.release(rng);
        if let Some((arrival, sent)) = released.reordered
            && let Some(slot) = self.plan.frame_reorder
        {
            let n = overtook(&arrival, &sent);
            let what = format!(
                "{} DATA frames {}: streams {arrival:?} sent as {sent:?}, {n} overtook",
                dir.label(),
                sent.len()
            );
            self.acted(&slot, None, n as u64, what);
        }
        for frame in released.frames {
            self.output(dir, frame);
        }
    }

    /// The last stage: byte counting for `connection-reset`, header-block
    /// tracking, delay, and the writer queue.
    fn output(&mut self, dir: Dir, frame: Frame) {
        if self.is_aborting() {
            return;
        }
        let len = frame.0.len() as u64;
        if dir == Dir::ServerToClient
            && let Some(slot) = Slot::now(self.plan.connection_reset.as_ref(), self.now_us())
            && self.s2c.bytes_out + len >= slot.value
        {
            // A connection already past the limit when the fault's window opens is cut at once.
            let limit = slot.value.max(self.s2c.bytes_out);
            let cut = usize::try_from(limit - self.s2c.bytes_out).unwrap_or(frame.0.len()).min(frame.0.len());
            if cut > 0 {
                self.send(dir, frame.0.slice(..cut));
            }
            self.s2c.bytes_out = limit;
            let what = format!("after {limit} bytes server->client");
            self.acted(&slot, None, 1, what);
            self.closing = Some(Closing::Reset);
            return;
        }
        self.lane(dir).note_sent(&frame);
        self.send(dir, frame.0);
        while !self.lane(dir).block_open {
            let Some(frame) = self.lane(dir).deferred.pop_front() else {
                break;
            };
            self.forward(dir, frame);
        }
    }

    /// Queues bytes for the writer, delayed when `frame-delay` is on.
    fn send(&mut self, dir: Dir, bytes: Bytes) {
        let mut at = None;
        if let Some(slot) = Slot::now(self.plan.frame_delay.as_ref(), self.now_us()) {
            let max = slot.value;
            let (lane, rng) = self.lane_and_rng(dir);
            let (release, first) = lane.delay(rng, max);
            at = Some(release);
            if let Some(delay) = first {
                let what = format!("{} frames delayed up to {max} ms (first by {delay} ms)", dir.label());
                self.acted(&slot, None, 1, what);
            }
        }
        self.lane(dir).queue(at, bytes);
    }

    /// When the reorder timer or the GOAWAY grace next expires.
    fn next_deadline(&self) -> Option<Instant> {
        let reorder = self.plan.frame_reorder.map(|slot| slot.value.1);
        let held = [&self.c2s, &self.s2c]
            .into_iter()
            .filter_map(|lane| reorder.and_then(|max| lane.hold_deadline(max)));
        held.chain(self.go_away.as_ref().map(|sent| sent.deadline)).min()
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(Slot { value: (_, max), .. }) = self.plan.frame_reorder {
            for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                if self.lane(dir).hold_deadline(max).is_some_and(|at| at <= now) {
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
            self.lane(dir).block_open = false;
            while let Some(frame) = self.lane(dir).deferred.pop_front() {
                self.forward(dir, frame);
            }
            self.flush(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_wire::grpc;

    #[test]
    fn the_nth_message_ends_in_the_same_place_however_frames_cut_the_stream() {
        let stream: Vec<u8> =
            [3, 0, 10, 1].iter().flat_map(|len| grpc::encode(&vec![7; *len]).to_vec()).collect();
        // Whole stream in one frame: the third message ends after 8 + 5 + 15 bytes.
        assert_eq!(end_of_message(&mut Scanner::default(), &stream, 3), Some(8 + 5 + 15));
        // Byte by byte: same place.
        let mut scanner = Scanner::default();
        let at = stream
            .iter()
            .enumerate()
            .find_map(|(i, byte)| end_of_message(&mut scanner, &[*byte], 3).map(|_| i + 1));
        assert_eq!(at, Some(28));
        // Not enough messages.
        assert_eq!(end_of_message(&mut Scanner::default(), &stream, 5), None);
    }
}
