//! The cases: how the server misbehaves, and what gRPC's documents say a client should report.
//!
//! Anchors: grpc's negative HTTP/2 interop tests (`doc/negative-http2-interop-test-descriptions.md`
//! and `test/http2_test/`: RST_STREAM with error code 0 after headers, halfway through the data,
//! after all data; GOAWAY naming the stream just served), Connect conformance's raw responses
//! (`testsuites/data/grpc_client_unexpected.yaml`: `missing-status`, `unexpected-content-type`,
//! `trailers-only/ignore-header-if-body-present`, `unary/ok-but-no-response`), and gRPC's
//! `PROTOCOL-HTTP2.md`, `statuscodes.md` and `http-grpc-status-mapping.md` for the codes.

use std::fmt;

use tonic::Code;

pub use faultline_wire::code_name;

/// A way for the server to answer a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// A well-formed response: the control.
    Clean,
    /// HEADERS, then RST_STREAM(NO_ERROR).
    RstAfterHeaders,
    /// HEADERS, half the messages and half of the next one, then RST_STREAM(NO_ERROR).
    RstDuringData,
    /// HEADERS, every message, then RST_STREAM(NO_ERROR) instead of trailers.
    RstAfterData,
    /// HEADERS, half the messages, GOAWAY(last stream = this one, NO_ERROR), the rest, trailers.
    GoawayMidCall,
    /// HEADERS, half the messages, GOAWAY(last stream = this one, NO_ERROR), then the
    /// connection closes (FIN) with the call unfinished.
    GoawayThenClose,
    /// Every message, then trailers with `grpc-message` and no `grpc-status`.
    MissingGrpcStatus,
    /// One HEADERS frame with END_STREAM carrying `grpc-status: 9` (well-formed).
    TrailersOnlyError,
    /// `grpc-status: 9` in a HEADERS frame without END_STREAM, then an empty DATA frame with
    /// END_STREAM: Trailers-Only split in two, so there are no trailers at all.
    TrailersOnlySplit,
    /// Half the messages, half of the next one, then trailers with `grpc-status: 0`.
    TruncatedMessage,
    /// Half the messages, then a length prefix announcing 5 MiB (over the 4 MiB default
    /// receive limit) and a few bytes, then trailers with `grpc-status: 0`.
    LengthPrefixOverLimit,
    /// `:status 200`, `content-type: text/html` and an HTML body, no gRPC trailers.
    WrongContentType,
    /// `:status 503`, `content-type: text/plain`: a proxy's error page.
    Http503,
    /// HEADERS then trailers with `grpc-status: 0`, no message (wrong for a unary method).
    NoMessage,
}

impl Case {
    /// Every case, in the order reports list them.
    pub const ALL: [Case; 14] = [
        Case::Clean,
        Case::RstAfterHeaders,
        Case::RstDuringData,
        Case::RstAfterData,
        Case::GoawayMidCall,
        Case::GoawayThenClose,
        Case::MissingGrpcStatus,
        Case::TrailersOnlyError,
        Case::TrailersOnlySplit,
        Case::TruncatedMessage,
        Case::LengthPrefixOverLimit,
        Case::WrongContentType,
        Case::Http503,
        Case::NoMessage,
    ];

