//! Header blocks while `rst-stream` is on.
//!
//! The server's: each block (HEADERS and its CONTINUATIONs) is assembled and decoded into a
//! mirror of the server's HPACK encoder, so the proxy knows when a block it drops changed the
//! client's dynamic table; from then on every block is sent re-encoded as literals that leave
//! that table alone.
//!
//! The client's: each request block is decoded into a mirror of the client's encoder (every
//! block must be, to keep the mirror's table right) to learn which call a stream carries, from
//! its `faultline-call` metadata, so a reset is attributed to that call alone.

use faultline_wire::frame::{Frame, SAFE_FRAME_SIZE, flag, kind};

use faultline_wire::hpack;

/// The largest header block the proxy assembles.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// A header block being assembled.
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

/// The proxy's copy of the server's HPACK encoder state, and the block in progress.
#[derive(Debug, Default)]
pub struct HeaderMirror {
    decoder: hpack::Decoder,
    /// A dropped block changed the table: re-encode every block from now on.
    translating: bool,
    block: Option<Block>,
}

impl HeaderMirror {
    /// Whether a block is open: only its CONTINUATIONs may come next.
    pub fn in_block(&self) -> bool {
        self.block.is_some()
    }

    /// Opens a block with its HEADERS frame, `dropping` it when the stream was reset.
    /// Returns whether the frame goes on unchanged.
    pub fn headers(&mut self, frame: &Frame, dropping: bool) -> Result<bool, String> {
        let fragment = frame.header_fragment()?;
        if fragment.len() > MAX_HEADER_BLOCK {
            return Err("header block too large".to_owned());
        }
        let passthrough = !dropping && !self.translating;
        self.block = Some(Block {
            stream: frame.stream(),
            end_stream: frame.has(flag::END_STREAM),
            dropping,
            passthrough,
            fragment: fragment.to_vec(),
        });
        Ok(passthrough)
    }

    /// Adds a CONTINUATION to the open block. Returns whether the frame goes on unchanged.
    pub fn continuation(&mut self, frame: &Frame) -> Result<bool, String> {
        let Some(block) = self.block.as_mut() else {
            return Err("CONTINUATION outside a header block".to_owned());
        };
        if block.stream != frame.stream() {
            return Err("CONTINUATION on another stream".to_owned());
        }
        if block.fragment.len() + frame.payload().len() > MAX_HEADER_BLOCK {
            return Err("header block too large".to_owned());
        }
        block.fragment.extend_from_slice(frame.payload());
        Ok(block.passthrough)
    }

    /// Closes the open block (its last frame had END_HEADERS) and decodes it into the
    /// mirror. Returns the frames that replace a block neither passed through nor dropped.
    pub fn finish(&mut self) -> Result<Vec<Frame>, String> {
        let Some(block) = self.block.take() else {
            return Ok(Vec::new());
        };
        let decoded = self.decoder.decode(&block.fragment).map_err(|e| format!("HPACK: {e}"))?;
        if block.dropping {
            self.translating |= decoded.mutated;
            return Ok(Vec::new());
        }
        if block.passthrough {
            return Ok(Vec::new());
        }
        let encoded = hpack::encode_literals(&decoded.fields);
        let chunks: Vec<&[u8]> =
            if encoded.is_empty() { vec![&[]] } else { encoded.chunks(SAFE_FRAME_SIZE).collect() };
        let count = chunks.len();
        let frames = chunks.into_iter().enumerate().map(|(i, chunk)| {
            let mut flags = if i + 1 == count { flag::END_HEADERS } else { 0 };
            if i == 0 && block.end_stream {
                flags |= flag::END_STREAM;
            }
            let kind = if i == 0 { kind::HEADERS } else { kind::CONTINUATION };
            Frame::new(kind, flags, block.stream, chunk)
        });
        Ok(frames.collect())
    }
}

/// What a request's header block says, as far as the proxy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub stream: u32,
    /// Its `faultline-call` metadata (the simulator's calls carry it).
    pub call: Option<u64>,
    /// Its `:path`: the gRPC method.
    pub method: Option<String>,
}

/// The client's request header blocks, read for the call each stream carries. Client blocks
/// are only read: they pass on unchanged, whatever happens here.
#[derive(Debug, Default)]
pub struct RequestHeaders {
    decoder: hpack::Decoder,
    /// (stream, fragment) of a block still waiting for its CONTINUATIONs.
    open: Option<(u32, Vec<u8>)>,
}

impl RequestHeaders {
    /// Reads a client HEADERS or CONTINUATION frame; once a block is whole, returns its stream
    /// and the call its `faultline-call` metadata names, if any.
    pub fn read(&mut self, frame: &Frame) -> Result<Option<(u32, Option<u64>)>, String> {
        Ok(self.read_request(frame)?.map(|request| (request.stream, request.call)))
    }

