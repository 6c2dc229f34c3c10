//! HPACK: the proxy's decoder, its server-side mirror and its request reader.

use faultline_fuzz::hpack;
use faultline_fuzz::mutation::{cuts, mutated, pieces};
use faultline_wire::frame::{Frame, flag, kind};
use proptest::prelude::*;

use crate::config::{cases, costly};

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn encoded_blocks_decode_to_their_fields(specs in hpack::blocks()) {
        let encoded = hpack::encode(&specs);
        hpack::check_round_trip(&specs, &encoded);
        for block in &encoded {
            hpack::check_decoder(block, &[]);
        }
    }

    #[test]
    fn the_client_reads_what_the_server_sent_whatever_the_proxy_drops(
        specs in hpack::blocks(),
        drops in proptest::collection::vec(any::<bool>(), 0..5),
        cuts in cuts(),
    ) {
        hpack::check_mirror(&hpack::encode(&specs), &drops, &cuts);
    }

    #[test]
    fn request_blocks_name_their_call(specs in hpack::blocks(), cuts in cuts()) {
        hpack::check_requests(&specs, &hpack::encode(&specs), &cuts);
    }

    #[test]
    fn mutated_blocks_decode_or_fail_cleanly(
        input in mutated(hpack::blocks().prop_map(|b| hpack::sample(&hpack::encode(&b))), hpack::pieces()),
        cuts in cuts(),
    ) {
        hpack::check_decoder(&input, &pieces(&input, &cuts));
    }

    #[test]
    fn mutated_header_frames_are_read_or_refused(
        input in mutated(hpack::blocks().prop_map(|b| hpack::sample(&hpack::encode(&b))), hpack::pieces()),
        cuts in cuts(),
        kinds in proptest::collection::vec((0u8..3, any::<u8>(), 0u32..4), 0..8),
        drops in proptest::collection::vec(any::<bool>(), 0..8),
    ) {
        // Pieces of the block in frames of mixed kinds, flags and streams.
        let frames: Vec<Frame> = pieces(&input, &cuts)
            .iter()
            .zip(kinds.iter().chain(std::iter::repeat(&(0, flag::END_HEADERS, 1))))
            .map(|(piece, &(k, flags, stream))| {
                let kind = [kind::HEADERS, kind::CONTINUATION, kind::DATA][usize::from(k)];
                Frame::new(kind, flags, stream, piece)
            })
            .collect();
        hpack::check_frames(&frames, &drops);
    }
}

proptest! {
    #![proptest_config(costly(16))]

    #[test]
    fn long_lists_decode_or_are_refused_within_the_limit(specs in hpack::blocks_of(40..400)) {
        let encoded = hpack::encode(&specs);
        let blocks: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        hpack::check_decoder(blocks[0], &blocks[1..]);
    }
}

/// The decompression bomb: a 4 KiB entry, then a block referring to it a few hundred
/// thousand times (one byte each). Before the header-list limit, decoding held about 1 GiB.
#[test]
fn a_block_of_references_to_a_large_entry_is_refused_without_expanding() {
    let mut insert = vec![0x40, 0x01, b'x', 0x7f];
    let len = 4000usize - 127;
    insert.extend([0x80 | (len & 0x7f) as u8, (len >> 7) as u8]);
    insert.extend(std::iter::repeat_n(b'v', 4000));
    let mut bomb = insert.clone();
    bomb.extend(std::iter::repeat_n(0x80 | 62, 250_000));
    hpack::check_decoder(&bomb, &[]);
    // Also across blocks: the entry from one block, the references in the next.
    hpack::check_decoder(&insert, &[&bomb[insert.len()..]]);
}
