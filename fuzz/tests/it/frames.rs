//! `FrameReader` and the frame readers.

use faultline_fuzz::frames::{self, FrameSpec};
use faultline_fuzz::mutation::{self, cuts, mutated, pieces};
use faultline_wire::frame::{Frame, PREFACE, flag, kind};
use proptest::prelude::*;

use crate::config::cases;

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn valid_streams_read_back_whatever_the_cuts(
        client: bool,
        (specs, sample) in any::<bool>().prop_flat_map(frames::stream),
        cuts in cuts(),
    ) {
        let _ = client;
        let client = sample.bytes.starts_with(PREFACE);
        frames::check_round_trip(client, &specs, &sample.bytes, &pieces(&sample.bytes, &cuts));
        frames::check_reader(client, &sample.bytes, &pieces(&sample.bytes, &cuts));
    }

    #[test]
    fn mutated_streams_read_alike_whatever_the_cuts(
        client: bool,
        input in any::<bool>().prop_flat_map(|c| mutated(frames::stream(c).prop_map(|s| s.1), frames::pieces())),
        cuts in cuts(),
    ) {
        frames::check_reader(client, &input, &pieces(&input, &cuts));
    }

    #[test]
    fn frame_readers_take_any_frame(spec in frames::frame_spec(), flip in any::<proptest::sample::Index>()) {
        let mut frame = spec.frame().0.to_vec();
        let at = flip.index(frame.len());
        if at >= 9 {
            frame[at] ^= 0xff;
        }
        frames::check_frame(&Frame(frame.into()));
    }
}

/// Single cuts at every offset of a short stream, both sides.
#[test]
fn every_single_cut_reads_the_same() {
    let specs = [
        FrameSpec { kind: kind::SETTINGS, flags: 0, stream: 0, payload: vec![0, 4, 0, 0, 0xff, 0xff] },
        FrameSpec {
            kind: kind::HEADERS,
            flags: flag::PADDED | flag::END_HEADERS,
            stream: 1,
            payload: vec![2, 0x82, 0, 0],
        },
        FrameSpec { kind: kind::DATA, flags: flag::END_STREAM, stream: 1, payload: vec![0; 20] },
    ];
    for client in [false, true] {
        let mut wire = if client { PREFACE.to_vec() } else { Vec::new() };
        for spec in &specs {
            wire.extend_from_slice(&spec.frame().0);
        }
        for at in 0..=wire.len() {
            let parts = [&wire[..at], &wire[at..]];
            frames::check_round_trip(client, &specs, &wire, &parts);
            frames::check_reader(client, &wire[..at], &[&wire[..at]]);
        }
    }
}

/// A frame header announcing 2^24-1 bytes holds no more than what arrived (it reserved the
/// whole announced frame, 16 MiB per connection, before any payload).
#[test]
fn the_largest_announced_frame_reserves_nothing_ahead() {
    let header = [0xff, 0xff, 0xff, kind::DATA, 0, 0, 0, 0, 1];
    frames::check_reader(false, &header, &[&header[..]]);
    let mut wire = PREFACE.to_vec();
    wire.extend_from_slice(&header);
    wire.extend_from_slice(&[0; 100]);
    frames::check_reader(true, &wire, &mutation::pieces(&wire, &[]));
}
