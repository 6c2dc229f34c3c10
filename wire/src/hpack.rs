//! Just enough HPACK (RFC 7541) to follow a peer's encoder: a full decoder
//! (static and dynamic tables, Huffman) and an encoder that only writes
//! literals without indexing, so it never touches the receiver's table.
//!
//! Written here because no crate fits: `h2` keeps its HPACK code private, and
//! `httlib-hpack` 0.1.3 panics on truncated blocks (`[0xff]`, `[0x40]`: unchecked indexing
//! in its integer and string decoding), accepts invalid Huffman padding and table size
//! updates after a field, and does not report size updates at all, though they change the
//! table as an insertion does.

use std::collections::VecDeque;
use std::sync::OnceLock;

/// One decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// Sent as "never indexed"; re-encoded the same way.
    pub sensitive: bool,
}

/// A decoded header block.
#[derive(Debug)]
pub struct Decoded {
    pub fields: Vec<Field>,
    /// The block changed the dynamic table (an insertion or a size update).
    pub mutated: bool,
}

/// The initial SETTINGS_HEADER_TABLE_SIZE.
const DEFAULT_TABLE_SIZE: usize = 4096;
/// A table size update larger than this is treated as garbage: the encoder may use no more
/// than the decoder's SETTINGS_HEADER_TABLE_SIZE, 4096 in every mainstream HTTP/2 stack.
pub const MAX_TABLE_SIZE: usize = 64 << 10;
/// The largest decoded block (names, values and 32 bytes per field, as
/// SETTINGS_MAX_HEADER_LIST_SIZE counts), 16 times hyper's and grpc-core's 16 KiB default.
/// Without it a block of one-byte references to a 4 KiB entry decodes 4000-fold.
pub const MAX_HEADER_LIST_SIZE: usize = 256 << 10;
/// Per-entry overhead (RFC 7541, 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// A decoder's dynamic table.
#[derive(Debug)]
pub struct Decoder {
    /// Newest first.
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self { table: VecDeque::new(), size: 0, max_size: DEFAULT_TABLE_SIZE }
    }
}

impl Decoder {
    /// Decodes one complete header block, updating the dynamic table.
    pub fn decode(&mut self, block: &[u8]) -> Result<Decoded, String> {
        let mut fields = Vec::new();
        let mut mutated = false;
        let mut pos = 0;
        let mut list_size = 0;
        while let Some(&first) = block.get(pos) {
            let field = if first & 0x80 != 0 {
                let index = integer(block, &mut pos, 7)?;
                let (name, value) = self.entry(index)?;
                Field { name, value, sensitive: false }
            } else if first & 0x40 != 0 {
                let (name, value) = self.literal(block, &mut pos, 6)?;
                self.insert(name.clone(), value.clone());
                mutated = true;
                Field { name, value, sensitive: false }
            } else if first & 0x20 != 0 {
                if !fields.is_empty() {
                    return Err("table size update after a header field".to_owned());
                }
                let size = integer(block, &mut pos, 5)?;
                if size > MAX_TABLE_SIZE {
                    return Err(format!("table size update to {size}"));
                }
                self.max_size = size;
                self.evict(0);
                mutated = true;
                continue;
            } else {
                let sensitive = first & 0x10 != 0;
                let (name, value) = self.literal(block, &mut pos, 4)?;
                Field { name, value, sensitive }
            };
            list_size += ENTRY_OVERHEAD + field.name.len() + field.value.len();
            if list_size > MAX_HEADER_LIST_SIZE {
                return Err("header list too large".to_owned());
            }
            fields.push(field);
        }
        Ok(Decoded { fields, mutated })
    }

    /// A literal representation: an indexed or literal name, then a value.
    fn literal(&self, block: &[u8], pos: &mut usize, prefix: u8) -> Result<(Vec<u8>, Vec<u8>), String> {
        let index = integer(block, pos, prefix)?;
        let name = if index == 0 { string(block, pos)? } else { self.entry(index)?.0 };
        let value = string(block, pos)?;
        Ok((name, value))
    }

