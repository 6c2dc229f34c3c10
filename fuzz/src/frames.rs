//! HTTP/2 frame streams (`faultline_wire::frame`): generated frames, and the properties of
//! `FrameReader` and of the frame readers on any bytes.

use bytes::Bytes;
use faultline_wire::frame::{Frame, FrameReader, HEADER_LEN, PREFACE, SAFE_FRAME_SIZE, Unit, flag, kind};
use proptest::prelude::*;

use crate::alloc;
use crate::mutation::Sample;

/// One frame's fields, as generated.
#[derive(Debug, Clone)]
pub struct FrameSpec {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl FrameSpec {
    /// The frame on the wire.
    pub fn frame(&self) -> Frame {
        Frame::new(self.kind, self.flags, self.stream, &self.payload)
    }
}

/// A frame of any type (the ten of RFC 9113 mostly), with any flags, on any stream; DATA and
/// HEADERS frames flagged PADDED or PRIORITY are usually laid out as the flags say.
pub fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    let kind = prop_oneof![9 => 0u8..=9, 1 => any::<u8>()];
    let payload = proptest::collection::vec(any::<u8>(), 0..48);
    (kind, any::<u8>(), any::<u32>(), payload, 0u8..8, any::<bool>()).prop_map(
        |(kind, flags, stream, mut payload, pad, well_formed)| {
            if well_formed && matches!(kind, kind::DATA | kind::HEADERS) {
                if kind == kind::HEADERS && flags & flag::PRIORITY != 0 {
                    payload.splice(0..0, [0, 0, 0, 1, 16]);
                }
                if flags & flag::PADDED != 0 {
                    payload.insert(0, pad);
                    payload.extend(std::iter::repeat_n(0, usize::from(pad)));
                }
            }
            FrameSpec { kind, flags, stream, payload }
        },
    )
}

/// A connection direction's bytes: the client's starts with the preface.
pub fn stream(client: bool) -> impl Strategy<Value = (Vec<FrameSpec>, Sample)> {
    proptest::collection::vec(frame_spec(), 0..12).prop_map(move |specs| {
        let mut sample = Sample::default();
        if client {
            sample.append(PREFACE, &[]);
        }
        for spec in &specs {
            sample.append(&spec.frame().0, &[(0, 3)]);
        }
        (specs, sample)
    })
}

/// Hostile pieces to insert: frame headers announcing the largest frames, partial prefaces.
pub fn pieces() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(k, f)| vec![0xff, 0xff, 0xff, k, f, 0, 0, 0, 1]),
        (1usize..PREFACE.len()).prop_map(|n| PREFACE[..n].to_vec()),
        Just(Frame::new(kind::HEADERS, flag::PADDED | flag::PRIORITY, 1, &[200]).0.to_vec()),
    ]
    .boxed()
}

/// What a reader made of a connection's bytes: every unit, then whether it gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub units: Vec<Unit>,
    pub error: bool,
}

/// Feeds `pieces` to a fresh reader, taking every unit after each piece, until an error.
pub fn read(client: bool, pieces: &[&[u8]]) -> Reading {
    let mut reader = if client { FrameReader::client_side() } else { FrameReader::server_side() };
    let mut units = Vec::new();
    for piece in pieces {
        reader.push(piece);
        loop {
            match reader.next_unit() {
                Ok(Some(unit)) => units.push(unit),
                Ok(None) => break,
                Err(_) => return Reading { units, error: true },
            }
        }
    }
    Reading { units, error: false }
}

fn unit_bytes(unit: &Unit) -> &Bytes {
    match unit {
        Unit::Preface(bytes) => bytes,
        Unit::Frame(frame) => &frame.0,
    }
}

/// What a reader may hold beyond 16 bytes per input byte: room reserved for the rest of a
/// frame (at most a default-sized frame's worth more than it holds, whatever the header
/// announces), and the copy while its buffer grows.
pub const READER_FIXED: usize = 4 * SAFE_FRAME_SIZE;

