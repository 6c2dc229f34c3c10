//! What the server writes for a case: HTTP/2 frames in order, and whether the connection ends.
//!
//! Every response is built from the messages the tutorial's server would send for the request
//! (`faultline-services`' rules), so a client that survives a case sees real answers.

use bytes::Bytes;
use faultline_wire::frame::{Frame, SAFE_FRAME_SIZE, flag, kind};
use faultline_wire::grpc;
use faultline_wire::hpack::{Field, encode_literals};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::case::Case;

/// HTTP/2's NO_ERROR, the code grpc's negative tests reset with.
const NO_ERROR: u32 = 0;
/// The length the over-limit prefix announces: 5 MiB, over every stack's 4 MiB default.
pub const OVER_LIMIT: u32 = 5 << 20;

/// One thing the server does on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Frame(Frame),
    /// Half-close the connection (FIN) and only read from then on.
    Close,
}

/// The steps that answer a call on `stream` whose answer is `messages` (protobuf bytes, in
/// order), misbehaving as `case` says.
pub fn response(case: Case, stream: u32, messages: &[Bytes]) -> Vec<Step> {
    let mut s = Script { stream, steps: Vec::new() };
    let all: Vec<u8> = messages.iter().flat_map(|m| grpc::encode(m).to_vec()).collect();
    // Half the messages whole, then half of the next (an empty one when there is none).
    let half = messages.len() / 2;
    let first_half: Vec<u8> = messages[..half].iter().flat_map(|m| grpc::encode(m).to_vec()).collect();
    let rest: Vec<u8> = all[first_half.len()..].to_vec();
    let next = messages.get(half).cloned().unwrap_or_default();
    let next = grpc::encode(&next);
    let mut cut = first_half.clone();
    cut.extend_from_slice(&next[..next.len() / 2]);

    match case {
        Case::Clean => {
            s.headers(&ok_headers(), false);
            s.data(&all, false);
            s.trailers(&status(0, None));
        }
        Case::RstAfterHeaders => {
            s.headers(&ok_headers(), false);
            s.rst();
        }
        Case::RstDuringData => {
            s.headers(&ok_headers(), false);
            s.data(&cut, false);
            s.rst();
        }
        Case::RstAfterData => {
            s.headers(&ok_headers(), false);
            s.data(&all, false);
            s.rst();
        }
        Case::GoawayMidCall => {
            s.headers(&ok_headers(), false);
            s.data(&first_half, false);
            s.steps.push(Step::Frame(Frame::go_away(stream, NO_ERROR)));
            s.data(&rest, false);
            s.trailers(&status(0, None));
            s.steps.push(Step::Close);
        }
        Case::GoawayThenClose => {
            s.headers(&ok_headers(), false);
            s.data(&first_half, false);
            s.steps.push(Step::Frame(Frame::go_away(stream, NO_ERROR)));
            s.steps.push(Step::Close);
        }
        Case::MissingGrpcStatus => {
            s.headers(&ok_headers(), false);
            s.data(&all, false);
            s.trailers(&[field("grpc-message", "buggy-server: no grpc-status")]);
        }
        Case::TrailersOnlyError => {
            let mut fields = ok_headers();
            fields.extend(status(9, Some("buggy-server: trailers-only")));
            s.headers(&fields, true);
        }
        Case::TrailersOnlySplit => {
            let mut fields = ok_headers();
            fields.extend(status(9, Some("buggy-server: trailers-only, split")));
            s.headers(&fields, false);
            s.data(&[], true);
        }
        Case::TruncatedMessage => {
            s.headers(&ok_headers(), false);
            s.data(&cut, false);
            s.trailers(&status(0, None));
        }
        Case::LengthPrefixOverLimit => {
            s.headers(&ok_headers(), false);
            let mut data = first_half;
            data.extend_from_slice(&grpc::encode_raw(0, OVER_LIMIT, &[0; 16]));
            s.data(&data, false);
            s.trailers(&status(0, None));
        }
        Case::WrongContentType => {
            s.headers(&[field(":status", "200"), field("content-type", "text/html")], false);
            s.data(b"<html><body>not gRPC</body></html>", true);
        }
        Case::Http503 => {
            s.headers(&[field(":status", "503"), field("content-type", "text/plain")], false);
            s.data(b"upstream unavailable", true);
        }
        Case::NoMessage => {
            s.headers(&ok_headers(), false);
            s.trailers(&status(0, None));
        }
    }
    s.steps
}

/// A call the server does not serve: Trailers-Only UNIMPLEMENTED, whatever the case.
pub fn unimplemented(stream: u32, path: &str) -> Vec<Step> {
    let mut s = Script { stream, steps: Vec::new() };
    let mut fields = ok_headers();
    let text =
        format!("buggy-server serves GetFeature, ListFeatures, SayHello and SayHelloAgain, not {path}");
    fields.extend(status(12, Some(&text)));
    s.headers(&fields, true);
    s.steps
}

