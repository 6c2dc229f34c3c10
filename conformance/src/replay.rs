//! Direction one: a transcript's client side, replayed over raw HTTP/2 against a server, and
//! what that server sent back.
//!
//! Raw `h2` rather than tonic's client: the replay sends exactly the recorded bytes, including
//! those no tonic client would (malformed messages, unknown methods, over-limit messages). The
//! connection runs through `faultline_wire::tap`, so what `h2` hides, the server's frames, is observed
//! too: whether a response was trailers-only is read off them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use faultline_wire::tap;

use crate::framing;
use crate::rules::Rules;
use crate::transcript::{Call, CallStatus, Dir, EventKind, Header, Message, StatusSource};
use crate::wire::{self, EventLog};

/// How long a replay waits past a call's deadline for the server to answer it: the comparison
/// is about what the server does when the deadline (its `grpc-timeout`) expires.
pub const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// The longest a call without a deadline may take before the replay gives up on it.
pub const CALL_LIMIT: Duration = Duration::from_secs(20);

/// The authority replays use (dropped by the normalisation rules).
pub const AUTHORITY: &str = "conformance.test";

/// How long a replay of `call` may take in all.
pub fn budget(call: &Call) -> Duration {
    call.deadline_ms.map_or(CALL_LIMIT, |ms| Duration::from_millis(ms) + DEADLINE_GRACE)
}

enum End {
    Trailers(Vec<Header>),
    NoTrailers,
    Reset(Option<h2::Reason>),
    GaveUp,
}

/// Replays `call`'s client side over `io` (a fresh connection) and returns what was observed,
/// as a [`Call`] comparable with the transcript.
pub async fn replay_client_side<IO>(io: IO, call: &Call, rules: &Rules) -> Call
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    replay_client_side_to(io, call, rules, AUTHORITY).await
}

/// [`replay_client_side`] with the request's `:authority` (a real server's `HOST:PORT`).
pub async fn replay_client_side_to<IO>(io: IO, call: &Call, rules: &Rules, authority: &str) -> Call
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let log = EventLog::default();

    let mut observed = blank(call);
    let mut stream = None;
    let (io, frames) = tap::client_side(io);
    match exchange(io, call, rules, authority, &log, &mut observed, &mut stream).await {
        Ok(status) => observed.status = status,
        Err(e) => observed.status = CallStatus::new(tonic::Code::Unavailable, e, StatusSource::Client),
    }
    observed.events = log.take();
    let seen = stream.map(|id| framing::stream_frames(&frames, id)).unwrap_or_default();
    observed.trailers_only = framing::is_trailers_only(&seen);
    observed.response_frames = Some(seen);
    observed
}

/// `call` with everything observable emptied: what an observation starts from.
pub fn blank(call: &Call) -> Call {
    Call {
        grpcio_version: String::new(),
        request_headers: Vec::new(),
        response_headers: None,
        events: Vec::new(),
        status: CallStatus::new(tonic::Code::Unknown, "not observed", StatusSource::Client),
        trailers: Vec::new(),
        trailers_only: false,
        response_frames: None,
        ..call.clone()
    }
}

