//! HPACK header blocks (the proxy's decoder, `faultline_wire::hpack`, and its users in
//! `faultline_proxy::headers`): blocks written by an independent encoder (`httlib-hpack`:
//! Huffman, indexing, never-indexed fields, table size updates), and the properties of
//! decoding them, whole or mutated, alone or split into HEADERS and CONTINUATION frames.

use faultline_proxy::headers::{HeaderMirror, RequestHeaders};
use faultline_wire::frame::{Frame, flag, kind};
use faultline_wire::hpack::{self, Decoder, Field};
use httlib_hpack::Encoder;
use proptest::prelude::*;

use crate::alloc;
use crate::mutation::Sample;

/// One field to encode, with `httlib_hpack::Encoder` flags.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    pub flags: u8,
}

/// One header block to encode: an optional table size update, then fields.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub size_update: Option<u32>,
    pub fields: Vec<FieldSpec>,
}

const NAMES: &[&str] = &[
    ":method",
    ":path",
    ":status",
    "content-type",
    "grpc-status",
    "grpc-message",
    "te",
    "faultline-call",
    "x-b",
];

fn field_spec() -> impl Strategy<Value = FieldSpec> {
    let name = prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(|n| n.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ];
    // Mostly short values; some long enough that referring to them again and again is a
    // decompression bomb.
    let value = prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..16),
        1 => (0u64..1000).prop_map(|n| n.to_string().into_bytes()),
        1 => (any::<u8>(), 1000usize..4000).prop_map(|(b, n)| vec![b; n]),
    ];
    (name, value, 0u8..0x20).prop_map(|(name, value, flags)| FieldSpec { name, value, flags })
}

/// Blocks drawing their fields (with repeats) from a small pool, so that the dynamic table
/// is used: fields are inserted, then referred to. At most 40 fields a block keeps every list
/// under the decoder's limit.
pub fn blocks() -> impl Strategy<Value = Vec<BlockSpec>> {
    blocks_of(0..40)
}

/// Blocks of `fields` fields from a pool as `blocks`'s.
pub fn blocks_of(fields: std::ops::Range<usize>) -> impl Strategy<Value = Vec<BlockSpec>> {
    proptest::collection::vec(field_spec(), 1..6).prop_flat_map(move |pool| {
        let n = pool.len();
        let block =
            (proptest::option::weighted(0.2, 0u32..=8192), proptest::collection::vec(0..n, fields.clone()));
        proptest::collection::vec(block, 1..5).prop_map(move |blocks| {
            blocks
                .into_iter()
                .map(|(size_update, picks)| BlockSpec {
                    size_update,
                    fields: picks.into_iter().map(|i| pool[i].clone()).collect(),
                })
                .collect()
        })
    })
}

/// Each block encoded by one encoder, in order (so later blocks refer to earlier insertions).
pub fn encode(blocks: &[BlockSpec]) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::default();
    blocks
        .iter()
        .map(|block| {
            let mut out = Vec::new();
            if let Some(size) = block.size_update {
                encoder.update_max_dynamic_size(size, &mut out).expect("a size update encodes");
            }
            for f in &block.fields {
                encoder
                    .encode((f.name.clone(), f.value.clone(), f.flags), &mut out)
                    .expect("a field encodes");
            }
            out
        })
        .collect()
}

