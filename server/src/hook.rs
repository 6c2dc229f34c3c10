//! A hook asked about every call before its handler runs: how the simulator injects
//! server-side faults (slow handlers, Trailers-Only errors) and watches handler lifetimes, and
//! how the conformance suite makes the server answer with a status of its choosing.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use tonic::body::Body;
use tonic::{Code, Status};
use tower::ServiceExt;

use crate::{GrpcService, assembly};

/// Something alive exactly as long as a call's handler: dropped when the handler's future,
/// its response stream and its request (which the handler may keep, or move into a task it
/// spawns) are all gone. A [`CallHook`] learns of the end through its own `Drop`.
pub type HandlerLife = Arc<dyn Any + Send + Sync>;

/// What a hook decides about one call.
#[derive(Default)]
pub struct HookAction {
    /// Wait this long before the handler runs.
    pub delay: Option<Duration>,
    /// Answer with this status instead of running the handler (a Trailers-Only response).
    pub answer: Option<Status>,
    /// Kept alive while the handler runs.
    pub life: Option<HandlerLife>,
    /// Headers put into the request (replacing any of the same name) before the handler sees it.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Asked about every call, before its handler runs.
pub trait CallHook: Send + Sync + 'static {
    /// What to do with this call.
    fn on_call(&self, request: &http::Request<Body>) -> HookAction;
}

/// The request extension holding a call's [`HandlerLife`], so a handler that keeps its
/// request keeps its life too.
#[derive(Clone)]
struct Life(#[allow(dead_code)] HandlerLife);

/// Puts `hook` in front of `inner`.
pub fn layer(inner: GrpcService, hook: Arc<dyn CallHook>) -> GrpcService {
    assembly::around(inner, move |mut request, inner| {
        let action = hook.on_call(&request);
        if let Some(status) = action.answer {
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        if let Some(life) = &action.life {
            request.extensions_mut().insert(Life(life.clone()));
        }
        for (name, value) in action.headers {
            request.headers_mut().insert(name, value);
        }
        let (delay, life) = (action.delay, action.life);
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let response = inner.oneshot(request).await?;
            Ok(match life {
                Some(life) => response.map(|body| assembly::holding(body, life)),
                None => response,
            })
        })
    })
}

/// Metadata naming the status code the [`AbortHook`] answers with.
pub const ABORT_CODE: &str = "faultline-abort-code";
/// Metadata carrying the status message (UTF-8, as binary metadata).
pub const ABORT_MESSAGE: &str = "faultline-abort-message-bin";

/// Answers a call whose metadata has `faultline-abort-code` (a code number) and optionally
/// `faultline-abort-message-bin` (UTF-8) with that status before any handler runs: how the
/// conformance suite gets a status with special characters out of a server, as the grpcio
/// conformance server (`ci/recorder/conformance_server.py`) does too. Off unless configured
/// (`faultline serve --conformance-hook`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AbortHook;

impl CallHook for AbortHook {
    fn on_call(&self, request: &http::Request<Body>) -> HookAction {
        HookAction { answer: abort_status(request.headers()), ..HookAction::default() }
    }
}

fn abort_status(headers: &http::HeaderMap) -> Option<Status> {
    let code = headers.get(ABORT_CODE)?.to_str().ok()?.trim().parse::<i32>().ok()?;
    let message = headers
        .get(ABORT_MESSAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| STANDARD.decode(v).or_else(|_| STANDARD_NO_PAD.decode(v)).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Some(Status::new(Code::from(code), message))
}
