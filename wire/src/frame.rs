//! HTTP/2 frames (RFC 9113 §4.1): a 9-byte header (24-bit length, type, flags, 31-bit stream
//! id) and a payload. The `h2` crate keeps its frame types private, so the numbers the RFC
//! fixes are written here once; error codes are `h2::Reason`'s.

use bytes::{BufMut, Bytes, BytesMut};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 9;
/// Every peer accepts frames this large (the smallest legal SETTINGS_MAX_FRAME_SIZE).
pub const SAFE_FRAME_SIZE: usize = 16_384;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;

    /// The type's name in the RFC, or its number.
    pub fn name(kind: u8) -> String {
        const NAMES: [&str; 10] = [
            "DATA",
            "HEADERS",
            "PRIORITY",
            "RST_STREAM",
            "SETTINGS",
            "PUSH_PROMISE",
            "PING",
            "GOAWAY",
            "WINDOW_UPDATE",
            "CONTINUATION",
        ];
        NAMES.get(usize::from(kind)).map_or_else(|| format!("type 0x{kind:x}"), |n| (*n).to_owned())
    }
}

/// Frame flags (RFC 9113 §6).
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// One whole frame: header and payload, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub Bytes);

impl Frame {
    /// Builds a frame; `payload` must be shorter than 2^24 bytes.
    pub fn new(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Self {
        let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
        out.put_uint(payload.len() as u64, 3);
        out.put_u8(kind);
        out.put_u8(flags);
        out.put_u32(stream & 0x7fff_ffff);
        out.put_slice(payload);
        Self(out.freeze())
    }

    /// RST_STREAM with an error code.
    pub fn rst_stream(stream: u32, reason: u32) -> Self {
        Self::new(kind::RST_STREAM, 0, stream, &reason.to_be_bytes())
    }

    /// WINDOW_UPDATE by `increment` (1..2^31).
    pub fn window_update(stream: u32, increment: u32) -> Self {
        Self::new(kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
    }

    /// GOAWAY naming the last stream the sender will process, with an error code.
    pub fn go_away(last_stream: u32, reason: u32) -> Self {
        let mut payload = [0u8; 8];
        payload[..4].copy_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
        payload[4..].copy_from_slice(&reason.to_be_bytes());
        Self::new(kind::GOAWAY, 0, 0, &payload)
    }

    /// The frame type.
    pub fn kind(&self) -> u8 {
        self.0[3]
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.0[4]
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    /// The stream id (reserved bit cleared).
    pub fn stream(&self) -> u32 {
        u32::from_be_bytes([self.0[5], self.0[6], self.0[7], self.0[8]]) & 0x7fff_ffff
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.0[HEADER_LEN..]
    }

    /// The payload of a DATA frame without its padding.
    pub fn data(&self) -> Result<&[u8], String> {
        let payload = self.payload();
        if !self.has(flag::PADDED) {
            return Ok(payload);
        }
        let pad = usize::from(*payload.first().ok_or("padded DATA frame without a pad length")?);
        let end = payload.len().checked_sub(pad).filter(|end| *end >= 1).ok_or("DATA padding too long")?;
        Ok(&payload[1..end])
    }

    /// The header block fragment of a HEADERS frame (padding and priority removed).
    pub fn header_fragment(&self) -> Result<&[u8], String> {
        let payload = self.payload();
        let mut start = 0;
        let mut end = payload.len();
        if self.has(flag::PADDED) {
            let pad = usize::from(*payload.first().ok_or("padded HEADERS frame without a pad length")?);
            start = 1;
            end = end.checked_sub(pad).ok_or("HEADERS padding too long")?;
        }
        if self.has(flag::PRIORITY) {
            start += 5;
        }
        if start > end {
            return Err("HEADERS frame too short".to_owned());
        }
        Ok(&payload[start..end])
    }

    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind() {
            kind::RST_STREAM => 0,
            kind::GOAWAY => 4,
            _ => return None,
        };
        let p = self.payload().get(at..at + 4)?;
        Some(u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
    }
}

/// The length a frame header announces (`header.len() >= 3`).
pub fn announced_len(header: &[u8]) -> usize {
    (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2])
}

/// What a connection's bytes are cut into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// The client connection preface (only ever first, only from the client).
    Preface(Bytes),
    /// A whole frame.
    Frame(Frame),
}

/// Cuts one direction of a connection into its preface and frames, fed in pieces of any size.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
    /// The client preface is still to come (the client-to-server direction).
    expect_preface: bool,
}

