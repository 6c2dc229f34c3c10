//! Valid encodings, mutated the ways hostile or broken peers mutate them: bit flips,
//! truncation, deletions, insertions, splices of the input with itself, and length fields set
//! to huge or off-by-one values.

use proptest::prelude::*;
use proptest::sample::Index;

/// A valid encoding, and where its fixed-width length fields are.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub bytes: Vec<u8>,
    /// `(offset, width)` of each big-endian length field in `bytes`.
    pub lengths: Vec<(usize, usize)>,
}

impl Sample {
    /// Appends an encoding whose length fields are at `lengths` relative to its start.
    pub fn append(&mut self, bytes: &[u8], lengths: &[(usize, usize)]) {
        let base = self.bytes.len();
        self.lengths.extend(lengths.iter().map(|&(at, width)| (base + at, width)));
        self.bytes.extend_from_slice(bytes);
    }
}

/// The value a length field is set to.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// Every bit set: 2^24-1 for a frame length, 2^32-1 for a gRPC prefix.
    Max,
    /// Only the top bit set.
    Top,
    /// The true value moved by a little (off by one, or a few).
    Shift(i8),
    /// Anything.
    Any(u64),
}

/// One change to an encoding.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Sets a length field (applied before the changes below, which move offsets).
    Lie {
        field: Index,
        value: Length,
    },
    FlipBit {
        at: Index,
        bit: u8,
    },
    Truncate {
        at: Index,
    },
    Delete {
        at: Index,
        len: usize,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    /// Copies `len` bytes from one place of the input to another.
    Splice {
        from: Index,
        len: usize,
        to: Index,
    },
    /// Writes a big-endian `u32` anywhere (length fields the sample does not know).
    Overwrite {
        at: Index,
        value: u32,
    },
}

fn length() -> impl Strategy<Value = Length> {
    prop_oneof![
        2 => Just(Length::Max),
        1 => Just(Length::Top),
        2 => (-3i8..=3).prop_map(Length::Shift),
        1 => any::<u64>().prop_map(Length::Any),
    ]
}

/// Mutations whose insertions are random bytes or `pieces` (format-specific hostile bytes).
pub fn mutation(pieces: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![Just(u32::MAX), Just(0x7fff_ffff), Just(0x00ff_ffff), any::<u32>()];
    prop_oneof![
        3 => (any::<Index>(), length()).prop_map(|(field, value)| Mutation::Lie { field, value }),
        2 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<Index>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<Index>(), prop_oneof![proptest::collection::vec(any::<u8>(), 1..8), pieces])
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<Index>(), 1usize..64, any::<Index>()).prop_map(|(from, len, to)| Mutation::Splice { from, len, to }),
        1 => (any::<Index>(), huge).prop_map(|(at, value)| Mutation::Overwrite { at, value }),
    ]
}

/// `sample`'s bytes after `mutations`.
pub fn apply(sample: &Sample, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = sample.bytes.clone();
    for m in mutations {
        if let Mutation::Lie { field, value } = m
            && !sample.lengths.is_empty()
        {
            let (at, width) = sample.lengths[field.index(sample.lengths.len())];
            lie(&mut bytes[at..at + width], *value);
        }
    }
    for m in mutations {
        let n = bytes.len();
        match m {
            Mutation::Lie { .. } => {}
            Mutation::FlipBit { at, bit } if n > 0 => bytes[at.index(n)] ^= 1 << bit,
            Mutation::Truncate { at } => bytes.truncate(at.index(n + 1)),
            Mutation::Delete { at, len } if n > 0 => {
                let start = at.index(n);
                bytes.drain(start..(start + len).min(n));
            }
            Mutation::Insert { at, bytes: piece } => {
                let at = at.index(n + 1);
                bytes.splice(at..at, piece.iter().copied());
            }
            Mutation::Splice { from, len, to } if n > 0 => {
                let start = from.index(n);
                let piece = bytes[start..(start + len).min(n)].to_vec();
                let to = to.index(n + 1);
                bytes.splice(to..to, piece);
            }
            Mutation::Overwrite { at, value } if n >= 4 => {
                let at = at.index(n - 3);
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            _ => {}
        }
    }
    bytes
}

fn lie(field: &mut [u8], value: Length) {
    let bits = 8 * field.len() as u32;
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let now = field.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let new = match value {
        Length::Max => mask,
        Length::Top => 1 << (bits - 1),
        Length::Shift(by) => now.wrapping_add_signed(i64::from(by)) & mask,
        Length::Any(v) => v & mask,
    };
    let width = field.len();
    for (i, byte) in field.iter_mut().enumerate() {
        *byte = (new >> (8 * (width - 1 - i))) as u8;
    }
}

/// A sample's bytes, mutated 0 to 4 times (0: the valid encoding itself).
pub fn mutated(
    sample: impl Strategy<Value = Sample>,
    pieces: BoxedStrategy<Vec<u8>>,
) -> impl Strategy<Value = Vec<u8>> {
    (sample, proptest::collection::vec(mutation(pieces), 0..5)).prop_map(|(s, m)| apply(&s, &m))
}

/// Cut points for feeding a streaming decoder in pieces.
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 0..8)
}

/// `data` cut at `cuts` (positions taken modulo its length, sorted, repeats giving empty pieces).
pub fn pieces<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for cut in at {
        out.push(&data[start..cut]);
        start = cut;
    }
    out.push(&data[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lies_are_written_big_endian_in_place() {
        let sample = Sample { bytes: vec![9, 0, 0, 5, 9], lengths: vec![(1, 3)] };
        let mut field = [0, 0, 5];
        lie(&mut field, Length::Max);
        assert_eq!(field, [0xff; 3]);
        lie(&mut field, Length::Shift(1));
        assert_eq!(field, [0, 0, 0]);
        let mut field = [0, 5];
        lie(&mut field, Length::Shift(-6));
        assert_eq!(field, [0xff, 0xff]);
        assert_eq!(apply(&sample, &[]), sample.bytes);
        let data = [1, 2, 3, 4];
        assert_eq!(pieces(&data, &[]), vec![&data[..]]);
    }
}