/// A request the server cannot read: Trailers-Only INTERNAL.
pub fn bad_request(stream: u32, why: &str) -> Vec<Step> {
    let mut s = Script { stream, steps: Vec::new() };
    let mut fields = ok_headers();
    fields.extend(status(13, Some(why)));
    s.headers(&fields, true);
    s.steps
}

struct Script {
    stream: u32,
    steps: Vec<Step>,
}

impl Script {
    fn headers(&mut self, fields: &[Field], end_stream: bool) {
        let block = encode_literals(fields);
        let end = if end_stream { flag::END_STREAM } else { 0 };
        // Every block here is far below the smallest frame size: one frame.
        debug_assert!(block.len() <= SAFE_FRAME_SIZE);
        self.steps.push(Step::Frame(Frame::new(kind::HEADERS, flag::END_HEADERS | end, self.stream, &block)));
    }

    fn trailers(&mut self, fields: &[Field]) {
        self.headers(fields, true);
    }

    /// DATA frames of at most the smallest frame size; one empty frame for no bytes.
    fn data(&mut self, bytes: &[u8], end_stream: bool) {
        let chunks: Vec<&[u8]> =
            if bytes.is_empty() { vec![&[]] } else { bytes.chunks(SAFE_FRAME_SIZE).collect() };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let end = if end_stream && i + 1 == count { flag::END_STREAM } else { 0 };
            self.steps.push(Step::Frame(Frame::new(kind::DATA, end, self.stream, chunk)));
        }
    }

    fn rst(&mut self) {
        self.steps.push(Step::Frame(Frame::rst_stream(self.stream, NO_ERROR)));
    }
}

fn field(name: &str, value: &str) -> Field {
    Field { name: name.as_bytes().to_vec(), value: value.as_bytes().to_vec(), sensitive: false }
}

fn ok_headers() -> Vec<Field> {
    vec![field(":status", "200"), field("content-type", "application/grpc")]
}

fn status(code: u8, message: Option<&str>) -> Vec<Field> {
    let mut fields = vec![field("grpc-status", &code.to_string())];
    if let Some(message) = message {
        fields.push(field("grpc-message", &percent_encode(message)));
    }
    fields
}

/// `grpc-message` is percent-encoded (PROTOCOL-HTTP2.md): every byte outside 0x20..=0x7e, and `%`.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame types, END_STREAM, and the length of every frame but HEADERS.
    fn shape(steps: &[Step]) -> Vec<String> {
        let frame = |f: &Frame| {
            let end = if f.has(flag::END_STREAM) && matches!(f.kind(), kind::DATA | kind::HEADERS) {
                "+END_STREAM"
            } else {
                ""
            };
            let len =
                if f.kind() == kind::HEADERS { String::new() } else { format!(":{}", f.payload().len()) };
            format!("{}{end}{len}", kind::name(f.kind()))
        };
        steps
            .iter()
            .map(|s| match s {
                Step::Close => "FIN".to_owned(),
                Step::Frame(f) => frame(f),
            })
            .collect()
    }

    #[test]
    fn each_case_has_the_shape_it_names() {
        // A message is 15 bytes with its prefix; half of the second is 7.
        let messages = [Bytes::from_static(b"0123456789"), Bytes::from_static(b"abcdefghij")];
        let check =
            |case, expect: &[&str]| assert_eq!(shape(&response(case, 1, &messages)), expect, "{case}");
        check(Case::Clean, &["HEADERS", "DATA:30", "HEADERS+END_STREAM"]);
        check(Case::RstAfterHeaders, &["HEADERS", "RST_STREAM:4"]);
        check(Case::RstDuringData, &["HEADERS", "DATA:22", "RST_STREAM:4"]);
        check(Case::RstAfterData, &["HEADERS", "DATA:30", "RST_STREAM:4"]);
        check(
            Case::GoawayMidCall,
            &["HEADERS", "DATA:15", "GOAWAY:8", "DATA:15", "HEADERS+END_STREAM", "FIN"],
        );
        check(Case::GoawayThenClose, &["HEADERS", "DATA:15", "GOAWAY:8", "FIN"]);
        check(Case::MissingGrpcStatus, &["HEADERS", "DATA:30", "HEADERS+END_STREAM"]);
        check(Case::TrailersOnlyError, &["HEADERS+END_STREAM"]);
        check(Case::TrailersOnlySplit, &["HEADERS", "DATA+END_STREAM:0"]);
        check(Case::TruncatedMessage, &["HEADERS", "DATA:22", "HEADERS+END_STREAM"]);
        check(Case::LengthPrefixOverLimit, &["HEADERS", "DATA:36", "HEADERS+END_STREAM"]);
        check(Case::WrongContentType, &["HEADERS", "DATA+END_STREAM:34"]);
        check(Case::Http503, &["HEADERS", "DATA+END_STREAM:20"]);
        check(Case::NoMessage, &["HEADERS", "HEADERS+END_STREAM"]);
    }

    #[test]
    fn a_message_of_a_status_is_percent_encoded() {
        assert_eq!(percent_encode("a 100% é"), "a 100%25 %C3%A9");
    }
}
