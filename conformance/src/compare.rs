//! Comparing a recorded call with an observed one, after normalisation, aspect by aspect.

use std::fmt::Write as _;

use faultline_proto::helloworld::{HelloReply, HelloRequest};
use faultline_proto::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use serde::{Deserialize, Serialize};

use crate::rules::Rules;
use crate::transcript::{Call, Dir, Event, EventKind, Header, StatusSource};

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aspect {
    /// The request's HEADERS (the client's doing).
    RequestHeaders,
    /// What the client sent: messages, half-close, cancel.
    ClientEvents,
    /// The response's first HEADERS.
    ResponseHeaders,
    /// What the server sent: headers and trailers markers, messages, resets.
    ServerEvents,
    /// The messages the client handed to its caller.
    Received,
    /// The trailing HEADERS (grpc-status, grpc-message, ...).
    Trailers,
    /// Whether the response was trailers-only.
    TrailersOnly,
    /// The response's HTTP/2 frame shape (see [`crate::framing::shape`]).
    Framing,
    /// The status the client reported: code, message (unless made up locally), source.
    Status,
}

impl Aspect {
    /// What a run against the Rust server checks.
    pub const RUST_SERVER: &[Aspect] = &[
        Aspect::ResponseHeaders,
        Aspect::ServerEvents,
        Aspect::Trailers,
        Aspect::TrailersOnly,
        Aspect::Framing,
        Aspect::Status,
    ];
    /// What a run against any server (`--target`) checks: what a server controls, as against the
    /// Rust server. The request side is the replay's own doing, and `received` is the server's
    /// messages again (there is no typed client). Framing stays: a response's frame shape is
    /// the server's, whoever wrote it, and a clash there (a split Trailers-Only, a DATA frame
    /// ending the stream without trailers) is what breaks other implementations' clients even
    /// when every header and byte of the messages agrees.
    pub const TARGET: &[Aspect] = Aspect::RUST_SERVER;
    /// What a run of the Rust client against a transcript server checks.
    pub const RUST_CLIENT: &[Aspect] =
        &[Aspect::RequestHeaders, Aspect::ClientEvents, Aspect::Received, Aspect::Status];
    /// What a run of the Rust client against a live server can see.
    pub const RUST_CLIENT_LIVE: &[Aspect] = &[Aspect::Received, Aspect::Status];
    /// Everything: a re-recording against the committed transcript (drift).
    pub const ALL: &[Aspect] = &[
        Aspect::RequestHeaders,
        Aspect::ClientEvents,
        Aspect::ResponseHeaders,
        Aspect::ServerEvents,
        Aspect::Trailers,
        Aspect::TrailersOnly,
        Aspect::Framing,
        Aspect::Status,
    ];
    /// Every aspect there is.
    pub const EVERY: &[Aspect] = &[
        Aspect::RequestHeaders,
        Aspect::ClientEvents,
        Aspect::ResponseHeaders,
        Aspect::ServerEvents,
        Aspect::Received,
        Aspect::Trailers,
        Aspect::TrailersOnly,
        Aspect::Framing,
        Aspect::Status,
    ];

    /// The aspect's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::RequestHeaders => "request headers",
            Aspect::ClientEvents => "client events",
            Aspect::ResponseHeaders => "response headers",
            Aspect::ServerEvents => "server events",
            Aspect::Received => "received messages",
            Aspect::Trailers => "trailers",
            Aspect::TrailersOnly => "trailers-only",
            Aspect::Framing => "framing",
            Aspect::Status => "status",
        }
    }

    /// The aspect's name in data files (`rules.toml`, `known-failures.toml`) and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Aspect::RequestHeaders => "request-headers",
            Aspect::ClientEvents => "client-events",
            Aspect::ResponseHeaders => "response-headers",
            Aspect::ServerEvents => "server-events",
            Aspect::Received => "received",
            Aspect::Trailers => "trailers",
            Aspect::TrailersOnly => "trailers-only",
            Aspect::Framing => "framing",
            Aspect::Status => "status",
        }
    }

    /// The aspect named `key` in data files.
    pub fn from_key(key: &str) -> Option<Aspect> {
        Aspect::EVERY.iter().copied().find(|a| a.key() == key)
    }
}

/// One way the observation differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Index of the call within its case.
    pub call: usize,
    pub aspect: Aspect,
    /// The recording's side, normalised and rendered for a person.
    pub expected: String,
    /// The observation's side.
    pub actual: String,
}