    fn entry(&self, index: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
        if let Some(&(name, value)) = index.checked_sub(1).and_then(|i| STATIC_TABLE.get(i)) {
            return Ok((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        }
        index
            .checked_sub(STATIC_TABLE.len() + 1)
            .and_then(|i| self.table.get(i))
            .cloned()
            .ok_or_else(|| format!("no table entry {index}"))
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = ENTRY_OVERHEAD + name.len() + value.len();
        if size > self.max_size {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front((name, value));
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.table.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= ENTRY_OVERHEAD + name.len() + value.len();
        }
    }
}

/// An integer with an N-bit prefix (RFC 7541, 5.1).
fn integer(block: &[u8], pos: &mut usize, prefix: u8) -> Result<usize, String> {
    let mask = (1u8 << prefix) - 1;
    let first = block.get(*pos).ok_or("truncated integer")? & mask;
    *pos += 1;
    if first < mask {
        return Ok(usize::from(first));
    }
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let byte = *block.get(*pos).ok_or("truncated integer")?;
        *pos += 1;
        if shift > 28 {
            return Err("integer too large".to_owned());
        }
        value += u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    usize::try_from(value).map_err(|_| "integer too large".to_owned())
}

/// A string literal, Huffman-coded or not (RFC 7541, 5.2).
fn string(block: &[u8], pos: &mut usize) -> Result<Vec<u8>, String> {
    let huffman = block.get(*pos).ok_or("truncated string")? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let end = pos.checked_add(len).filter(|end| *end <= block.len()).ok_or("truncated string")?;
    let raw = &block[*pos..end];
    *pos = end;
    if huffman { huffman_decode(raw) } else { Ok(raw.to_vec()) }
}

fn write_integer(out: &mut Vec<u8>, flags: u8, prefix: u8, value: usize) {
    let mask = (1u8 << prefix) - 1;
    if value < usize::from(mask) {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask);
    let mut rest = value - usize::from(mask);
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    write_integer(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// Encodes fields as literals with literal names, never indexed when
/// sensitive and without indexing otherwise: the receiver's dynamic
/// table is never used or changed.
pub fn encode_literals(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.push(if field.sensitive { 0x10 } else { 0x00 });
        write_string(&mut out, &field.name);
        write_string(&mut out, &field.value);
    }
    out
}

/// A node of the Huffman decoding tree: children for bit 0 and bit 1;
/// `LEAF | symbol` for a leaf, another node's index otherwise, 0 for none
/// (no child points back at the root).
type Node = [u16; 2];
const LEAF: u16 = 0x8000;

fn huffman_tree() -> &'static [Node] {
    static TREE: OnceLock<Vec<Node>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes: Vec<Node> = vec![[0, 0]];
        for (symbol, (&code, &len)) in HUFFMAN_CODES.iter().zip(&HUFFMAN_CODE_LENGTHS).enumerate() {
            let mut node = 0;
            for i in (0..len).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[node][bit] = LEAF | symbol as u16;
                } else {
                    if nodes[node][bit] == 0 {
                        nodes.push([0, 0]);
                        nodes[node][bit] = (nodes.len() - 1) as u16;
                    }
                    node = usize::from(nodes[node][bit]);
                }
            }
        }
        nodes
    })
}

fn huffman_decode(input: &[u8]) -> Result<Vec<u8>, String> {
    let tree = huffman_tree();
    let mut out = Vec::with_capacity(input.len() * 8 / 5);
    let mut node = 0usize;
    let mut pending_bits = 0;
    let mut pending_ones = true;
    for &byte in input {
        for i in (0..8).rev() {
            let bit = usize::from((byte >> i) & 1);
            let next = tree.get(node).map_or(0, |children| children[bit]);
            if next == 0 {
                return Err("invalid Huffman code".to_owned());
            }
            if next & LEAF != 0 {
                out.push((next & 0xff) as u8);
                node = 0;
                pending_bits = 0;
                pending_ones = true;
            } else {
                node = usize::from(next);
                pending_bits += 1;
                pending_ones &= bit == 1;
            }
        }
    }
    if pending_bits > 7 || !pending_ones {
        return Err("invalid Huffman padding".to_owned());
    }
    Ok(out)
}

