//! Budgets that bound what peers can make the server hold, whatever they send.
//!
//! Calls: every call holds one of `max_calls` slots from its start until its response ends; a
//! call that finds none fails at once with RESOURCE_EXHAUSTED. Per connection, HTTP/2's stream
//! limit already queues calls at the client; this caps them over all connections.
//!
//! Request bytes: RouteChat keeps every note of a call until the call ends (the reference
//! semantics need them all), so a peer that streams notes and never half-closes would
//! otherwise grow the server without bound. Every request byte a running call has received
//! (plus a little per message) is charged to one shared budget and returned when its request
//! stream is dropped; a call that would exceed it fails with RESOURCE_EXHAUSTED instead.
//!
//! Message size: a message whose length prefix announces more than `max_message_size` fails
//! its call with RESOURCE_EXHAUSTED as soon as the prefix arrives, as gRPC and grpcio say
//! (tonic's own limit answers OUT_OF_RANGE, and only once the message is decoded), in grpc-core's
//! words, so clients see the text they know.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use faultline_wire::grpc::{Mark, Scanner};
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;
use tower::ServiceExt;

use crate::{GrpcService, assembly};

/// Caps the calls running at once, over all connections, at `max`.
pub fn call_slots(inner: GrpcService, max: usize) -> GrpcService {
    let slots = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
    assembly::around(inner, move |request, inner| {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let status = Status::resource_exhausted(format!(
                "the server is running its most calls at once ({max}, --max-calls)"
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let call = inner.oneshot(request);
        // The slot goes with the response body, which also owns a streaming call's request
        // stream: it is free when both are done.
        Box::pin(async move { Ok(call.await?.map(|body| assembly::holding(body, slot))) })
    })
}

/// What holding one decoded message costs beyond its bytes (the message struct and its slot in
/// a vector, as RouteChat keeps them), charged per message so that a flood of empty messages
/// (5 bytes each on the wire) cannot hold many times the budget.
const PER_MESSAGE: usize = 64;

/// The request-bytes budget (`max_bytes`, shared by every call) and the message size limit.
pub fn request_limits(inner: GrpcService, max_bytes: usize, max_message: usize) -> GrpcService {
    let budget = Arc::new(Budget {
        bytes: Arc::new(Semaphore::new(max_bytes.min(Semaphore::MAX_PERMITS))),
        total: max_bytes,
        max_message,
    });
    assembly::around(inner, move |request, inner| {
        let budget = budget.clone();
        let request = request.map(|inner| {
            Body::new(ChargedBody { inner, budget, charged: None, scanner: Scanner::default() })
        });
        Box::pin(inner.oneshot(request))
    })
}

#[derive(Debug)]
struct Budget {
    bytes: Arc<Semaphore>,
    total: usize,
    max_message: usize,
}

/// A request body whose bytes are charged to the budget while it lives, and whose messages
/// are checked against the size limit as their prefixes arrive.
struct ChargedBody {
    inner: Body,
    budget: Arc<Budget>,
    charged: Option<OwnedSemaphorePermit>,
    scanner: Scanner,
}

impl ChargedBody {
    /// Charges `data`, the next DATA bytes; the status a call fails with if it may not have them.
    fn charge(&mut self, data: &[u8]) -> Result<(), Status> {
        let (mut started, mut too_large) = (0usize, None);
        let max = self.budget.max_message;
        self.scanner.scan(data, |mark| {
            if let Mark::Prefix { prefix, .. } = mark {
                started += 1;
                if prefix.len as usize > max {
                    too_large = Some(prefix.len);
                    return false;
                }
            }
            true
        });
        if let Some(len) = too_large {
            return Err(Status::resource_exhausted(format!(
                "SERVER: Received message larger than max ({len} vs. {max})"
            )));
        }
        let charge = u32::try_from(data.len() + PER_MESSAGE * started).ok();
        let Some(permit) = charge.and_then(|n| self.budget.bytes.clone().try_acquire_many_owned(n).ok())
        else {
            return Err(Status::resource_exhausted(format!(
                "the server's request memory budget ({} bytes, --max-inflight-bytes) is spent",
                self.budget.total
            )));
        };
        match self.charged.as_mut() {
            Some(charged) => charged.merge(permit),
            None => self.charged = Some(permit),
        }
        Ok(())
    }
}

impl http_body::Body for ChargedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
            && let Err(status) = this.charge(data)
        {
            return Poll::Ready(Some(Err(status)));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