impl FrameReader {
    /// A reader of the client's direction, which starts with the connection preface.
    pub fn client_side() -> Self {
        Self { buf: BytesMut::new(), expect_preface: true }
    }

    /// A reader of the server's direction.
    pub fn server_side() -> Self {
        Self::default()
    }

    /// The unread buffer, to read into directly (`read_buf`).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole unit, if one is buffered; an error for bytes that are not HTTP/2.
    pub fn next_unit(&mut self) -> Result<Option<Unit>, String> {
        if self.expect_preface {
            let n = self.buf.len().min(PREFACE.len());
            if self.buf[..n] != PREFACE[..n] {
                return Err("not an HTTP/2 client preface".to_owned());
            }
            if n < PREFACE.len() {
                return Ok(None);
            }
            self.expect_preface = false;
            return Ok(Some(Unit::Preface(self.buf.split_to(PREFACE.len()).freeze())));
        }
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let total = HEADER_LEN + announced_len(&self.buf);
        if self.buf.len() < total {
            // Room for the frame's next bytes, not for all it announces: a 9-byte header
            // may announce 16 MiB that never come.
            self.buf.reserve((total - self.buf.len()).min(SAFE_FRAME_SIZE));
            return Ok(None);
        }
        Ok(Some(Unit::Frame(Frame(self.buf.split_to(total).freeze()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_built_and_read_back() {
        let frame = Frame::new(kind::DATA, flag::PADDED, 5, &[2, b'a', b'b', 0, 0]);
        assert_eq!(frame.kind(), kind::DATA);
        assert_eq!(frame.stream(), 5);
        assert_eq!(frame.data().unwrap(), b"ab");
        assert!(Frame::new(kind::DATA, flag::PADDED, 5, &[9, b'a']).data().is_err());
        let headers = Frame::new(kind::HEADERS, flag::PRIORITY, 1, &[0, 0, 0, 0, 16, 0x82]);
        assert_eq!(headers.header_fragment().unwrap(), &[0x82]);
        assert!(Frame::new(kind::HEADERS, flag::PRIORITY, 1, &[0]).header_fragment().is_err());
        assert_eq!(Frame::rst_stream(3, 8).error_code(), Some(8));
        assert_eq!(Frame::go_away(7, 0).error_code(), Some(0));
        assert_eq!(kind::name(kind::GOAWAY), "GOAWAY");
        assert_eq!(kind::name(0x42), "type 0x42");
    }

    #[test]
    fn a_reader_cuts_the_preface_then_frames_from_any_pieces() {
        let mut wire = PREFACE.to_vec();
        let frames = [
            Frame::new(kind::SETTINGS, 0, 0, &[]),
            Frame::new(kind::HEADERS, flag::END_HEADERS, 1, &[0x82, 0x86]),
            Frame::new(kind::DATA, flag::END_STREAM, 1, &[0; 20]),
        ];
        for f in &frames {
            wire.extend_from_slice(&f.0);
        }
        let mut want = vec![Unit::Preface(Bytes::from_static(PREFACE))];
        want.extend(frames.iter().cloned().map(Unit::Frame));
        for piece in [1, 2, 7, 9, 24, 100] {
            let mut reader = FrameReader::client_side();
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                reader.push(chunk);
                while let Some(unit) = reader.next_unit().unwrap() {
                    got.push(unit);
                }
            }
            assert_eq!(got, want, "pieces of {piece}");
        }
        let mut bad = FrameReader::client_side();
        bad.push(b"GET / HTTP/1.1\r\n");
        assert!(bad.next_unit().is_err());
    }
}