/// RFC 7541, Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

// RFC 7541, Appendix B: the code and its length in bits for each byte
// (the EOS symbol is left out: a string containing it is invalid).
const HUFFMAN_CODES: [u32; 256] = [
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea,
    0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef,
    0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7,
    0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa,
    0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18, 0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd,
    0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74,
    0x75, 0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe,
    0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5,
    0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf, 0xffffec,
    0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8,
    0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc,
    0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb,
    0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea,
    0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb,
    0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf,
    0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2,
    0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec,
    0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee,
    0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed,
    0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee,
    0x7ffffef, 0x7fffff0, 0x3ffffee,
];
const HUFFMAN_CODE_LENGTHS: [u8; 256] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6,
    6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7,
    8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7,
    15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24,
    23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23,
    23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26,
    26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20,
    21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27,
    27, 27, 26,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn pairs(fields: &[Field]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|f| {
                (String::from_utf8(f.name.clone()).unwrap(), String::from_utf8(f.value.clone()).unwrap())
            })
            .collect()
    }

    fn expected(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn hpack_rfc7541_c3_requests_without_huffman() {
        let mut decoder = Decoder::default();
        let first = decoder.decode(&hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")).unwrap();
        assert!(first.mutated);
        assert_eq!(
            pairs(&first.fields),
            expected(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        let second = decoder.decode(&hex("8286 84be 5808 6e6f 2d63 6163 6865")).unwrap();
        assert_eq!(
            pairs(&second.fields),
            expected(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ])
        );
    }

    #[test]
    fn hpack_rfc7541_c4_huffman() {
        let mut decoder = Decoder::default();
        let block = decoder.decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")).unwrap();
        assert_eq!(
            pairs(&block.fields),
            expected(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        // The indexed entry from the first block is usable (index 62 = newest).
        let again = decoder.decode(&hex("be")).unwrap();
        assert!(!again.mutated);
        assert_eq!(pairs(&again.fields), expected(&[(":authority", "www.example.com")]));
    }

    #[test]
    fn hpack_literal_encoding_round_trips_without_touching_the_table() {
        let fields = vec![
            Field { name: b":status".to_vec(), value: b"200".to_vec(), sensitive: false },
            Field { name: b"grpc-status".to_vec(), value: b"0".to_vec(), sensitive: false },
            Field { name: b"secret".to_vec(), value: vec![b'x'; 300], sensitive: true },
        ];
        let mut decoder = Decoder::default();
        let decoded = decoder.decode(&encode_literals(&fields)).unwrap();
        assert_eq!(decoded.fields, fields);
        assert!(!decoded.mutated);
        assert!(decoder.decode(&hex("be")).is_err(), "nothing was inserted");
    }

    #[test]
    fn hpack_rejects_garbage_without_panicking() {
        for block in
            [&[0xff_u8][..], &[0x80], &[0x40, 0x85, 0xff], &[0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]]
        {
            assert!(Decoder::default().decode(block).is_err(), "{block:?}");
        }
        // Truncated blocks that make httlib-hpack 0.1.3 panic, and a Huffman string padded
        // with zeros, which it accepts.
        for block in [&[0x40_u8][..], &[0x3f, 0xff], &[0x00, 0x81, 0x00, 0x00]] {
            assert!(Decoder::default().decode(block).is_err(), "{block:?}");
        }
        // A size update after a field is invalid.
        assert!(Decoder::default().decode(&[0x82, 0x20]).is_err());
    }
}
