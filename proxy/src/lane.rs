//! One direction of a proxied connection: its sender's bytes cut into frames, and the
//! output stages towards its receiver that come after the fault logic: the reorder buffer,
//! the delay and the writer task.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use faultline_wire::frame::{Frame, FrameReader, HEADER_LEN, announced_len, flag, kind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::transport::WriteHalf;
use faultline_model::net::LinkMeter;

/// SETTINGS_MAX_FRAME_SIZE until a peer says otherwise (RFC 9113, 6.5.2).
pub(super) const DEFAULT_MAX_FRAME: usize = 16_384;

/// How much to read at a time.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// How many bytes a lane may hold for its writer before the proxy stops reading the lane's
/// sender: a receiver that does not read costs at most this much (plus one frame).
pub(super) const MAX_BACKLOG: usize = 1 << 20;

/// A direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    /// The direction as the trace writes it.
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::ClientToServer => "client->server",
            Self::ServerToClient => "server->client",
        }
    }
}

/// What a writer task is given.
#[derive(Debug)]
pub(super) enum Out {
    /// Bytes to write at `at` (or at once).
    Bytes { at: Option<Instant>, bytes: Bytes },
    /// Close the socket with a reset where the transport can, after what came before.
    Reset,
}

/// What a lane and its writer task share: the bytes queued and not yet written, and a
/// wake-up for the connection task when some were.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    bytes: AtomicUsize,
    written: Arc<Notify>,
}

/// The most bytes one coalesced write carries.
const MAX_COALESCED: usize = 64 * 1024;

/// Writes queued bytes in order, each no earlier than its release time, counting them in
/// `meter`; closes the socket when the queue is closed and drained, or resets it on
/// [`Out::Reset`]. With `coalesce`, bytes due now that are queued together go out in one write.
pub(super) async fn write_loop<W: WriteHalf>(
    mut half: W,
    mut queue: mpsc::UnboundedReceiver<Out>,
    backlog: Arc<Backlog>,
    meter: Option<LinkMeter>,
    coalesce: bool,
) {
    let mut next = None;
    let mut batch = BytesMut::new();
    loop {
        let out = match next.take() {
            Some(out) => out,
            None => match queue.recv().await {
                Some(out) => out,
                None => break,
            },
        };
        let Out::Bytes { at, mut bytes } = out else {
            if let Err(mut half) = half.reset() {
                let _ = half.shutdown().await;
            }
            return;
        };
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        } else if coalesce {
            while bytes.len() + batch.len() < MAX_COALESCED {
                match queue.try_recv() {
                    Ok(Out::Bytes { at: None, bytes: more }) => {
                        if batch.is_empty() {
                            batch.extend_from_slice(&bytes);
                        }
                        batch.extend_from_slice(&more);
                    }
                    Ok(other) => {
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                bytes = batch.split().freeze();
            }
        }
        if half.write_all(&bytes).await.is_err() {
            // Nothing queued will be written: the connection task must not wait for it.
            backlog.bytes.store(0, Ordering::Relaxed);
            backlog.written.notify_one();
            return;
        }
        backlog.bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
        backlog.written.notify_one();
        if let Some(meter) = &meter {
            meter.wrote(bytes.len());
        }
    }
    let _ = half.shutdown().await;
}

/// DATA frames let out of the reorder buffer.
#[derive(Debug)]
pub(super) struct Released {
    /// In the order to send them.
    pub(super) frames: Vec<Frame>,
    /// The frames' streams in arrival order and in sending order, when the two differ.
    pub(super) reordered: Option<(Vec<u32>, Vec<u32>)>,
}

/// How many frames of a release overtook a frame that had arrived before them: each
/// stream's frames keep their order, so a stream's k-th frame sent is its k-th frame arrived.
pub(super) fn overtook(arrival: &[u32], sent: &[u32]) -> usize {
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    let arrived_at: Vec<usize> = sent
        .iter()
        .map(|stream| {
            let k = seen.entry(*stream).or_default();
            let at = arrival.iter().enumerate().filter(|(_, s)| *s == stream).nth(*k).map_or(0, |(i, _)| i);
            *k += 1;
            at
        })
        .collect();
    // A frame overtook another when some frame sent after it had arrived before it.
    let mut earliest_later = usize::MAX;
    let mut count = 0;
    for &at in arrived_at.iter().rev() {
        if at > earliest_later {
            count += 1;
        }
        earliest_later = earliest_later.min(at);
    }
    count
}

/// One direction's input and output.
#[derive(Debug)]
pub(super) struct Lane {
    /// Bytes read and not yet cut into frames.
    pub(super) input: FrameReader,
    /// The writer task's queue.
    out: mpsc::UnboundedSender<Out>,
    /// Shared with the writer task.
    backlog: Arc<Backlog>,
    /// DATA frames held for reordering, in arrival order.
    held: Vec<Frame>,
    /// When the oldest held frame arrived.
    held_since: Option<Instant>,
    /// Release time of the last delayed frame (delays keep order).
    last_release: Option<Instant>,
    /// Whether a `frame-delay` firing was recorded for this lane.
    delay_recorded: bool,
    /// Whether the output is inside a header block (HEADERS without
    /// END_HEADERS so far): nothing may be sent until its CONTINUATIONs.
    pub(super) block_open: bool,
    /// Frames the proxy made up while a header block was open.
    pub(super) deferred: VecDeque<Frame>,
    /// Bytes queued to the writer so far.
    pub(super) bytes_out: u64,
    /// Whether the input is past the client preface (a server's input always is).
    pub(super) framed: bool,
    /// The largest frame the receiver accepts: its SETTINGS_MAX_FRAME_SIZE.
    pub(super) max_frame: usize,
}

impl Backlog {
    /// A backlog whose writes wake `written`.
    pub(super) fn new(written: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self { bytes: AtomicUsize::new(0), written })
    }
}

