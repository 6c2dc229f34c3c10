//! The control endpoint (`--control ADDR`): the fault list over plain HTTP/1.1, as
//! toxiproxy's API does, so a test in any language (or `curl`) switches faults while traffic
//! flows.
//!
//! * `GET /faults`: the list, as a JSON array (each entry: `id`, `from_ms`, `until_ms`, and
//!   the scenario file's fields);
//! * `POST /faults` with a JSON body, a scenario file's `[[faults]]` entry whose `at_ms`
//!   (default 0) counts from the request and whose `for_ms` defaults to forever: `201` and
//!   `{"id": N}`; `400` for a body that is not a proxy fault; `409` when a fault of that kind
//!   is planned already;
//! * `DELETE /faults/ID`: `204`, or `404`; `DELETE /faults`: removes all, `204`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use super::faults::{Faults, NewFault, Rejected};
use super::log::Log;

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// Serves the control endpoint on `listener` forever.
pub async fn serve(listener: TcpListener, faults: Arc<Mutex<Faults>>, log: Log) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: give connections a moment to close.
            tokio::time::sleep(super::ACCEPT_BACKOFF).await;
            continue;
        };
        let faults = faults.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let faults = faults.clone();
                async move { Ok::<_, Infallible>(answer(request, &faults, log).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(request: Request<Incoming>, faults: &Mutex<Faults>, log: Log) -> Response<Full<Bytes>> {
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let id = path.strip_prefix("/faults/").map(str::parse::<usize>);
    match (request.method().clone(), path.as_str(), id) {
        (Method::GET, "/faults", _) => {
            let list = serde_json::to_value(lock(faults).entries()).unwrap_or_default();
            reply(StatusCode::OK, list)
        }
        (Method::POST, "/faults", _) => {
            let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")),
            };
            let new: NewFault = match serde_json::from_slice(&body) {
                Ok(new) => new,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a fault: {e}")),
            };
            let added = lock(faults).add(new.clone());
            match added {
                Ok(id) => {
                    log.event("fault-added", json!({ "id": id, "fault": new }));
                    reply(StatusCode::CREATED, json!({ "id": id }))
                }
                Err(e @ Rejected::Duplicate(..)) => error(StatusCode::CONFLICT, e.to_string()),
                Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        (Method::DELETE, "/faults", _) => {
            lock(faults).clear();
            log.event("faults-cleared", json!({}));
            empty(StatusCode::NO_CONTENT)
        }
        (Method::DELETE, _, Some(Ok(id))) => {
            if lock(faults).remove(id) {
                log.event("fault-removed", json!({ "id": id }));
                empty(StatusCode::NO_CONTENT)
            } else {
                error(StatusCode::NOT_FOUND, format!("no fault with id {id}"))
            }
        }
        (_, "/faults", _) | (_, _, Some(Ok(_))) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
        }
        _ => error(StatusCode::NOT_FOUND, "not found: the endpoint is /faults".into()),
    }
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    // A panic while holding the lock cannot leave the list half-changed: recover it.
    faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    reply(status, json!({ "error": message }))
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