/// Compares `actual` with `expected` in the given aspects.
pub fn compare(expected: &Call, actual: &Call, rules: &Rules, aspects: &[Aspect]) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |aspect, e: String, a: String| {
        if e != a {
            out.push(Difference { call: expected.call, aspect, expected: e, actual: a });
        }
    };
    for &aspect in aspects.iter().filter(|&&a| rules.compares(expected, a)) {
        match aspect {
            Aspect::RequestHeaders => differ(
                aspect,
                headers(&rules.headers(&expected.request_headers)),
                headers(&rules.headers(&actual.request_headers)),
            ),
            Aspect::ResponseHeaders => differ(
                aspect,
                expected
                    .response_headers
                    .as_ref()
                    .map_or("(none)".to_owned(), |h| headers(&rules.headers(h))),
                actual.response_headers.as_ref().map_or("(none)".to_owned(), |h| headers(&rules.headers(h))),
            ),
            Aspect::Trailers => differ(
                aspect,
                headers(&rules.headers(&expected.trailers)),
                headers(&rules.headers(&actual.trailers)),
            ),
            Aspect::TrailersOnly => {
                differ(aspect, expected.trailers_only.to_string(), actual.trailers_only.to_string())
            }
            Aspect::Framing => {
                differ(aspect, crate::framing::shape(expected, rules), crate::framing::shape(actual, rules))
            }
            Aspect::ClientEvents | Aspect::ServerEvents | Aspect::Received => {
                let pick = |call: &Call| -> Vec<String> {
                    rules
                        .events(call)
                        .into_iter()
                        .filter(|e| match aspect {
                            Aspect::ClientEvents => e.dir == Dir::Client,
                            Aspect::ServerEvents => e.dir == Dir::Server,
                            _ => e.dir == Dir::Server && matches!(e.kind, EventKind::Message(_)),
                        })
                        .map(|e| event(&expected.method, e))
                        .collect()
                };
                let (e, a) = (pick(expected), pick(actual));
                differ(aspect, events_diff_side(&e, &a), events_diff_side(&a, &e));
            }
            Aspect::Status => {
                let full = rules.compares_status_in_full(expected);
                let show = |c: &Call, source: bool| {
                    let mut s = format!("{} ({})", c.status.name, c.status.code);
                    if full {
                        let _ = write!(s, " {:?}", c.status.message);
                    }
                    if source {
                        let from = match c.status.source {
                            StatusSource::Server => "server",
                            StatusSource::Client => "client",
                        };
                        let _ = write!(s, ", from the {from}");
                    }
                    s
                };
                let source = full && aspects.contains(&Aspect::ServerEvents);
                differ(aspect, show(expected, source), show(actual, source));
            }
        }
    }
    out
}

fn headers(list: &[Header]) -> String {
    if list.is_empty() {
        return "(empty)".to_owned();
    }
    list.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n")
}

/// The events of one side, one per line, with the first line that differs from `other` marked.
fn events_diff_side(mine: &[String], other: &[String]) -> String {
    if mine.is_empty() {
        return "(no events)".to_owned();
    }
    let first = mine.iter().zip(other).position(|(a, b)| a != b).unwrap_or(other.len().min(mine.len()));
    mine.iter()
        .enumerate()
        .map(|(i, e)| format!("{} {i}: {e}", if i == first { ">" } else { " " }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One event, for a person: a message as its decoded value and its size.
pub fn event(method: &str, e: &Event) -> String {
    match &e.kind {
        EventKind::Message(m) => {
            let flag = if m.compressed { " compressed" } else { "" };
            format!(
                "message{flag} {} ({} bytes{})",
                describe(method, e.dir, &m.bytes),
                m.bytes.len(),
                digest(&m.bytes)
            )
        }
        EventKind::Reset { error, .. } => format!("reset {error}"),
        other => other.name().to_owned(),
    }
}

/// A short fingerprint of the bytes, so equal-looking values with different encodings differ.
fn digest(bytes: &[u8]) -> String {
    // FNV-1a: stable, and enough to tell two encodings apart in a report.
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    format!(", fnv {h:08x}")
}

/// The message decoded as the method's type, abbreviated; or why it does not decode.
fn describe(method: &str, dir: Dir, bytes: &[u8]) -> String {
    fn show<M: prost::Message + Default + std::fmt::Debug>(bytes: &[u8]) -> String {
        match M::decode(bytes) {
            Ok(m) => abbreviate(&format!("{m:?}")),
            Err(e) => {
                format!("<not a {}: {e}>", std::any::type_name::<M>().rsplit("::").next().unwrap_or(""))
            }
        }
    }
    match (method.rsplit('/').next().unwrap_or(""), dir) {
        ("SayHello" | "SayHelloAgain", Dir::Client) if method.starts_with("/helloworld.Greeter/") => {
            show::<HelloRequest>(bytes)
        }
        ("SayHello" | "SayHelloAgain", Dir::Server) if method.starts_with("/helloworld.Greeter/") => {
            show::<HelloReply>(bytes)
        }
        ("GetFeature" | "RecordRoute", Dir::Client) => show::<Point>(bytes),
        ("GetFeature" | "ListFeatures", Dir::Server) => show::<Feature>(bytes),
        ("ListFeatures", Dir::Client) => show::<Rectangle>(bytes),
        ("RecordRoute", Dir::Server) => show::<RouteSummary>(bytes),
        ("RouteChat", _) => show::<RouteNote>(bytes),
        _ => format!("<{} raw bytes>", bytes.len()),
    }
}

fn abbreviate(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        return s.to_owned();
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}... ({} characters)", s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::Aspect;

    #[test]
    fn data_file_keys_are_the_serde_names() {
        for a in Aspect::EVERY {
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{}\"", a.key()));
            assert_eq!(Aspect::from_key(a.key()), Some(*a));
        }
    }
}
