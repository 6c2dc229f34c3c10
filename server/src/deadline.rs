//! Deadlines: a call's `grpc-timeout` is enforced by the server, and its expiry is
//! DEADLINE_EXCEEDED, as the gRPC spec and grpcio say. tonic's own server layer answers
//! CANCELLED "Timeout expired" instead, which clients' retry policies tell apart from a
//! deadline (grpc-dotnet carries a client-side workaround for servers that do this, its PR
//! #1402). Unlike tonic's layer, the deadline also bounds a response body that is still
//! streaming: at expiry the handler is dropped and the call ends with DEADLINE_EXCEEDED.

use std::time::Duration;

use tonic::Status;
use tower::ServiceExt;

use crate::ending::{self, End};
use crate::{GrpcService, assembly};

/// The request header carrying the time left (gRPC over HTTP/2: `TimeoutValue TimeoutUnit`).
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The status of a call whose deadline passed at the server (grpcio's text).
pub fn exceeded() -> Status {
    Status::deadline_exceeded("Deadline Exceeded")
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit (H, M, S, m, u, n).
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Wraps `inner` so that every call with a `grpc-timeout` ends by it. A malformed value is
/// ignored, as if the client had sent no deadline.
pub fn layer(inner: GrpcService) -> GrpcService {
    assembly::around(inner, |request, inner| {
        let timeout = request.headers().get(GRPC_TIMEOUT).and_then(|v| parse_timeout(v.as_bytes()));
        let call = inner.oneshot(request);
        match timeout {
            None => Box::pin(call),
            Some(timeout) => {
                Box::pin(ending::race(call, Box::pin(tokio::time::sleep(timeout)), End::with(exceeded())))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_the_spec_writes_them() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("296m", Some(Duration::from_millis(296))),
            ("300000u", Some(Duration::from_millis(300))),
            ("99999999n", Some(Duration::from_nanos(99_999_999))),
            ("100000000n", None),
            ("5", None),
            ("m", None),
            ("5x", None),
            ("-5S", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_timeout(text.as_bytes()), *want, "{text:?}");
        }
    }
}