    /// Reads a client HEADERS or CONTINUATION frame; once a block is whole, returns what it says.
    pub fn read_request(&mut self, frame: &Frame) -> Result<Option<Request>, String> {
        match frame.kind() {
            kind::HEADERS => {
                if self.open.is_some() {
                    return Err("request header block interrupted".to_owned());
                }
                self.open = Some((frame.stream(), frame.header_fragment()?.to_vec()));
            }
            kind::CONTINUATION => {
                let Some((stream, fragment)) = self.open.as_mut() else {
                    return Err("CONTINUATION outside a header block".to_owned());
                };
                if *stream != frame.stream() || fragment.len() + frame.payload().len() > MAX_HEADER_BLOCK {
                    return Err("bad request header block".to_owned());
                }
                fragment.extend_from_slice(frame.payload());
            }
            _ => return Ok(None),
        }
        if !frame.has(flag::END_HEADERS) {
            return Ok(None);
        }
        let Some((stream, fragment)) = self.open.take() else {
            return Ok(None);
        };
        let decoded = self.decoder.decode(&fragment).map_err(|e| format!("HPACK: {e}"))?;
        let value = |name: &[u8]| {
            let field = decoded.fields.iter().find(|f| f.name == name)?;
            String::from_utf8(field.value.clone()).ok()
        };
        let call = value(faultline_model::net::CALL_ID.as_bytes()).and_then(|call| call.parse().ok());
        Ok(Some(Request { stream, call, method: value(b":path") }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's trailers block that inserts `grpc-status: 0` into the dynamic table.
    fn indexing_trailers(stream: u32) -> Frame {
        let mut block = vec![0x40, 11];
        block.extend_from_slice(b"grpc-status");
        block.extend_from_slice(&[1, b'0']);
        Frame::new(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, stream, &block)
    }

    #[test]
    fn blocks_pass_until_a_dropped_one_changes_the_table_then_are_re_encoded() {
        let mut mirror = HeaderMirror::default();
        // `:status: 200` (static index 8) does not touch the table.
        let status = Frame::new(kind::HEADERS, 0, 1, &[0x88]);
        assert!(mirror.headers(&status, false).unwrap());
        assert!(mirror.in_block());
        let empty = Frame::new(kind::CONTINUATION, flag::END_HEADERS, 1, &[]);
        assert!(mirror.continuation(&empty).unwrap());
        assert!(mirror.finish().unwrap().is_empty());
        assert!(!mirror.in_block());

        assert!(!mirror.headers(&indexing_trailers(3), true).unwrap());
        assert!(mirror.finish().unwrap().is_empty());

        // The client never saw the insertion: index 62 is re-encoded as a literal.
        let indexed = Frame::new(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 5, &[0xbe]);
        assert!(!mirror.headers(&indexed, false).unwrap());
        let mut want = vec![0x00, 11];
        want.extend_from_slice(b"grpc-status");
        want.extend_from_slice(&[1, b'0']);
        assert_eq!(
            mirror.finish().unwrap(),
            vec![Frame::new(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 5, &want)]
        );
    }

    #[test]
    fn request_blocks_name_their_call_even_across_continuations() {
        let mut requests = RequestHeaders::default();
        // `:method: POST` (static 3), then `faultline-call: 42` as a literal with indexing.
        let mut block = vec![0x83, 0x40, 14];
        block.extend_from_slice(b"faultline-call");
        block.extend_from_slice(&[2, b'4', b'2']);
        let (head, tail) = block.split_at(4);
        assert_eq!(requests.read_request(&Frame::new(kind::HEADERS, 0, 1, head)).unwrap(), None);
        let last = Frame::new(kind::CONTINUATION, flag::END_HEADERS, 1, tail);
        let request = |stream, call, method: Option<&str>| {
            Some(Request { stream, call, method: method.map(str::to_owned) })
        };
        assert_eq!(requests.read_request(&last).unwrap(), request(1, Some(42), None));
        // The next request refers to the indexed entry (62): the mirror kept the table.
        // `:path: /index.html` is static entry 5.
        let again = Frame::new(kind::HEADERS, flag::END_HEADERS, 3, &[0x83, 0xbe, 0x85]);
        assert_eq!(requests.read_request(&again).unwrap(), request(3, Some(42), Some("/index.html")));
        let plain = Frame::new(kind::HEADERS, flag::END_HEADERS, 5, &[0x83]);
        assert_eq!(requests.read_request(&plain).unwrap(), request(5, None, None));
    }

    #[test]
    fn broken_blocks_are_errors() {
        let mut mirror = HeaderMirror::default();
        assert!(mirror.continuation(&Frame::new(kind::CONTINUATION, 0, 1, &[])).is_err());
        mirror.headers(&Frame::new(kind::HEADERS, 0, 1, &[0x88]), false).unwrap();
        assert!(mirror.continuation(&Frame::new(kind::CONTINUATION, 0, 3, &[])).is_err());
        mirror.headers(&Frame::new(kind::HEADERS, 0, 1, &[0x80]), false).unwrap();
        assert!(mirror.finish().is_err(), "index 0 is garbage");
    }
}
