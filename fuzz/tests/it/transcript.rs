//! Transcript lines: `parse_case`.

use faultline_conformance::transcript::parse_case;
use faultline_fuzz::mutation::{Sample, mutated};
use faultline_fuzz::transcript::{self, apply, edits};
use proptest::prelude::*;

use crate::config::cases;

/// (case id, line) of every committed transcript.
fn lines() -> Vec<(String, String)> {
    transcript::committed()
        .into_iter()
        .flat_map(|(id, text)| text.lines().map(|l| (id.clone(), l.to_owned())).collect::<Vec<_>>())
        .collect()
}

fn line() -> impl Strategy<Value = (String, String)> {
    proptest::sample::select(lines())
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn edited_lines_parse_or_fail_cleanly((id, line) in line(), edits in edits()) {
        transcript::check_parse(&id, &apply(&line, &edits));
    }

    #[test]
    fn mutated_lines_parse_or_fail_cleanly(
        (id, bytes) in line().prop_flat_map(|(id, line)| {
            let sample = Sample { bytes: line.into_bytes(), lengths: Vec::new() };
            (Just(id), mutated(Just(sample), proptest::sample::select(transcript::NUMBERS).prop_map(|n| n.as_bytes().to_vec()).boxed()))
        }),
    ) {
        transcript::check_parse(&id, &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn calls_with_any_message_bytes_round_trip(
        (id, line) in line(),
        bodies in proptest::collection::vec(
            prop_oneof![
                4 => proptest::collection::vec(any::<u8>(), 0..64),
                1 => (any::<u8>(), 60_000usize..70_000).prop_map(|(b, n)| vec![b; n]),
            ],
            1..4,
        ),
    ) {
        let calls = parse_case(std::path::Path::new("t.jsonl"), &id, &line).expect("a committed line");
        let call = transcript::with_bodies(&calls[0], &bodies);
        transcript::check_round_trip(&id, &[call]);
    }
}

/// A zlib message whose `len` claims 2^64-1 bytes, 1 TiB or 4 GiB: refused, holding no more
/// than its line (it reserved `len` bytes before inflating).
#[test]
fn a_zlib_message_claiming_a_huge_len_is_refused_without_reserving_it() {
    let all = lines();
    let (id, line) = all.iter().find(|(_, l)| l.contains("\"b64\"")).expect("a line with a message");
    for claim in ["18446744073709551615", "1099511627776", "4294967295"] {
        let edited = transcript::zlib_first_message(line, 10, claim);
        transcript::check_parse(id, &edited);
        assert!(parse_case(std::path::Path::new("t.jsonl"), id, &edited).is_err(), "len {claim}");
    }
    // The truth still reads.
    let honest = transcript::zlib_first_message(line, 10, "10");
    assert!(parse_case(std::path::Path::new("t.jsonl"), id, &honest).is_ok());
}
