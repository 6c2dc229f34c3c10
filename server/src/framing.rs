//! Trailers-Only, by construction. gRPC over HTTP/2 says a response that carries no message
//! may be a single HEADERS frame with END_STREAM holding the status; hyper sends END_STREAM on
//! the HEADERS frame only when the body says it is already over (`is_end_stream`). Layers that
//! wrap response bodies (the shutdown cut-off, the deadline, the budgets) cannot promise that,
//! and a split response — HEADERS with `grpc-status` and no END_STREAM, then an empty DATA
//! frame with END_STREAM — is misread by grpc-core clients (C++, Python, Ruby, PHP, C#) and by
//! grpc-js as "Stream removed" or "Call ended without gRPC status".
//!
//! So this layer, outermost, looks at every response before hyper does:
//!
//! - a response whose headers already carry `grpc-status` (an early error) is sent with an
//!   empty body, which hyper ends on the HEADERS frame;
//! - a body whose first frame is ready at once and is its trailers (a stream that produced no
//!   message and is already over) becomes Trailers-Only: the trailers join the headers;
//! - otherwise the headers go out at once, and the status later as trailers.
//!
//! A response whose body is not ready yet is not held back waiting for its first message, as
//! grpc-core's server holds its headers: tonic's client returns a streaming call only once the
//! response headers have arrived, so a tonic client that sends its first RouteChat note after
//! the call has started would wait forever for headers that wait for a reply to that note.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame};
use tonic::Status;
use tonic::body::Body;
use tower::ServiceExt;

use crate::{GrpcService, assembly};

/// The response header (or trailer) carrying a call's status code.
const GRPC_STATUS: &str = "grpc-status";

/// Wraps `inner` so that every response is framed as gRPC over HTTP/2 asks.
pub fn layer(inner: GrpcService) -> GrpcService {
    assembly::around(inner, |request, inner| {
        let call = inner.oneshot(request);
        Box::pin(async move { Ok(trailers_only(call.await?).await) })
    })
}

/// `response`, with its status folded into the headers if it is over before its first message.
pub async fn trailers_only(response: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, mut body) = response.into_parts();
    if parts.headers.contains_key(GRPC_STATUS) {
        return http::Response::from_parts(parts, Body::empty());
    }
    // Once, without waiting: a body that is not ready yet keeps its headers flowing.
    let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
    let status = match first {
        Poll::Pending => return http::Response::from_parts(parts, body),
        Poll::Ready(Some(Ok(frame))) => match frame.into_trailers() {
            Ok(trailers) => {
                parts.headers.extend(trailers);
                return http::Response::from_parts(parts, Body::empty());
            }
            Err(first) => {
                return http::Response::from_parts(
                    parts,
                    Body::new(Resumed { first: Some(first), rest: body }),
                );
            }
        },
        Poll::Ready(Some(Err(status))) => status,
        Poll::Ready(None) => {
            tracing::warn!("a response ended without a gRPC status; answering INTERNAL");
            Status::internal("the response ended without a gRPC status")
        }
    };
    // A status that cannot be a header (it always can: tonic percent-encodes the message).
    let _ = status.add_header(&mut parts.headers);
    http::Response::from_parts(parts, Body::empty())
}

/// A body whose first frame was already taken, put back in front.
struct Resumed {
    first: Option<Frame<Bytes>>,
    rest: Body,
}

impl http_body::Body for Resumed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        match self.first.take() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Pin::new(&mut self.rest).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::default()
    }
}