/// The properties of `FrameReader` on any bytes, fed whole, byte by byte and in `pieces`
/// (which concatenate to `input`): no panic, the same reading whatever the cuts, units that
/// are exactly the input's first bytes, whole frames only, and memory bounded by the input
/// (not by the lengths it announces).
pub fn check_reader(client: bool, input: &[u8], pieces: &[&[u8]]) {
    let whole =
        alloc::assert_bounded("FrameReader, whole", input.len(), 16, READER_FIXED, || read(client, &[input]));
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(read(client, &bytewise), whole, "byte by byte");
    let cut = alloc::assert_bounded("FrameReader, in pieces", input.len(), 16, READER_FIXED, || {
        read(client, pieces)
    });
    assert_eq!(cut, whole, "cut at {:?}", pieces.iter().map(|p| p.len()).collect::<Vec<_>>());

    let consumed: Vec<u8> = whole.units.iter().flat_map(|u| unit_bytes(u).to_vec()).collect();
    assert_eq!(consumed, input[..consumed.len()], "units are the input's first bytes");
    let rest = &input[consumed.len()..];
    if !whole.error {
        let incomplete = if client && whole.units.is_empty() {
            rest.len() < PREFACE.len() && PREFACE.starts_with(rest)
        } else {
            rest.len() < HEADER_LEN || rest.len() < HEADER_LEN + faultline_wire::frame::announced_len(rest)
        };
        assert!(incomplete, "a whole unit was left unread: {rest:?}");
    }
    for (i, unit) in whole.units.iter().enumerate() {
        match unit {
            Unit::Preface(bytes) => assert!(client && i == 0 && bytes[..] == PREFACE[..]),
            Unit::Frame(frame) => {
                assert!(!client || i > 0, "a frame before the preface");
                assert_eq!(frame.payload().len(), faultline_wire::frame::announced_len(&frame.0));
                check_frame(frame);
            }
        }
    }
}

/// The frame readers (`data`, `header_fragment`, `error_code`) on a frame of any contents: no
/// panic, and what they return lies within the payload, as the flags lay it out.
pub fn check_frame(frame: &Frame) {
    let payload = frame.payload();
    let padded = frame.has(flag::PADDED);
    let pad = payload.first().map(|p| usize::from(*p));
    if let Ok(data) = frame.data() {
        if padded {
            let pad = pad.expect("a padded frame read with no pad length");
            assert_eq!(data, &payload[1..payload.len() - pad]);
        } else {
            assert_eq!(data, payload);
        }
    } else {
        assert!(padded && pad.is_none_or(|pad| pad + 1 > payload.len()));
    }
    if let Ok(fragment) = frame.header_fragment() {
        let start = usize::from(padded) + if frame.has(flag::PRIORITY) { 5 } else { 0 };
        let end = payload.len() - if padded { pad.unwrap_or(0) } else { 0 };
        assert_eq!(fragment, &payload[start..end]);
    }
    let code = frame.error_code();
    match frame.kind() {
        kind::RST_STREAM if payload.len() >= 4 => assert!(code.is_some()),
        kind::GOAWAY if payload.len() >= 8 => assert!(code.is_some()),
        kind::RST_STREAM | kind::GOAWAY => assert!(code.is_none()),
        _ => assert_eq!(code, None),
    }
    let _ = kind::name(frame.kind());
}

/// Valid frames read back as written, whatever the cuts.
pub fn check_round_trip(client: bool, specs: &[FrameSpec], wire: &[u8], pieces: &[&[u8]]) {
    let reading = read(client, pieces);
    assert!(!reading.error, "valid frames rejected");
    let frames: Vec<&Frame> = reading
        .units
        .iter()
        .filter_map(|u| match u {
            Unit::Frame(frame) => Some(frame),
            Unit::Preface(_) => None,
        })
        .collect();
    assert_eq!(reading.units.len() - frames.len(), usize::from(client), "one preface, client side only");
    assert_eq!(frames.len(), specs.len(), "{} bytes", wire.len());
    for (frame, spec) in frames.iter().zip(specs) {
        assert_eq!(
            (frame.kind(), frame.flags(), frame.stream(), frame.payload()),
            (spec.kind, spec.flags, spec.stream & 0x7fff_ffff, &spec.payload[..])
        );
    }
}
