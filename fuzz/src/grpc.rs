//! gRPC length-prefixed streams (`faultline_wire::grpc`): generated messages, and the
//! properties of `Scanner` and `Deframer` on any bytes, checked against a plain reading of the
//! format written here.

use faultline_wire::grpc::{self, Deframer, Mark, PREFIX_LEN, Prefix, Scanner};
use proptest::prelude::*;

use crate::alloc;
use crate::mutation::Sample;

/// One message as generated: its flag byte and its bytes.
pub type MessageSpec = (u8, Vec<u8>);

/// Messages with flag 0, 1 or garbage, of 0 to 40 bytes.
pub fn messages() -> impl Strategy<Value = (Vec<MessageSpec>, Sample)> {
    let flag = prop_oneof![4 => Just(0u8), 1 => Just(1u8), 1 => any::<u8>()];
    let message = (flag, proptest::collection::vec(any::<u8>(), 0..40));
    proptest::collection::vec(message, 0..10).prop_map(|messages| {
        let mut sample = Sample::default();
        for (flag, body) in &messages {
            sample.append(&grpc::encode_raw(*flag, body.len() as u32, body), &[(1, 4)]);
        }
        (messages, sample)
    })
}

/// Hostile pieces to insert: prefixes announcing up to 4 GiB.
pub fn pieces() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), prop_oneof![Just(u32::MAX), Just(4 << 20), any::<u32>()])
        .prop_map(|(flag, len)| grpc::encode_raw(flag, len, &[]).to_vec())
        .boxed()
}

/// The format read plainly, all bytes at once: every boundary (absolute offsets) and every
/// whole message, and where the unfinished rest starts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plain {
    pub marks: Vec<(usize, Option<Prefix>)>,
    pub messages: Vec<(bool, Vec<u8>)>,
    pub consumed: usize,
}

/// Reads `input` as the format says, with no state kept between pieces.
pub fn plain(input: &[u8]) -> Plain {
    let mut out = Plain::default();
    let mut pos = 0;
    while let Some(head) = input.get(pos..pos + PREFIX_LEN) {
        let prefix = Prefix::parse(head.try_into().expect("five bytes"));
        let start = pos + PREFIX_LEN;
        out.marks.push((start, Some(prefix)));
        let Some(end) = start.checked_add(prefix.len as usize).filter(|end| *end <= input.len()) else {
            return out;
        };
        out.marks.push((end, None));
        out.messages.push((prefix.compressed, input[start..end].to_vec()));
        pos = end;
        out.consumed = end;
    }
    out
}

/// A scanner's marks over `pieces`, at their offsets in the whole input.
fn scan(pieces: &[&[u8]]) -> (Vec<(usize, Option<Prefix>)>, Scanner) {
    let mut scanner = Scanner::default();
    let mut marks = Vec::new();
    let mut base = 0;
    for piece in pieces {
        scanner.scan(piece, |mark| {
            marks.push(match mark {
                Mark::Prefix { at, prefix } => (base + at, Some(prefix)),
                Mark::End { at } => (base + at, None),
            });
            true
        });
        base += piece.len();
    }
    (marks, scanner)
}

/// `Scanner` on any bytes: the plain reading's boundaries whatever the cuts, its message count
/// and state, the same after stopping at any mark and resuming there, and no allocation.
pub fn check_scanner(input: &[u8], pieces: &[&[u8]]) {
    let want = plain(input);
    let ends = want.messages.len() as u64;
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    for cut in [&[input][..], pieces, &bytewise] {
        let (marks, scanner) = scan(cut);
        assert_eq!(marks, want.marks, "cut at {:?}", cut.iter().map(|p| p.len()).collect::<Vec<_>>());
        assert_eq!(scanner.messages(), ends);
        assert_eq!(scanner.at_boundary(), want.consumed == input.len());
    }
    let (_, held) = alloc::peak_during(|| {
        let mut count = 0usize;
        Scanner::default().scan(input, |_| {
            count += 1;
            true
        });
        count
    });
    assert_eq!(held, 0, "the scanner keeps no bytes");
    // Stopping at the k-th mark and feeding the rest from there changes nothing.
    for stop in 0..want.marks.len() {
        let mut scanner = Scanner::default();
        let mut marks = Vec::new();
        let mut seen = 0;
        let finished = scanner.scan(input, |mark| {
            marks.push(mark_at(mark, 0));
            seen += 1;
            seen <= stop
        });
        assert!(!finished);
        let resume = marks.last().expect("stopped on a mark").0;
        scanner.scan(&input[resume..], |mark| {
            marks.push(mark_at(mark, resume));
            true
        });
        assert_eq!(marks, want.marks, "stopped after mark {stop}");
    }
}

fn mark_at(mark: Mark, base: usize) -> (usize, Option<Prefix>) {
    match mark {
        Mark::Prefix { at, prefix } => (base + at, Some(prefix)),
        Mark::End { at } => (base + at, None),
    }
}

/// `Deframer` on any bytes: the plain reading's messages whatever the cuts, the rest pending,
/// and memory bounded by the input, whatever length a prefix announces.
pub fn check_deframer(input: &[u8], pieces: &[&[u8]]) {
    let want = plain(input);
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    for cut in [&[input][..], pieces, &bytewise] {
        let (got, pending) = alloc::assert_bounded("Deframer", input.len(), 16, 1024, || {
            let mut deframer = Deframer::default();
            let got: Vec<_> = cut.iter().flat_map(|piece| deframer.push(piece)).collect();
            (got, deframer.pending())
        });
        let got: Vec<(bool, Vec<u8>)> = got.into_iter().map(|m| (m.compressed, m.bytes.to_vec())).collect();
        assert_eq!(got, want.messages);
        assert_eq!(pending, input.len() - want.consumed);
    }
}

/// Encoded messages come back as they were, from the deframer and the scanner alike.
pub fn check_round_trip(messages: &[MessageSpec], pieces: &[&[u8]]) {
    let mut deframer = Deframer::default();
    let got: Vec<_> = pieces.iter().flat_map(|piece| deframer.push(piece)).collect();
    assert_eq!(got.len(), messages.len());
    for (message, (flag, body)) in got.iter().zip(messages) {
        assert_eq!((message.compressed, &message.bytes[..]), (*flag != 0, &body[..]));
    }
    assert_eq!(deframer.pending(), 0);
    let (_, scanner) = scan(pieces);
    assert_eq!(scanner.messages(), messages.len() as u64);
    assert!(scanner.at_boundary());
    for (_, body) in messages.iter().filter(|(flag, _)| *flag == 0) {
        assert_eq!(grpc::encode(body)[..], grpc::encode_raw(0, body.len() as u32, body)[..]);
    }
}