    /// The name a request or `--case` chooses it by.
    pub fn name(self) -> &'static str {
        match self {
            Case::Clean => "clean",
            Case::RstAfterHeaders => "rst-after-headers",
            Case::RstDuringData => "rst-during-data",
            Case::RstAfterData => "rst-after-data",
            Case::GoawayMidCall => "goaway-mid-call",
            Case::GoawayThenClose => "goaway-then-close",
            Case::MissingGrpcStatus => "missing-grpc-status",
            Case::TrailersOnlyError => "trailers-only-error",
            Case::TrailersOnlySplit => "trailers-only-split",
            Case::TruncatedMessage => "truncated-message",
            Case::LengthPrefixOverLimit => "length-prefix-over-limit",
            Case::WrongContentType => "wrong-content-type",
            Case::Http503 => "http-503",
            Case::NoMessage => "no-message",
        }
    }

    /// The case of that name.
    pub fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What the server sends, in a line.
    pub fn description(self) -> &'static str {
        match self {
            Case::Clean => "headers, every message, trailers with grpc-status 0",
            Case::RstAfterHeaders => "headers, then RST_STREAM(NO_ERROR)",
            Case::RstDuringData => {
                "headers, half the messages and half of the next, then RST_STREAM(NO_ERROR)"
            }
            Case::RstAfterData => "headers, every message, then RST_STREAM(NO_ERROR) instead of trailers",
            Case::GoawayMidCall => {
                "half the messages, GOAWAY(last stream = this call, NO_ERROR), the rest, trailers"
            }
            Case::GoawayThenClose => "half the messages, GOAWAY(last stream = this call, NO_ERROR), then FIN",
            Case::MissingGrpcStatus => "every message, then trailers with grpc-message and no grpc-status",
            Case::TrailersOnlyError => "one HEADERS+END_STREAM with grpc-status 9 (well-formed)",
            Case::TrailersOnlySplit => {
                "HEADERS with grpc-status 9 without END_STREAM, then an empty DATA+END_STREAM"
            }
            Case::TruncatedMessage => {
                "half the messages and half of the next, then trailers with grpc-status 0"
            }
            Case::LengthPrefixOverLimit => "half the messages, a prefix announcing 5 MiB, then grpc-status 0",
            Case::WrongContentType => ":status 200, content-type text/html, an HTML body",
            Case::Http503 => ":status 503, content-type text/plain, a text body",
            Case::NoMessage => "headers, then trailers with grpc-status 0, no message",
        }
    }

    /// The codes gRPC's documents allow a client to report, and where they say so.
    pub fn spec(self, method: Method) -> Spec {
        use Code::*;
        let (codes, source): (&[Code], &str) = match self {
            Case::Clean | Case::GoawayMidCall => {
                (&[Ok], "RFC 9113 §6.8: streams up to GOAWAY's last stream id complete")
            }
            Case::RstAfterHeaders | Case::RstDuringData | Case::RstAfterData => {
                (&[Internal], "PROTOCOL-HTTP2.md, RST_STREAM error codes: NO_ERROR -> INTERNAL")
            }
            Case::GoawayThenClose => {
                (&[Unavailable], "statuscodes.md: data sent before the connection breaks -> UNAVAILABLE")
            }
            Case::MissingGrpcStatus => {
                (&[Unknown, Internal], "Connect conformance `missing-status`: UNKNOWN (INTERNAL allowed)")
            }
            Case::TrailersOnlyError => {
                (&[FailedPrecondition], "PROTOCOL-HTTP2.md, Trailers-Only: the status it carries")
            }
            Case::TrailersOnlySplit => (
                &[Internal, Unknown],
                "Connect conformance `trailers-only/ignore-header-if-body-present`: INTERNAL (no trailers)",
            ),
            Case::TruncatedMessage => {
                (&[Internal], "statuscodes.md: error parsing response proto -> INTERNAL")
            }
            Case::LengthPrefixOverLimit => (
                &[ResourceExhausted],
                "statuscodes.md: received message larger than the limit -> RESOURCE_EXHAUSTED",
            ),
            Case::WrongContentType => (
                &[Unknown],
                "http-grpc-status-mapping.md: HTTP 200 without gRPC -> UNKNOWN (Connect `unexpected-content-type`)",
            ),
            Case::Http503 => (&[Unavailable], "http-grpc-status-mapping.md: HTTP 503 -> UNAVAILABLE"),
            Case::NoMessage => match method {
                Method::GetFeature => {
                    (&[Unimplemented], "statuscodes.md: response cardinality violation -> UNIMPLEMENTED")
                }
                Method::ListFeatures => (&[Ok], "a server stream may have no message"),
            },
        };
        Spec { codes, source }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The methods the cases are played on: one unary, one server-streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    GetFeature,
    ListFeatures,
}

impl Method {
    /// Both, in report order.
    pub const ALL: [Method; 2] = [Method::GetFeature, Method::ListFeatures];

    /// The method's name in `route_guide.proto`.
    pub fn name(self) -> &'static str {
        match self {
            Method::GetFeature => "GetFeature",
            Method::ListFeatures => "ListFeatures",
        }
    }

    /// The method of that name.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the specification allows for a case's status code.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The first is the one the source names; the others it also accepts.
    pub codes: &'static [Code],
    pub source: &'static str,
}

impl Spec {
    /// Whether a code (by its gRPC name) is allowed.
    pub fn allows(&self, code: &str) -> bool {
        self.codes.iter().any(|c| code_name(*c) == code)
    }

    /// The allowed codes, as `A or B`.
    pub fn render(&self) -> String {
        self.codes.iter().map(|c| code_name(*c)).collect::<Vec<_>>().join(" or ")
    }
}