/// Hostile pieces to insert: integers of many continuation bytes, strings announcing 2^32-1
/// bytes, table size updates to 2^28, indices far past the table.
pub fn pieces() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        Just(vec![0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Just(vec![0x3f, 0xe1, 0xff, 0xff, 0x7f]),
        Just(vec![0xff, 0xff, 0xff, 0xff, 0x07]),
        Just(vec![0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (1usize..8).prop_map(|n| std::iter::once(0x7f).chain(std::iter::repeat_n(0xff, n)).collect()),
        Just(vec![0x80 | 0x3e]),
    ]
    .boxed()
}

/// One decoder's reading of `blocks`, in order: each block's fields, or that it failed.
fn decode_all(blocks: &[&[u8]]) -> Vec<Result<Vec<Field>, String>> {
    let mut decoder = Decoder::default();
    blocks.iter().map(|block| decoder.decode(block).map(|d| d.fields)).collect()
}

/// Blocks from the encoder decode to the fields it was given, in order, through one decoder.
pub fn check_round_trip(specs: &[BlockSpec], encoded: &[Vec<u8>]) {
    let blocks: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    for (i, (got, spec)) in decode_all(&blocks).into_iter().zip(specs).enumerate() {
        let got = got.unwrap_or_else(|e| panic!("block {i}: {e}"));
        assert_eq!(got.len(), spec.fields.len(), "block {i}");
        for (field, want) in got.iter().zip(&spec.fields) {
            assert_eq!((&field.name, &field.value), (&want.name, &want.value), "block {i}");
            let never = want.flags & Encoder::NEVER_INDEXED != 0 && want.flags & Encoder::WITH_INDEXING == 0;
            if want.flags & Encoder::BEST_FORMAT == 0 {
                assert_eq!(field.sensitive, never, "block {i}: never-indexed flag");
            }
        }
    }
}

/// Total size of a field list as RFC 9113's SETTINGS_MAX_HEADER_LIST_SIZE counts it.
pub fn list_size(fields: &[Field]) -> usize {
    fields.iter().map(|f| f.name.len() + f.value.len() + 32).sum()
}

/// The decoder on any bytes, cut into consecutive blocks sharing its table: no panic, a list
/// no larger than the limit, and memory bounded by the block plus the decoder's limits.
pub fn check_decoder(input: &[u8], pieces: &[&[u8]]) {
    let mut decoder = Decoder::default();
    for block in [input].iter().chain(pieces) {
        let decoded =
            alloc::assert_bounded("HPACK decoder", block.len(), 64, DECODER_FIXED, || decoder.decode(block));
        if let Ok(decoded) = decoded {
            assert!(list_size(&decoded.fields) <= hpack::MAX_HEADER_LIST_SIZE);
            let again = hpack::encode_literals(&decoded.fields);
            let reread = Decoder::default().decode(&again).expect("literals decode");
            assert_eq!(reread.fields, decoded.fields, "literals re-encode every field");
            assert!(!reread.mutated, "literals leave the table alone");
        }
    }
}

/// What a decode may hold beyond 64 bytes per input byte: the decoded list and the table, at
/// their limits, and a copy of each while they grow.
pub const DECODER_FIXED: usize = 2 * (hpack::MAX_HEADER_LIST_SIZE + hpack::MAX_TABLE_SIZE);

/// A block as HEADERS then CONTINUATION frames, cut at `cuts` (the last frame has END_HEADERS).
pub fn frames(stream: u32, block: &[u8], cuts: &[proptest::sample::Index], end_stream: bool) -> Vec<Frame> {
    let parts = crate::mutation::pieces(block, cuts);
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut flags = if i == last { flag::END_HEADERS } else { 0 };
            if i == 0 && end_stream {
                flags |= flag::END_STREAM;
            }
            Frame::new(if i == 0 { kind::HEADERS } else { kind::CONTINUATION }, flags, stream, part)
        })
        .collect()
}