async fn exchange<IO>(
    io: IO,
    call: &Call,
    rules: &Rules,
    authority: &str,
    log: &EventLog,
    observed: &mut Call,
    stream: &mut Option<u32>,
) -> Result<CallStatus, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) =
        h2::client::handshake(io).await.map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.map_err(|e| format!("HTTP/2 connection: {e}"))?;
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{authority}{}", call.method))
        .body(())
        .map_err(|e| format!("request for {}: {e}", call.method))?;
    *request.headers_mut() = wire::header_map(&call.request_headers);
    let pseudo = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", call.method.as_str()),
        (":authority", authority),
    ];
    observed.request_headers = wire::header_list(
        pseudo.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        request.headers(),
    );
    let (response, send) =
        client.send_request(request, false).map_err(|e| format!("sending headers: {e}"))?;
    *stream = Some(u32::from(send.stream_id()));
    let send = Mutex::new(send);
    let cancelled = AtomicBool::new(false);
    let (received_tx, received_rx) = watch::channel(0usize);

    let sender = async {
        for step in wire::script(call, rules, Dir::Client) {
            let mut rx = received_rx.clone();
            if rx.wait_for(|n| *n >= step.after_other_messages).await.is_err() {
                break;
            }
            let mut send = send.lock().expect("send stream lock");
            match &step.kind {
                EventKind::Message(m) => {
                    let _ = send.send_data(wire::frame(m), false);
                }
                EventKind::HalfClose => {
                    let _ = send.send_data(Bytes::new(), true);
                }
                EventKind::Reset { error_code, .. } => {
                    cancelled.store(true, Ordering::SeqCst);
                    send.send_reset(h2::Reason::from(*error_code));
                }
                EventKind::Headers | EventKind::Trailers => continue,
            }
            log.push(Dir::Client, step.kind.clone());
        }
        // The call goes on until the server ends it (or the budget runs out).
        std::future::pending::<()>().await;
    };

    let receiver = async {
        let response = match response.await {
            Ok(r) => r,
            Err(e) => return End::Reset(e.reason()),
        };
        let (parts, mut body) = response.into_parts();
        let headers =
            wire::header_list(vec![(":status".to_owned(), parts.status.as_str().to_owned())], &parts.headers);
        if headers.iter().any(|(k, _)| k == "grpc-status") {
            // Read leniently as the status, as tonic's client does; whether it was a proper
            // Trailers-Only (END_STREAM on this HEADERS) is the tap's to say, once the stream
            // has ended.
            log.push(Dir::Server, EventKind::Trailers);
            while let Some(Ok(data)) = body.data().await {
                let _ = body.flow_control().release_capacity(data.len());
            }
            let _ = body.trailers().await;
            return End::Trailers(headers);
        }
        log.push(Dir::Server, EventKind::Headers);
        observed.response_headers = Some(headers);
        let mut deframer = wire::Deframer::default();
        while let Some(chunk) = body.data().await {
            match chunk {
                Ok(data) => {
                    let _ = body.flow_control().release_capacity(data.len());
                    for m in deframer.push(&data) {
                        log.push(Dir::Server, EventKind::Message(m));
                        received_tx.send_modify(|n| *n += 1);
                    }
                }
                Err(e) => return End::Reset(e.reason()),
            }
        }
        match body.trailers().await {
            Ok(Some(t)) => {
                log.push(Dir::Server, EventKind::Trailers);
                End::Trailers(wire::header_list(Vec::new(), &t))
            }
            Ok(None) => End::NoTrailers,
            Err(e) => End::Reset(e.reason()),
        }
    };

    let end = tokio::select! {
        end = receiver => end,
        () = sender => unreachable!("the sender never ends"),
        () = tokio::time::sleep(budget(call)) => End::GaveUp,
    };
    let is_cancelled = cancelled.load(Ordering::SeqCst);
    Ok(match end {
        End::Trailers(headers) => {
            let status = wire::trailer_status(&headers).unwrap_or_else(|| {
                CallStatus::new(tonic::Code::Internal, "trailers without grpc-status", StatusSource::Client)
            });
            observed.trailers = headers;
            status
        }
        End::NoTrailers => {
            CallStatus::new(tonic::Code::Internal, "stream ended without trailers", StatusSource::Client)
        }
        End::Reset(_) if is_cancelled => {
            CallStatus::new(tonic::Code::Cancelled, "cancelled by the replay", StatusSource::Client)
        }
        End::Reset(reason) => {
            if let Some(reason) = reason {
                let error = wire::reason_name(reason);
                log.push(Dir::Server, EventKind::Reset { error_code: u32::from(reason), error });
            }
            wire::reset_status(reason)
        }
        End::GaveUp => {
            send.lock().expect("send stream lock").send_reset(h2::Reason::CANCEL);
            log.push(Dir::Client, EventKind::Reset { error_code: 8, error: "CANCEL".to_owned() });
            // The replay never cancels a call with a deadline before the server could end it:
            // a server that has not answered a second after the deadline ignored its
            // `grpc-timeout`, and the call ends as the replay ended it.
            let message = match call.deadline_ms {
                Some(ms) => format!(
                    "no answer within {:?}: the server did not end the call at its {ms} ms deadline",
                    budget(call)
                ),
                None => format!("no answer within {:?}", budget(call)),
            };
            CallStatus::new(tonic::Code::Cancelled, message, StatusSource::Client)
        }
    })
}

/// Received messages as the events a typed client surfaces (for the Rust client's view).
pub fn received_events(messages: Vec<Message>) -> Vec<crate::transcript::Event> {
    messages
        .into_iter()
        .enumerate()
        .map(|(seq, m)| crate::transcript::Event { dir: Dir::Server, seq, kind: EventKind::Message(m) })
        .collect()
}
