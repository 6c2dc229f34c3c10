//! Transcript lines (`faultline_conformance::transcript`): the committed grpcio transcripts,
//! mutated as JSON (numbers set huge or negative, strings replaced, keys dropped, messages
//! whose `len` lies or whose zlib data is a bomb) and as bytes; the properties of
//! `parse_case` on them.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use faultline_conformance::transcript::{Call, EventKind, Message, parse_case};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::alloc;

/// Every committed transcript: (case id, file text).
pub fn committed() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/transcripts");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the committed transcripts") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let id = path.file_stem().expect("a file name").to_string_lossy().into_owned();
            out.push((id, std::fs::read_to_string(&path).expect("a transcript")));
        }
    }
    out.sort();
    out
}

/// zlib of `bytes`, base64.
fn zlib_b64(bytes: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).expect("writing to a Vec");
    STANDARD.encode(z.finish().expect("writing to a Vec"))
}

/// A change to one JSON line, at a place picked among its values.
#[derive(Debug, Clone)]
pub enum Edit {
    /// A number set to one of `NUMBERS`, or a value replaced by a number.
    Number { at: Index, to: Index },
    /// A value replaced by a string (garbage base64 among them).
    Text { at: Index, to: Index },
    /// A key of an object removed.
    Remove { at: Index },
    /// A message made a zlib one whose data inflates to `inflates` bytes and whose `len` says
    /// `len` (one of `NUMBERS` or the truth).
    Zlib { at: Index, inflates: usize, len: Option<Index> },
}

/// Numbers a field may be set to.
pub const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "0.5",
];

const TEXTS: &[&str] = &["", "x", "====", "AAAA", "////", "client", "server", "message", "reset", "\u{0}"];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Edit::Number { at, to }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Edit::Text { at, to }),
        1 => any::<Index>().prop_map(|at| Edit::Remove { at }),
        2 => (any::<Index>(), prop_oneof![Just(0usize), 1usize..70_000, Just(1 << 20)], proptest::option::of(any::<Index>()))
            .prop_map(|(at, inflates, len)| Edit::Zlib { at, inflates, len }),
    ]
}

/// Edits to a line, in order.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..4)
}

/// Every value in `v`, depth first, as JSON pointers.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointers(child, format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// `line` with `edits` applied.
pub fn apply(line: &str, edits: &[Edit]) -> String {
    let mut value: Value = serde_json::from_str(line).expect("a committed line is JSON");
    for edit in edits {
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        match edit {
            Edit::Number { at, to } => {
                let number = NUMBERS[to.index(NUMBERS.len())];
                *value.pointer_mut(&all[at.index(all.len())]).expect("a pointer") =
                    serde_json::from_str(number).unwrap_or(Value::Null);
            }
            Edit::Text { at, to } => {
                *value.pointer_mut(&all[at.index(all.len())]).expect("a pointer") =
                    Value::String(TEXTS[to.index(TEXTS.len())].to_owned());
            }
            Edit::Remove { at } => {
                let pointer = &all[at.index(all.len())];
                if let Some((parent, key)) = pointer.rsplit_once('/')
                    && let Some(Value::Object(map)) = value.pointer_mut(parent)
                {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
            }
            Edit::Zlib { at, inflates, len } => {
                let messages: Vec<&String> =
                    all.iter().filter(|p| p.ends_with("/b64") || p.ends_with("/zlib_b64")).collect();
                if messages.is_empty() {
                    continue;
                }
                let parent = messages[at.index(messages.len())].rsplit_once('/').expect("a message field").0;
                let len = len.map_or(inflates.to_string(), |i| NUMBERS[i.index(NUMBERS.len())].to_owned());
                zlib_message(&mut value, parent, *inflates, &len);
            }
        }
    }
    value.to_string()
}

/// Makes the message at `pointer` a zlib one inflating to `inflates` zero bytes, with `len`.
fn zlib_message(value: &mut Value, pointer: &str, inflates: usize, len: &str) {
    if let Some(Value::Object(map)) = value.pointer_mut(pointer) {
        map.remove("b64");
        map.insert("zlib_b64".to_owned(), Value::String(zlib_b64(&vec![0u8; inflates])));
        map.insert("len".to_owned(), serde_json::from_str(len).unwrap_or(Value::Null));
    }
}

/// `line` with its first message made a zlib one inflating to `inflates` bytes, with `len`.
pub fn zlib_first_message(line: &str, inflates: usize, len: &str) -> String {
    let mut value: Value = serde_json::from_str(line).expect("a committed line is JSON");
    let mut all = Vec::new();
    pointers(&value, String::new(), &mut all);
    if let Some(field) = all.iter().find(|p| p.ends_with("/b64")) {
        zlib_message(&mut value, field.rsplit_once('/').expect("a message field").0, inflates, len);
    }
    value.to_string()
}

/// `parse_case` on any text: no panic, and memory bounded by the text. zlib data may inflate
/// 1032-fold (deflate's limit), so the bound per byte is that.
pub fn check_parse(id: &str, text: &str) {
    let path = Path::new("fuzz.jsonl");
    let parsed =
        alloc::assert_bounded("parse_case", text.len(), 2048, 64 << 10, || parse_case(path, id, text));
    if let Ok(calls) = parsed {
        for (i, call) in calls.iter().enumerate() {
            assert_eq!((call.case_id.as_str(), call.call), (id, i));
        }
        check_round_trip(id, &calls);
    }
}

/// Calls written as lines read back equal.
pub fn check_round_trip(id: &str, calls: &[Call]) {
    let text: String =
        calls.iter().map(|c| serde_json::to_string(c).expect("a call serialises") + "\n").collect();
    let again = parse_case(Path::new("fuzz.jsonl"), id, &text).expect("written calls read back");
    assert_eq!(again, calls);
}

/// `call` with its messages' bytes replaced by `bodies` (cycled; long ones go out as zlib).
pub fn with_bodies(call: &Call, bodies: &[Vec<u8>]) -> Call {
    let mut call = call.clone();
    let mut next = bodies.iter().cycle();
    for event in &mut call.events {
        if let EventKind::Message(message) = &mut event.kind
            && let Some(body) = next.next()
        {
            *message = Message { bytes: Bytes::from(body.clone()), ..message.clone() };
        }
    }
    call
}