/// The proxy's mirror of the server's encoder, on valid blocks some of which it drops (their
/// streams were reset): the client, which sees the blocks passed through or re-encoded and
/// never the dropped ones, decodes every other block to the fields the server sent.
pub fn check_mirror(encoded: &[Vec<u8>], drops: &[bool], cuts: &[proptest::sample::Index]) {
    let mut mirror = HeaderMirror::default();
    let mut server_view = Decoder::default();
    let mut client = Decoder::default();
    for (i, block) in encoded.iter().enumerate() {
        let dropping = drops.get(i).copied().unwrap_or(false);
        let sent = server_view.decode(block).expect("a valid block").fields;
        let stream = 2 * i as u32 + 1;
        let frames = frames(stream, block, cuts, i % 2 == 0);
        let mut forwarded = Vec::new();
        for (j, frame) in frames.iter().enumerate() {
            let passes = if j == 0 { mirror.headers(frame, dropping) } else { mirror.continuation(frame) }
                .expect("valid frames");
            assert!(!(passes && dropping), "a dropped block's frame passed");
            if passes {
                forwarded.push(frame.clone());
            }
        }
        let replacement = mirror.finish().expect("a valid block");
        assert!(forwarded.is_empty() || replacement.is_empty(), "block {i} passed and replaced");
        if dropping {
            assert!(forwarded.is_empty() && replacement.is_empty(), "block {i} dropped yet sent");
            continue;
        }
        forwarded.extend(replacement);
        assert_eq!(forwarded[0].kind(), kind::HEADERS);
        assert_eq!(forwarded[0].has(flag::END_STREAM), i % 2 == 0);
        assert!(forwarded.iter().all(|f| f.stream() == stream));
        assert!(forwarded.last().expect("a frame").has(flag::END_HEADERS));
        let seen: Vec<u8> = forwarded
            .iter()
            .flat_map(|f| {
                if f.kind() == kind::HEADERS { f.header_fragment().unwrap() } else { f.payload() }.to_vec()
            })
            .collect();
        let got = client.decode(&seen).unwrap_or_else(|e| panic!("block {i}: the client fails: {e}"));
        assert_eq!(got.fields, sent, "block {i}: the client reads other fields");
    }
}

/// Client request blocks, in HEADERS and CONTINUATION frames: each whole block names its
/// stream and the call of its first `faultline-call` field.
pub fn check_requests(specs: &[BlockSpec], encoded: &[Vec<u8>], cuts: &[proptest::sample::Index]) {
    let mut requests = RequestHeaders::default();
    for (i, (spec, block)) in specs.iter().zip(encoded).enumerate() {
        let stream = 2 * i as u32 + 1;
        let frames = frames(stream, block, cuts, false);
        let last = frames.len() - 1;
        for (j, frame) in frames.iter().enumerate() {
            let read = requests.read(frame).unwrap_or_else(|e| panic!("block {i}: {e}"));
            if j < last {
                assert_eq!(read, None);
            } else {
                let call = spec
                    .fields
                    .iter()
                    .find(|f| f.name == b"faultline-call")
                    .and_then(|f| std::str::from_utf8(&f.value).ok()?.parse().ok());
                assert_eq!(read, Some((stream, call)), "block {i}");
            }
        }
    }
}

/// Any frames to both header readers: no panic, and memory bounded by the input.
pub fn check_frames(frames: &[Frame], drops: &[bool]) {
    let bytes: usize = frames.iter().map(|f| f.0.len()).sum();
    alloc::assert_bounded("header readers", bytes, 64, DECODER_FIXED, || {
        let mut requests = RequestHeaders::default();
        let mut mirror = HeaderMirror::default();
        for (i, frame) in frames.iter().enumerate() {
            let _ = requests.read(frame);
            let dropping = drops.get(i).copied().unwrap_or(false);
            let result = match frame.kind() {
                kind::HEADERS => mirror.headers(frame, dropping).map(|_| ()),
                kind::CONTINUATION => mirror.continuation(frame).map(|_| ()),
                _ => Ok(()),
            };
            if result.is_err() || frame.has(flag::END_HEADERS) {
                let _ = mirror.finish();
            }
        }
    });
}

/// The pieces of a sample of blocks as one sample (for mutation).
pub fn sample(encoded: &[Vec<u8>]) -> Sample {
    let mut sample = Sample::default();
    for block in encoded {
        sample.append(block, &[]);
    }
    sample
}
