//! Transcripts: what grpcio did, call by call, as recorded on the wire by `ci/recorder`.
//!
//! One file per case (`transcripts/<case>.jsonl`), one JSON line per call. The same [`Call`]
//! type also holds what the Rust side did in a replay, so recording and observation compare
//! field by field.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use faultline_wire::code_name;

use crate::framing::FrameInfo;

/// The transcript format this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Messages longer than this are stored zlib-compressed (as the recorder does).
const COMPRESS_OVER: usize = 64 * 1024;

/// One header field, `[name, value]`, as on the wire (values of `-bin` fields undecoded).
pub type Header = (String, String);

/// One gRPC call: its request, every event on the wire in capture order, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub schema_version: u32,
    pub case_id: String,
    /// Index of the call within its case.
    pub call: usize,
    /// grpcio's version when recorded; empty for an observation of the Rust side.
    pub grpcio_version: String,
    /// The gRPC path, `/package.Service/Method`.
    pub method: String,
    pub call_type: CallType,
    pub deadline_ms: Option<u64>,
    /// Custom metadata the client was given (`-bin` values base64), not the wire headers.
    pub request_metadata: Vec<Header>,
    /// The request's HEADERS frame, pseudo-headers included.
    pub request_headers: Vec<Header>,
    /// The response's first HEADERS frame; `None` for a trailers-only response or none at all.
    pub response_headers: Option<Vec<Header>>,
    /// Both directions in capture order (causal: a reaction always comes after its cause).
    pub events: Vec<Event>,
    /// The status the client reported.
    pub status: CallStatus,
    /// The trailing HEADERS frame (for trailers-only, the only one).
    pub trailers: Vec<Header>,
    pub trailers_only: bool,
    /// The server's frames on the call's stream, as a replay's tap saw them. Absent from
    /// recordings: the recorder keeps events, and the frame shape is derived from those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_frames: Option<Vec<FrameInfo>>,
}

/// The four kinds of gRPC call (and the one an unknown method is called as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallType {
    Unary,
    ServerStreaming,
    ClientStreaming,
    BidiStreaming,
}

/// Who sent an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dir {
    Client,
    Server,
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Client => "client",
            Dir::Server => "server",
        })
    }
}

/// One event on a call's HTTP/2 stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub dir: Dir,
    /// Position among this direction's events.
    pub seq: usize,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// A length-prefixed gRPC message.
    Message(Message),
    /// The client ended its stream (END_STREAM).
    HalfClose,
    /// The server's response headers went out.
    Headers,
    /// The server's trailers went out (ending the call).
    Trailers,
    /// RST_STREAM with an HTTP/2 error code (a client's CANCEL is a cancel).
    Reset { error_code: u32, error: String },
}

impl EventKind {
    /// Short name, as in the transcript's `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::HalfClose => "half-close",
            EventKind::Headers => "headers",
            EventKind::Trailers => "trailers",
            EventKind::Reset { .. } => "reset",
        }
    }
}

/// A gRPC message: its bytes (the record) and a JSON view (for people).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MessageRepr", into = "MessageRepr")]
pub struct Message {
    /// The compressed-flag byte of the length prefix.
    pub compressed: bool,
    pub bytes: Bytes,
    /// The message decoded as the method's type (strings over 256 characters abbreviated).
    pub json: Option<serde_json::Value>,
    /// Why the bytes do not decode as the method's type.
    pub decode_error: Option<String>,
}

impl Message {
    /// A message with no JSON view (an observation: the bytes are what is compared).
    pub fn from_bytes(compressed: bool, bytes: Bytes) -> Self {
        Self { compressed, bytes, json: None, decode_error: None }
    }
}

#[derive(Serialize, Deserialize)]
struct MessageRepr {
    compressed: bool,
    len: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zlib_b64: Option<String>,
    json: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decode_error: Option<String>,
}

impl TryFrom<MessageRepr> for Message {
    type Error = String;

    fn try_from(r: MessageRepr) -> Result<Self, String> {
        let bytes = match (r.b64, r.zlib_b64) {
            (Some(b64), None) => STANDARD.decode(b64).map_err(|e| format!("message b64: {e}"))?,
            (None, Some(z)) => {
                let packed = STANDARD.decode(z).map_err(|e| format!("message zlib_b64: {e}"))?;
                // Inflate no further than one byte past the claimed `len` (a mismatch either
                // way is refused below), and reserve nothing from it: `len` is untrusted.
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(packed.as_slice())
                    .take(u64::try_from(r.len).unwrap_or(u64::MAX).saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|e| format!("message zlib_b64: {e}"))?;
                out
            }
            _ => return Err("a message needs exactly one of `b64` and `zlib_b64`".to_owned()),
        };
        if bytes.len() != r.len {
            return Err(format!("message `len` is {} but its bytes are {}", r.len, bytes.len()));
        }
        Ok(Message {
            compressed: r.compressed,
            bytes: bytes.into(),
            json: r.json,
            decode_error: r.decode_error,
        })
    }
}

