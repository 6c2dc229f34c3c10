//! The Rust server under test: the tutorial services on tonic's own server (as `faultline serve`
//! runs them), plus the abort hook that `ci/recorder/conformance_server.py` also has.
//!
//! The hook is how the suite makes a server answer with a status of its choosing (the
//! special-characters case): a call whose metadata has `faultline-abort-code` (a code number)
//! and `faultline-abort-message-bin` (UTF-8) gets that status before any handler runs.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use faultline_services::{Clock, FeatureDb, Greeter, Mutant, RouteGuide};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::body::Body;
use tonic::transport::server::Connected;
use tonic::{Code, Status};

use crate::rules::binary_value;

/// Metadata naming the status code the hook answers with.
pub const ABORT_CODE: &str = "faultline-abort-code";
/// Metadata carrying the status message (UTF-8, as binary metadata).
pub const ABORT_MESSAGE: &str = "faultline-abort-message-bin";

/// Serves both services on the connections of `incoming` until they end.
pub async fn serve<S, IO>(
    incoming: S,
    clock: Arc<dyn Clock>,
    mutant: Option<Mutant>,
) -> Result<(), tonic::transport::Error>
where
    S: Stream<Item = Result<IO, std::io::Error>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let guide = RouteGuide::new(Arc::new(FeatureDb::reference()), clock).with_mutant(mutant);
    tonic::transport::Server::builder()
        .layer(AbortHookLayer)
        .add_service(Greeter.into_service())
        .add_service(guide.into_service())
        .serve_with_incoming(incoming)
        .await
}

/// Wraps every service in the abort hook.
#[derive(Debug, Clone, Copy)]
pub struct AbortHookLayer;

impl<S> tower::Layer<S> for AbortHookLayer {
    type Service = AbortHook<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AbortHook { inner }
    }
}

/// Answers calls that carry the abort metadata; passes the rest on.
#[derive(Debug, Clone)]
pub struct AbortHook<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for AbortHook<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(status) = abort_status(request.headers()) {
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}

/// The status a request's abort metadata asks for, if it has any.
fn abort_status(headers: &http::HeaderMap) -> Option<Status> {
    let code = headers.get(ABORT_CODE)?.to_str().ok()?.trim().parse::<i32>().ok()?;
    let message = headers
        .get(ABORT_MESSAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(binary_value)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Some(Status::new(Code::from(code), message))
}
