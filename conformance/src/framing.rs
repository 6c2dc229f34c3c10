//! A response's HTTP/2 frames, as `faultline_wire::tap` sees them on the replay's connection,
//! and the frame shape a report compares.
//!
//! The `h2` client hides frames: a Trailers-Only response (one HEADERS frame with END_STREAM)
//! and a split one (HEADERS carrying grpc-status without END_STREAM, then an empty DATA frame
//! with END_STREAM) look the same through its API, yet grpc-core and grpc-js clients fail the
//! split one ("Stream removed"). The tap reads the server's bytes as they go by, so the replay
//! can tell them apart.

use faultline_wire::frame::{Frame, flag, kind};
use faultline_wire::tap::TapLog;
use serde::{Deserialize, Serialize};

use crate::rules::Rules;
use crate::transcript::{Call, Dir, EventKind};

/// One frame the server sent on a stream: what the shape needs, not its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameInfo {
    /// The frame type (`faultline_wire::frame::kind`).
    pub kind: u8,
    pub flags: u8,
    /// Payload bytes; for DATA, without padding.
    pub len: usize,
    /// A RST_STREAM's error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
}

impl FrameInfo {
    fn of(frame: &Frame) -> Self {
        let len = match frame.kind() {
            kind::DATA => frame.data().map_or(frame.payload().len(), <[u8]>::len),
            _ => frame.payload().len(),
        };
        let error_code = if frame.kind() == kind::RST_STREAM { frame.error_code() } else { None };
        Self { kind: frame.kind(), flags: frame.flags(), len, error_code }
    }
}

/// The frames the tap on a replay's connection saw on `stream`, as the shape needs them.
pub fn stream_frames(log: &TapLog, stream: u32) -> Vec<FrameInfo> {
    log.stream(stream).iter().map(FrameInfo::of).collect()
}

/// One token of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Headers,
    /// One or more DATA frames with bytes: how messages are cut into frames is each
    /// implementation's own business.
    Data,
    /// A DATA frame without a byte, kept apart: it is how a split Trailers-Only ends.
    EmptyData,
    Reset(u32),
}

/// A response as tokens, each with whether it ended the server's side (END_STREAM).
type Tokens = Vec<(Token, bool)>;

/// The response's part of a stream's frames: HEADERS, DATA and RST_STREAM up to the frame that
/// ended the server's side. After END_STREAM a server may still reset (NO_ERROR, to a client
/// that is still sending, as `rules.toml` drops from events); that is not the response.
/// CONTINUATION belongs to its HEADERS, WINDOW_UPDATE and PRIORITY are flow control.
fn tokens_of_frames(frames: &[FrameInfo]) -> Tokens {
    let mut tokens: Tokens = Vec::new();
    for f in frames {
        // END_STREAM is defined on HEADERS and DATA only.
        let end = f.flags & flag::END_STREAM != 0 && matches!(f.kind, kind::HEADERS | kind::DATA);
        let token = match f.kind {
            kind::HEADERS => Token::Headers,
            kind::DATA if f.len == 0 => Token::EmptyData,
            kind::DATA => Token::Data,
            kind::RST_STREAM => Token::Reset(f.error_code.unwrap_or(0)),
            _ => continue,
        };
        match tokens.last_mut() {
            Some((Token::Data, last_end)) if token == Token::Data => *last_end = end,
            _ => tokens.push((token, end)),
        }
        if end || matches!(token, Token::Reset(_)) {
            break;
        }
    }
    tokens
}

/// The shape a recording implies: grpcio's frames are not recorded, its events are. Response
/// headers are one HEADERS, messages some DATA, trailers (trailers-only or not) one HEADERS
/// with END_STREAM, a server reset one RST_STREAM.
fn tokens_of_events(call: &Call, rules: &Rules) -> Tokens {
    let mut tokens: Tokens = Vec::new();
    for e in rules.events(call).into_iter().filter(|e| e.dir == Dir::Server) {
        let token = match &e.kind {
            EventKind::Headers => (Token::Headers, false),
            EventKind::Message(_) if matches!(tokens.last(), Some((Token::Data, _))) => continue,
            EventKind::Message(_) => (Token::Data, false),
            EventKind::Trailers => (Token::Headers, true),
            EventKind::Reset { error_code, .. } => (Token::Reset(*error_code), false),
            EventKind::HalfClose => continue,
        };
        tokens.push(token);
        if token.1 || matches!(token.0, Token::Reset(_)) {
            break;
        }
    }
    tokens
}

