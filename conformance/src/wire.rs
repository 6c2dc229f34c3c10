//! gRPC over raw HTTP/2 (the `h2` crate): message framing, header lists, the event log a replay
//! keeps, and the causal schedule a transcript implies.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bytes::Bytes;
use faultline_wire::grpc;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::rules::{Rules, binary_value};
use crate::transcript::{Call, CallStatus, Dir, Event, EventKind, Header, Message, StatusSource};

/// A message with its 5-byte gRPC length prefix (as recorded: the compression flag too).
pub fn frame(m: &Message) -> Bytes {
    grpc::encode_raw(u8::from(m.compressed), u32::try_from(m.bytes.len()).unwrap_or(u32::MAX), &m.bytes)
}

/// Cuts length-prefixed messages out of a stream's DATA bytes.
#[derive(Debug, Default)]
pub struct Deframer(grpc::Deframer);

impl Deframer {
    /// Adds bytes; returns every message now complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<Message> {
        self.0.push(data).into_iter().map(|m| Message::from_bytes(m.compressed, m.bytes)).collect()
    }
}

/// A header map as a transcript list (values Latin-1 decoded, as the recorder does).
pub fn header_list(pseudo: Vec<Header>, map: &HeaderMap) -> Vec<Header> {
    let mut out = pseudo;
    for (name, value) in map {
        out.push((name.as_str().to_owned(), value.as_bytes().iter().map(|&b| char::from(b)).collect()));
    }
    out
}

/// A transcript header list as a header map, pseudo-headers left out. Binary values go out as
/// unpadded base64, as to a peer that has not offered grpc-core's true-binary extension.
pub fn header_map(list: &[Header]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in list.iter().filter(|(n, _)| !n.starts_with(':')) {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else { continue };
        let value = if name.as_str().ends_with("-bin") {
            binary_value(value).map(|b| STANDARD_NO_PAD.encode(b)).unwrap_or_else(|| value.clone())
        } else {
            value.clone()
        };
        let bytes: Vec<u8> = value.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            map.append(name, value);
        }
    }
    map
}

/// The status a trailers block carries, if any (grpc-message percent-decoded).
pub fn trailer_status(trailers: &[Header]) -> Option<CallStatus> {
    let get = |k: &str| trailers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let code: i32 = get("grpc-status")?.trim().parse().ok()?;
    let message = percent_encoding::percent_decode_str(get("grpc-message").unwrap_or(""))
        .decode_utf8_lossy()
        .into_owned();
    Some(CallStatus::new(tonic::Code::from(code), message, StatusSource::Server))
}

/// The events a replay sees, numbered per direction as the recorder numbers them.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    /// Appends an event.
    pub fn push(&self, dir: Dir, kind: EventKind) {
        let mut events = self.events.lock().expect("event log lock");
        let seq = events.iter().filter(|e| e.dir == dir).count();
        events.push(Event { dir, seq, kind });
    }

    /// How many events of `dir` there are; with `messages_only`, messages only.
    pub fn count(&self, dir: Dir, messages_only: bool) -> usize {
        let events = self.events.lock().expect("event log lock");
        events
            .iter()
            .filter(|e| e.dir == dir && (!messages_only || matches!(e.kind, EventKind::Message(_))))
            .count()
    }

    /// Every event so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("event log lock"))
    }
}

/// One side's part of a transcript, in order, each step with how much of the other side's
/// traffic came before it. Replaying a step only after that much has arrived keeps every
/// reaction after its cause, whatever the network does.
#[derive(Debug, Clone)]
pub struct Step {
    /// Events of the other side (compared ones) captured before this one.
    pub after_other: usize,
    /// Messages of the other side captured before this one.
    pub after_other_messages: usize,
    pub kind: EventKind,
}

/// The steps of `dir` in `call`, after normalisation rules.
pub fn script(call: &Call, rules: &Rules, dir: Dir) -> Vec<Step> {
    let mut other = 0;
    let mut other_messages = 0;
    let mut steps = Vec::new();
    for e in rules.events(call) {
        if e.dir == dir {
            steps.push(Step {
                after_other: other,
                after_other_messages: other_messages,
                kind: e.kind.clone(),
            });
        } else {
            other += 1;
            if matches!(e.kind, EventKind::Message(_)) {
                other_messages += 1;
            }
        }
    }
    steps
}

/// The gRPC status an HTTP/2 stream error maps to on the client (per the gRPC spec's table).
pub fn reset_status(reason: Option<h2::Reason>) -> CallStatus {
    let code = match reason {
        Some(h2::Reason::CANCEL) => tonic::Code::Cancelled,
        Some(h2::Reason::REFUSED_STREAM) => tonic::Code::Unavailable,
        Some(h2::Reason::ENHANCE_YOUR_CALM) => tonic::Code::ResourceExhausted,
        _ => tonic::Code::Internal,
    };
    let what = reason.map_or_else(|| "connection lost".to_owned(), |r| format!("stream reset: {r:?}"));
    CallStatus::new(code, what, StatusSource::Client)
}

/// The HTTP/2 error name of a reset, as the recorder writes it (h2's name, or the number).
pub fn reason_name(reason: h2::Reason) -> String {
    let name = format!("{reason:?}");
    if name.starts_with("Reason(") { u32::from(reason).to_string() } else { name }
}
