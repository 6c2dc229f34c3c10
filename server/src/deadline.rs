//! Deadlines: a call's `grpc-timeout` is enforced by the server, and its expiry is
//! DEADLINE_EXCEEDED, as the gRPC spec and grpcio say. tonic's own server layer answers
//! CANCELLED "Timeout expired" instead, which clients' retry policies tell apart from a
//! deadline (grpc-dotnet carries a client-side workaround for servers that do this, its PR
//! #1402). Unlike tonic's layer, the deadline also bounds a response body that is still
//! streaming: at expiry the handler is dropped and the call ends with DEADLINE_EXCEEDED.

use tower::ServiceExt;

use crate::ending::{self, End};
use crate::{GrpcService, assembly};

use faultline_wire::deadline::{exceeded, timeout_of};

/// Wraps `inner` so that every call with a `grpc-timeout` ends by it. A malformed value is
/// ignored, as if the client had sent no deadline.
pub fn layer(inner: GrpcService) -> GrpcService {
    assembly::around(inner, |request, inner| {
        let timeout = timeout_of(&request);
        let call = inner.oneshot(request);
        match timeout {
            None => Box::pin(call),
            Some(timeout) => {
                Box::pin(ending::race(call, Box::pin(tokio::time::sleep(timeout)), End::with(exceeded())))
            }
        }
    })
}