fn tokens(call: &Call, rules: &Rules) -> Tokens {
    match &call.response_frames {
        Some(frames) => tokens_of_frames(frames),
        None => tokens_of_events(call, rules),
    }
}

fn render(tokens: &Tokens) -> String {
    if tokens.is_empty() {
        return "(no frames)".to_owned();
    }
    let mut out: Vec<String> = tokens
        .iter()
        .map(|(token, end)| {
            let name = match token {
                Token::Headers => "HEADERS".to_owned(),
                Token::Data => "DATA…".to_owned(),
                Token::EmptyData => "DATA(empty)".to_owned(),
                Token::Reset(code) => {
                    format!("RST_STREAM({})", crate::wire::reason_name(h2::Reason::from(*code)))
                }
            };
            if *end { format!("{name}+END_STREAM") } else { name }
        })
        .collect();
    if let Some((Token::Data | Token::EmptyData, true)) = tokens.last() {
        out.last_mut().expect("not empty").push_str(" (no trailers)");
    }
    out.join(", ")
}

/// The response's frame shape, normalised for a person: `HEADERS, DATA…, HEADERS+END_STREAM`,
/// `HEADERS+END_STREAM` (trailers-only), `HEADERS, DATA(empty)+END_STREAM (no trailers)`,
/// `HEADERS, RST_STREAM(CANCEL)`. From the frames a replay saw, or else from the recorded events.
pub fn shape(call: &Call, rules: &Rules) -> String {
    render(&tokens(call, rules))
}

/// Whether frames are a Trailers-Only response: the response's only HEADERS frame carried
/// END_STREAM (gRPC over HTTP/2: "Trailers-Only" is a single HEADERS frame).
pub fn is_trailers_only(frames: &[FrameInfo]) -> bool {
    tokens_of_frames(frames) == [(Token::Headers, true)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: u8, flags: u8, len: usize) -> FrameInfo {
        FrameInfo { kind, flags, len, error_code: None }
    }

    #[test]
    fn shapes_of_frames() {
        let (h, d, es, eh) = (kind::HEADERS, kind::DATA, flag::END_STREAM, flag::END_HEADERS);
        let rst = |code| FrameInfo { kind: kind::RST_STREAM, flags: 0, len: 4, error_code: Some(code) };
        let window = f(kind::WINDOW_UPDATE, 0, 4);
        let cases: &[(&[FrameInfo], &str, bool)] = &[
            (&[f(h, eh | es, 30)], "HEADERS+END_STREAM", true),
            (
                &[f(h, eh, 30), window, f(d, 0, 12), f(d, 0, 5), f(h, eh | es, 4)],
                "HEADERS, DATA…, HEADERS+END_STREAM",
                false,
            ),
            (&[f(h, eh, 30), f(d, es, 0)], "HEADERS, DATA(empty)+END_STREAM (no trailers)", false),
            (&[f(h, eh, 30), f(d, 0, 8), f(d, es, 8)], "HEADERS, DATA…+END_STREAM (no trailers)", false),
            (
                &[f(h, eh, 30), f(d, 0, 8), f(d, 0, 0), f(d, 0, 8)],
                "HEADERS, DATA…, DATA(empty), DATA…",
                false,
            ),
            (&[f(h, eh, 30), rst(8)], "HEADERS, RST_STREAM(CANCEL)", false),
            (&[f(h, eh, 30), f(h, eh | es, 4)], "HEADERS, HEADERS+END_STREAM", false),
            // What follows the end is not the response.
            (&[f(h, eh | es, 30), rst(0)], "HEADERS+END_STREAM", true),
            (&[], "(no frames)", false),
        ];
        for (frames, shape, only) in cases {
            assert_eq!(render(&tokens_of_frames(frames)), *shape, "{frames:?}");
            assert_eq!(is_trailers_only(frames), *only, "{frames:?}");
        }
    }
}
