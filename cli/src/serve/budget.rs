//! Budgets that bound what peers can make the server hold, whatever they send.
//!
//! Calls: every call holds one of `--max-calls` slots from its start until its response ends;
//! a call that finds none fails at once with RESOURCE_EXHAUSTED. Per connection, HTTP/2's
//! stream limit already queues calls at the client; this caps them over all connections.
//!
//! Request bytes: a memory budget. RouteChat keeps every note of a call until the call
//! ends (the reference semantics need them all), so a peer that streams notes and never
//! half-closes would otherwise grow the server without bound. Every request byte a running
//! call has received (plus a little per message) is charged to one shared budget and returned
//! when its request stream is dropped; a call that would exceed it fails with
//! RESOURCE_EXHAUSTED instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;

/// The server-wide cap on calls running at once, as a tower layer.
#[derive(Debug, Clone)]
pub struct CallSlots {
    slots: Arc<Semaphore>,
    total: usize,
}

impl CallSlots {
    pub fn new(total: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))), total }
    }
}

impl<S> tower::Layer<S> for CallSlots {
    type Service = CallSlotsService<S>;

    fn layer(&self, inner: S) -> CallSlotsService<S> {
        CallSlotsService { inner, slots: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct CallSlotsService<S> {
    inner: S,
    slots: CallSlots,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower::Service<http::Request<Body>> for CallSlotsService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Ok(slot) = self.slots.slots.clone().try_acquire_owned() else {
            let status = Status::resource_exhausted(format!(
                "the server is running its most calls at once ({}, --max-calls)",
                self.slots.total
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            // The slot goes with the response body, which also owns a streaming call's
            // request stream: it is free when both are done.
            Ok(response.await?.map(|inner| Body::new(SlotBody { inner, _slot: slot })))
        })
    }
}

/// A response body that holds its call's slot.
struct SlotBody {
    inner: Body,
    _slot: OwnedSemaphorePermit,
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The shared request-bytes budget, as a tower layer.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl RequestBudget {
    pub fn new(total: usize) -> Self {
        Self { bytes: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))), total }
    }
}

impl<S> tower::Layer<S> for RequestBudget {
    type Service = RequestBudgetService<S>;

    fn layer(&self, inner: S) -> RequestBudgetService<S> {
        RequestBudgetService { inner, budget: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct RequestBudgetService<S> {
    inner: S,
    budget: RequestBudget,
}

impl<S> tower::Service<http::Request<Body>> for RequestBudgetService<S>
where
    S: tower::Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> S::Future {
        let budget = self.budget.clone();
        self.inner.call(request.map(|inner| {
            Body::new(ChargedBody { inner, budget, charged: None, frames: MessageCounter::default() })
        }))
    }
}

/// What holding one decoded message costs beyond its bytes (the message struct and its slot
/// in a vector, as RouteChat keeps them), charged per message so that a flood of empty
/// messages (5 bytes each on the wire) cannot hold many times the budget.
const PER_MESSAGE: usize = 64;

/// A request body whose bytes are charged to the budget while it lives.
struct ChargedBody {
    inner: Body,
    budget: RequestBudget,
    charged: Option<OwnedSemaphorePermit>,
    frames: MessageCounter,
}

/// Counts gRPC messages (a 5-byte prefix, then as many bytes as it says) across data chunks.
#[derive(Debug, Default)]
struct MessageCounter {
    prefix: [u8; 5],
    prefix_len: usize,
    body_left: usize,
}

impl MessageCounter {
    /// How many messages start in `data`.
    fn feed(&mut self, mut data: &[u8]) -> usize {
        let mut started = 0;
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&data[..n]);
            self.prefix_len += n;
            data = &data[n..];
            if self.prefix_len == 5 {
                started += 1;
                self.prefix_len = 0;
                let len =
                    u32::from_be_bytes([self.prefix[1], self.prefix[2], self.prefix[3], self.prefix[4]]);
                self.body_left = len as usize;
            }
        }
        started
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
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref))
            && let Some(data) = data
        {
            let charge = data.len() + PER_MESSAGE * this.frames.feed(data);
            let charge = u32::try_from(charge).ok();
            match charge.and_then(|n| this.budget.bytes.clone().try_acquire_many_owned(n).ok()) {
                Some(permit) => match this.charged.as_mut() {
                    Some(charged) => charged.merge(permit),
                    None => this.charged = Some(permit),
                },
                None => {
                    return Poll::Ready(Some(Err(Status::resource_exhausted(format!(
                        "the server's request memory budget ({} bytes, --max-inflight-bytes) is spent",
                        this.budget.total
                    )))));
                }
            }
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

#[cfg(test)]
mod tests {
    use super::MessageCounter;

    #[test]
    fn messages_are_counted_across_chunks() {
        let two = [0, 0, 0, 0, 2, 8, 1, 0, 0, 0, 0, 0];
        for split in 0..=two.len() {
            let mut counter = MessageCounter::default();
            let (a, b) = two.split_at(split);
            assert_eq!(counter.feed(a) + counter.feed(b), 2, "split at {split}");
        }
        let mut counter = MessageCounter::default();
        assert_eq!(counter.feed(&[0, 0, 0, 1, 0]), 1); // a 256-byte message begins
        assert_eq!(counter.feed(&[7; 256]), 0);
        assert_eq!(counter.feed(&[0, 0, 0, 0, 0]), 1);
    }
}
