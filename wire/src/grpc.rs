//! gRPC's length-prefixed messages: every message on an HTTP/2 stream's DATA bytes is one flag
//! byte (1 = compressed), a 4-byte big-endian length, then that many bytes. DATA frame edges
//! mean nothing: a frame may hold many messages, or a piece of one.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in a message's prefix.
pub const PREFIX_LEN: usize = 5;

/// A message's 5-byte prefix, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The flag byte is not zero (the message is compressed, or the flag is garbage).
    pub compressed: bool,
    /// The flag byte as sent.
    pub flag: u8,
    /// How many message bytes follow.
    pub len: u32,
}

impl Prefix {
    /// Decodes a prefix.
    pub fn parse(bytes: [u8; PREFIX_LEN]) -> Self {
        let [flag, a, b, c, d] = bytes;
        Self { compressed: flag != 0, flag, len: u32::from_be_bytes([a, b, c, d]) }
    }
}

/// `message` with its prefix: uncompressed, its true length.
pub fn encode(message: &[u8]) -> Bytes {
    encode_raw(0, u32::try_from(message.len()).unwrap_or(u32::MAX), message)
}

/// A prefix claiming `declared` bytes with flag byte `flag`, then `payload` as it is (which
/// need not be `declared` bytes long: for peers that lie).
pub fn encode_raw(flag: u8, declared: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    out.put_u8(flag);
    out.put_u32(declared);
    out.put_slice(payload);
    out.freeze()
}

/// A boundary found in a stream's bytes, with its offset in the slice scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A prefix ended just before `at`: a message of `prefix.len` bytes starts there.
    Prefix { at: usize, prefix: Prefix },
    /// A message's last byte is just before `at`.
    End { at: usize },
}

/// Follows message boundaries through a stream's DATA bytes, fed in pieces of any size,
/// without keeping message bytes: for code that forwards or counts rather than decodes.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Message bytes still to come; `None` while reading a prefix.
    body_left: Option<u64>,
    messages: u64,
}

impl Scanner {
    /// Messages that have ended so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Whether the stream is between messages (an end of stream here is clean).
    pub fn at_boundary(&self) -> bool {
        self.prefix_len == 0 && self.body_left.is_none()
    }

    /// Takes the next bytes of the stream; calls `mark` with each boundary in them, in order,
    /// and stops early (returning `false`) when `mark` returns `false`.
    pub fn scan(&mut self, data: &[u8], mut mark: impl FnMut(Mark) -> bool) -> bool {
        let mut pos = 0;
        loop {
            match self.body_left {
                None => {
                    if pos == data.len() {
                        return true;
                    }
                    let take = (PREFIX_LEN - self.prefix_len).min(data.len() - pos);
                    self.prefix[self.prefix_len..self.prefix_len + take]
                        .copy_from_slice(&data[pos..pos + take]);
                    self.prefix_len += take;
                    pos += take;
                    if self.prefix_len < PREFIX_LEN {
                        return true;
                    }
                    self.prefix_len = 0;
                    let prefix = Prefix::parse(self.prefix);
                    self.body_left = Some(u64::from(prefix.len));
                    if !mark(Mark::Prefix { at: pos, prefix }) {
                        return false;
                    }
                }
                Some(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len() - pos);
                    pos += take;
                    let left = left - take as u64;
                    if left > 0 {
                        self.body_left = Some(left);
                        return true;
                    }
                    self.body_left = None;
                    self.messages += 1;
                    if !mark(Mark::End { at: pos }) {
                        return false;
                    }
                }
            }
        }
    }
}

/// One whole message cut out of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub compressed: bool,
    pub bytes: Bytes,
}

/// Cuts whole messages out of a stream's DATA bytes, buffering the pieces.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: BytesMut,
}

impl Deframer {
    /// Adds bytes; returns every message now complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<Message> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= PREFIX_LEN {
            let prefix = Prefix::parse([self.buf[0], self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
            let len = prefix.len as usize;
            if self.buf.len() < PREFIX_LEN + len {
                break;
            }
            self.buf.advance(PREFIX_LEN);
            out.push(Message { compressed: prefix.compressed, bytes: self.buf.split_to(len).freeze() });
        }
        out
    }

    /// Bytes of an unfinished message still held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(lens: &[usize]) -> Vec<u8> {
        lens.iter().flat_map(|len| encode(&vec![7u8; *len]).to_vec()).collect()
    }

    /// Every (offset, kind) a scanner reports over `data` fed in pieces of `piece` bytes.
    fn marks(data: &[u8], piece: usize) -> Vec<(usize, &'static str)> {
        let mut scanner = Scanner::default();
        let mut out = Vec::new();
        for (i, chunk) in data.chunks(piece).enumerate() {
            scanner.scan(chunk, |m| {
                out.push(match m {
                    Mark::Prefix { at, .. } => (i * piece + at, "prefix"),
                    Mark::End { at } => (i * piece + at, "end"),
                });
                true
            });
        }
        out
    }

    #[test]
    fn scanner_finds_the_same_boundaries_however_the_bytes_are_cut() {
        let data = stream(&[3, 0, 10, 1]);
        let want = vec![
            (5, "prefix"),
            (8, "end"),
            (13, "prefix"),
            (13, "end"),
            (18, "prefix"),
            (28, "end"),
            (33, "prefix"),
            (34, "end"),
        ];
        for piece in 1..=data.len() {
            assert_eq!(marks(&data, piece), want, "pieces of {piece}");
        }
    }

    #[test]
    fn scanner_stops_where_told_and_resumes() {
        let data = stream(&[2, 2, 2]);
        let mut scanner = Scanner::default();
        let mut ends = Vec::new();
        let finished = scanner.scan(&data, |m| {
            if let Mark::End { at } = m {
                ends.push(at);
            }
            ends.len() < 2
        });
        assert!(!finished);
        assert_eq!(ends, vec![7, 14]);
        assert_eq!(scanner.messages(), 2);
        assert!(scanner.at_boundary());
        scanner.scan(&data[14..], |_| true);
        assert_eq!(scanner.messages(), 3);
    }

    #[test]
    fn prefixes_are_reported_before_their_bodies_arrive() {
        let mut scanner = Scanner::default();
        let mut seen = None;
        scanner.scan(&encode_raw(1, 4 << 20, b"x"), |m| {
            if let Mark::Prefix { prefix, .. } = m {
                seen = Some(prefix);
            }
            true
        });
        assert_eq!(seen, Some(Prefix { compressed: true, flag: 1, len: 4 << 20 }));
        assert!(!scanner.at_boundary());
    }

    #[test]
    fn deframer_cuts_whole_messages_only() {
        let data = stream(&[3, 0, 10]);
        let mut deframer = Deframer::default();
        let mut lens = Vec::new();
        for byte in &data {
            lens.extend(deframer.push(&[*byte]).into_iter().map(|m| m.bytes.len()));
        }
        assert_eq!(lens, vec![3, 0, 10]);
        assert_eq!(deframer.pending(), 0);
        assert_eq!(deframer.push(&data[..15]).len(), 2);
        assert_eq!(deframer.pending(), 2);
    }
}