impl Lane {
    pub(super) fn new(input: FrameReader, out: mpsc::UnboundedSender<Out>, backlog: Arc<Backlog>) -> Self {
        Self {
            input,
            out,
            backlog,
            held: Vec::new(),
            held_since: None,
            last_release: None,
            delay_recorded: false,
            block_open: false,
            deferred: VecDeque::new(),
            bytes_out: 0,
            framed: false,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Hands bytes to the writer task, to be written at `at` (or at once).
    pub(super) fn queue(&self, at: Option<Instant>, bytes: Bytes) {
        self.backlog.bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        // A closed queue means the writer gave up on its socket: the bytes have nowhere to go.
        if self.out.send(Out::Bytes { at, bytes }).is_err() {
            self.backlog.bytes.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the writer is so far behind that the lane's sender must wait.
    pub(super) fn is_full(&self) -> bool {
        self.backlog.bytes.load(Ordering::Relaxed) >= MAX_BACKLOG
    }

    /// Has the writer reset its socket after writing what is queued.
    pub(super) fn reset(&self) {
        let _ = self.out.send(Out::Reset);
    }

    /// The frame header at the front of the input announces more than the receiver accepts:
    /// an error before the proxy buffers it.
    pub(super) fn oversized(&mut self) -> Option<String> {
        let buffer = self.input.buffer();
        if !self.framed || buffer.len() < HEADER_LEN {
            return None;
        }
        let len = announced_len(buffer);
        (len > self.max_frame).then(|| {
            format!("a frame of {len} bytes, over the receiver's SETTINGS_MAX_FRAME_SIZE {}", self.max_frame)
        })
    }

    /// Notes a frame leaving through the writer: counts its bytes and follows header blocks.
    pub(super) fn note_sent(&mut self, frame: &Frame) {
        self.bytes_out += frame.0.len() as u64;
        if matches!(frame.kind(), kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION) {
            self.block_open = !frame.has(flag::END_HEADERS);
        }
    }

    /// Holds a DATA frame for reordering; true once the buffer holds `window` frames.
    pub(super) fn hold(&mut self, frame: Frame, window: usize) -> bool {
        self.held.push(frame);
        self.held_since.get_or_insert_with(Instant::now);
        self.held.len() >= window
    }

    /// When the oldest held frame has waited `max`.
    pub(super) fn hold_deadline(&self, max: Duration) -> Option<Instant> {
        self.held_since.map(|since| since + max)
    }

    /// Lets out every held frame, in a random order that keeps each stream's own order.
    pub(super) fn release(&mut self, rng: &mut ChaCha8Rng) -> Released {
        self.held_since = None;
        let held = std::mem::take(&mut self.held);
        if held.len() < 2 {
            return Released { frames: held, reordered: None };
        }
        let arrival: Vec<u32> = held.iter().map(Frame::stream).collect();
        let mut queues: BTreeMap<u32, VecDeque<Frame>> = BTreeMap::new();
        for frame in held {
            queues.entry(frame.stream()).or_default().push_back(frame);
        }
        let mut sent = Vec::with_capacity(arrival.len());
        let mut frames = Vec::with_capacity(arrival.len());
        for left in (1..=arrival.len()).rev() {
            let mut pick = rng.random_range(0..left);
            for (stream, queue) in &mut queues {
                if pick < queue.len() {
                    if let Some(frame) = queue.pop_front() {
                        sent.push(*stream);
                        frames.push(frame);
                    }
                    break;
                }
                pick -= queue.len();
            }
        }
        let reordered = (sent != arrival).then_some((arrival, sent));
        Released { frames, reordered }
    }

    /// When a frame sent now is written: after a random 0..=`max_ms`, never before the
    /// frame before it. Also gives the delay when it is the lane's first one above zero (the
    /// firing to record).
    pub(super) fn delay(&mut self, rng: &mut ChaCha8Rng, max_ms: u64) -> (Instant, Option<u64>) {
        let delay = rng.random_range(0..=max_ms);
        let now = Instant::now();
        let release = (now + Duration::from_millis(delay)).max(self.last_release.unwrap_or(now));
        self.last_release = Some(release);
        let first = delay > 0 && !self.delay_recorded;
        self.delay_recorded |= first;
        (release, first.then_some(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::overtook;

    #[test]
    fn frames_that_overtook_an_earlier_one_are_counted() {
        assert_eq!(overtook(&[1, 3, 5], &[1, 3, 5]), 0);
        assert_eq!(overtook(&[1, 3], &[3, 1]), 1);
        // 5 went first past 1 and 3; then 3 past 1.
        assert_eq!(overtook(&[1, 3, 5], &[5, 3, 1]), 2);
        // Stream 1's second frame is still behind its first.
        assert_eq!(overtook(&[1, 1, 3], &[1, 3, 1]), 1);
    }
}
