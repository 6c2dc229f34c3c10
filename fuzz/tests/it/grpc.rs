//! The gRPC length prefix: `Scanner` and `Deframer`.

use faultline_fuzz::grpc;
use faultline_fuzz::mutation::{cuts, mutated, pieces};
use faultline_wire::grpc::encode_raw;
use proptest::prelude::*;

use crate::config::cases;

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn valid_messages_read_back_whatever_the_cuts((messages, sample) in grpc::messages(), cuts in cuts()) {
        let parts = pieces(&sample.bytes, &cuts);
        grpc::check_round_trip(&messages, &parts);
        grpc::check_scanner(&sample.bytes, &parts);
        grpc::check_deframer(&sample.bytes, &parts);
    }

    #[test]
    fn mutated_streams_read_as_the_format_says(
        input in mutated(grpc::messages().prop_map(|m| m.1), grpc::pieces()),
        cuts in cuts(),
    ) {
        let parts = pieces(&input, &cuts);
        grpc::check_scanner(&input, &parts);
        grpc::check_deframer(&input, &parts);
    }
}

/// A prefix announcing 2^32-1 bytes, then a trickle: nothing is held ahead of the bytes.
#[test]
fn a_prefix_of_four_gib_holds_only_what_arrived() {
    let mut input = encode_raw(0, u32::MAX, &[]).to_vec();
    input.extend_from_slice(&[7; 64]);
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    grpc::check_scanner(&input, &bytewise);
    grpc::check_deframer(&input, &bytewise);
}
