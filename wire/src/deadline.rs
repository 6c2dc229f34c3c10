//! Deadlines on the wire, both sides: the `grpc-timeout` header, and a client layer that
//! enforces it over the whole call.
//!
//! tonic's channel enforces a call's `grpc-timeout` only until the response headers arrive,
//! and reports it as CANCELLED "Timeout expired". A streaming response that has begun is never
//! timed out by the client at all, so a call whose server went silent behind a partition lives
//! until keepalive notices. [`Deadline`] wraps a channel so that the deadline bounds the whole
//! call, and its expiry is DEADLINE_EXCEEDED, as gRPC says (grpc-dotnet maps tonic-style
//! CANCELLED back the same way, its PR #1402). When it fires, the call is dropped, which resets
//! the stream (RST_STREAM CANCEL) as every gRPC client does.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::time::{Instant, Sleep};
use tonic::Status;
use tonic::body::Body;

/// The request header carrying the time left (gRPC over HTTP/2: `TimeoutValue TimeoutUnit`).
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The status of a call whose deadline passed (grpc-core's text).
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

/// The timeout a request carries, if it carries a valid one.
pub fn timeout_of<B>(request: &http::Request<B>) -> Option<Duration> {
    request.headers().get(GRPC_TIMEOUT).and_then(|v| parse_timeout(v.as_bytes()))
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// A client channel whose calls end by their deadline, over their whole life.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
}

impl<S> Deadline<S> {
    /// Wraps a channel (any tower service tonic's generated clients can call).
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> tower::Service<http::Request<Body>> for Deadline<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let deadline = timeout_of(&request).map(|t| Instant::now() + t);
        let call = self.inner.call(request);
        Box::pin(async move {
            let Some(deadline) = deadline else {
                return call.await.map_err(Into::into);
            };
            match tokio::time::timeout_at(deadline, call).await {
                Err(_) => Err(exceeded().into()),
                Ok(Err(e)) => {
                    let e: BoxError = e.into();
                    // tonic's own timer fires at the same deadline: say it the same way.
                    if is_timeout(&*e) { Err(exceeded().into()) } else { Err(e) }
                }
                Ok(Ok(response)) => Ok(response.map(|inner| {
                    Body::new(DeadlineBody { inner, deadline: Box::pin(tokio::time::sleep_until(deadline)) })
                })),
            }
        })
    }
}

fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// A response body that fails with DEADLINE_EXCEEDED once the deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() && !this.inner.is_end_stream() {
            return Poll::Ready(Some(Err(exceeded())));
        }
        Poll::Ready(ready!(Pin::new(&mut this.inner).poll_frame(cx)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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