impl From<Message> for MessageRepr {
    fn from(m: Message) -> Self {
        let (b64, zlib_b64) = if m.bytes.len() > COMPRESS_OVER {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut z, &m.bytes).expect("writing to a Vec cannot fail");
            (None, Some(STANDARD.encode(z.finish().expect("writing to a Vec cannot fail"))))
        } else {
            (Some(STANDARD.encode(&m.bytes)), None)
        };
        MessageRepr {
            compressed: m.compressed,
            len: m.bytes.len(),
            b64,
            zlib_b64,
            json: m.json,
            decode_error: m.decode_error,
        }
    }
}

/// How a call ended, as its client reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    pub code: i32,
    /// The code's name, `DEADLINE_EXCEEDED` style.
    pub name: String,
    pub message: String,
    pub source: StatusSource,
}

impl CallStatus {
    /// A status with its code's canonical name.
    pub fn new(code: tonic::Code, message: impl Into<String>, source: StatusSource) -> Self {
        Self { code: code as i32, name: code_name(code).to_owned(), message: message.into(), source }
    }
}

/// Whether the status came from the server (trailers) or the client made it up (deadline, cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusSource {
    Server,
    Client,
}

/// A transcript that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: not a transcript line")]
    Json { path: PathBuf, line: usize, source: serde_json::Error },
    #[error(
        "{path}:{line}: transcript schema_version {found}, this build reads {SCHEMA_VERSION} (re-record with ci/conformance-record.sh)"
    )]
    SchemaVersion { path: PathBuf, line: usize, found: String },
    #[error("{path}:{line}: {reason}")]
    Invalid { path: PathBuf, line: usize, reason: String },
}

/// Every case's calls, by case id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscriptSet {
    pub cases: BTreeMap<String, Vec<Call>>,
}

impl TranscriptSet {
    /// Reads every `*.jsonl` in `dir`; each file is one case, named by its id.
    pub fn load(dir: &Path) -> Result<Self, TranscriptError> {
        let io = |source| TranscriptError::Io { path: dir.to_owned(), source };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut set = TranscriptSet::default();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| TranscriptError::Io { path: path.clone(), source })?;
            let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let calls = parse_case(&path, &id, &text)?;
            set.cases.insert(id, calls);
        }
        Ok(set)
    }

    /// Writes every case to `dir/<case>.jsonl`.
    pub fn write(&self, dir: &Path) -> Result<(), TranscriptError> {
        let io = |source| TranscriptError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        for (id, calls) in &self.cases {
            let mut text = String::new();
            for call in calls {
                text.push_str(&serde_json::to_string(call).expect("a call always serialises"));
                text.push('\n');
            }
            std::fs::write(dir.join(format!("{id}.jsonl")), text).map_err(io)?;
        }
        Ok(())
    }
}

/// Parses and checks one case file's lines.
pub fn parse_case(path: &Path, id: &str, text: &str) -> Result<Vec<Call>, TranscriptError> {
    let mut calls = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = n + 1;
        let invalid =
            |reason: String| TranscriptError::Invalid { path: path.to_owned(), line: line_no, reason };
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|source| TranscriptError::Json { path: path.to_owned(), line: line_no, source })?;
        // The version first: a line of another version fails on it, not on some field it renamed.
        match value.get("schema_version") {
            Some(v) if v.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
            found => {
                return Err(TranscriptError::SchemaVersion {
                    path: path.to_owned(),
                    line: line_no,
                    found: found.map_or_else(|| "missing".to_owned(), |v| v.to_string()),
                });
            }
        }
        let call: Call = serde_json::from_value(value).map_err(|source| TranscriptError::Json {
            path: path.to_owned(),
            line: line_no,
            source,
        })?;
        if call.case_id != id {
            return Err(invalid(format!("case_id `{}` in the file of case `{id}`", call.case_id)));
        }
        if call.call != calls.len() {
            return Err(invalid(format!("call {} where call {} was expected", call.call, calls.len())));
        }
        let mut next = [0usize; 2];
        for event in &call.events {
            let slot = &mut next[event.dir as usize];
            if event.seq != *slot {
                return Err(invalid(format!(
                    "{} event seq {} where {} was expected",
                    event.dir, event.seq, slot
                )));
            }
            *slot += 1;
        }
        calls.push(call);
    }
    if calls.is_empty() {
        return Err(TranscriptError::Invalid {
            path: path.to_owned(),
            line: 0,
            reason: "no calls".to_owned(),
        });
    }
    Ok(calls)
}
