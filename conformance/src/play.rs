//! Direction two: a transcript's server side, played over raw HTTP/2 to a client, and what that
//! client sent.
//!
//! Each server event goes out once the client events captured before it have arrived, so the
//! player reacts as grpcio did. One exception keeps time honest: a DEADLINE_EXCEEDED the
//! recorded server sent goes out when the *request's* `grpc-timeout` runs out, counted from the
//! request's arrival plus a millisecond (a server's clock starts after the client's).

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::replay::budget;
use crate::rules::Rules;
use crate::transcript::{Call, Dir, Event, EventKind, Header, StatusSource};
use crate::wire::{self, EventLog};

/// What the player saw of the client, and what it sent.
#[derive(Debug, Clone, Default)]
pub struct Played {
    /// The request's HEADERS, pseudo-headers first.
    pub request_headers: Vec<Header>,
    /// Client events as received, server events as sent, in order.
    pub events: Vec<Event>,
    /// Whether the recorded trailers went out.
    pub sent_trailers: bool,
    /// Set when the connection or stream could not be used at all.
    pub error: Option<String>,
}

/// Accepts one connection on `io`, takes its first stream and plays `call`'s server side on it.
pub async fn play_server_side<IO>(io: IO, call: &Call, rules: &Rules) -> Played
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut played = Played::default();
    let mut connection = match h2::server::handshake(io).await {
        Ok(c) => c,
        Err(e) => {
            played.error = Some(format!("HTTP/2 handshake: {e}"));
            return played;
        }
    };
    let (request, respond) = match connection.accept().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            played.error = Some(format!("accepting the call: {e}"));
            return played;
        }
        None => {
            played.error = Some("the client made no call".to_owned());
            return played;
        }
    };
    // The connection is driven by polling `accept`; keep doing so while the call runs.
    tokio::spawn(async move { while connection.accept().await.is_some() {} });
    let arrived = tokio::time::Instant::now();
    let (parts, body) = request.into_parts();
    let uri = &parts.uri;
    let pseudo = vec![
        (":method".to_owned(), parts.method.as_str().to_owned()),
        (":scheme".to_owned(), uri.scheme_str().unwrap_or("").to_owned()),
        (":path".to_owned(), uri.path_and_query().map_or("", |p| p.as_str()).to_owned()),
        (":authority".to_owned(), uri.authority().map_or("", |a| a.as_str()).to_owned()),
    ];
    played.request_headers = wire::header_list(pseudo, &parts.headers);
    let timeout = parts.headers.get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_timeout);

    let log = EventLog::default();
    let (count_tx, count_rx) = watch::channel(0usize);
    let receiver = receive(body, &log, count_tx);
    let sender = async {
        let mut respond = respond;
        let mut stream: Option<h2::SendStream<Bytes>> = None;
        let mut sent_trailers = false;
        let deadline_answer = call.status.code == tonic::Code::DeadlineExceeded as i32
            && call.status.source == StatusSource::Server;
        for step in wire::script(call, rules, Dir::Server) {
            let mut rx = count_rx.clone();
            if rx.wait_for(|n| *n >= step.after_other).await.is_err() {
                break;
            }
            match &step.kind {
                EventKind::Headers => {
                    let headers = call.response_headers.as_deref().unwrap_or_default();
                    match respond.send_response(response(headers), false) {
                        Ok(s) => stream = Some(s),
                        Err(_) => break,
                    }
                }
                EventKind::Message(m) => {
                    let Some(s) = stream.as_mut() else { break };
                    if s.send_data(wire::frame(m), false).is_err() {
                        break;
                    }
                }
                EventKind::Trailers => {
                    if deadline_answer {
                        let Some(timeout) = timeout else { break };
                        tokio::time::sleep_until(arrived + timeout + Duration::from_millis(1)).await;
                    }
                    if send_trailers(call, &mut respond, stream.as_mut()).is_err() {
                        break;
                    }
                    sent_trailers = true;
                }
                EventKind::Reset { error_code, .. } => match stream.as_mut() {
                    Some(s) => s.send_reset(h2::Reason::from(*error_code)),
                    None => respond.send_reset(h2::Reason::from(*error_code)),
                },
                EventKind::HalfClose => continue,
            }
            log.push(Dir::Server, step.kind.clone());
        }
        // The rules take the trailers of a deadline call out of the script (which timer wins is
        // a race); the player still answers when the request's own deadline runs out.
        if deadline_answer
            && !sent_trailers
            && !call.trailers.is_empty()
            && let Some(timeout) = timeout
        {
            tokio::time::sleep_until(arrived + timeout + Duration::from_millis(1)).await;
            if send_trailers(call, &mut respond, stream.as_mut()).is_ok() {
                sent_trailers = true;
                log.push(Dir::Server, EventKind::Trailers);
            }
        }
        sent_trailers
    };
    let both = async { tokio::join!(sender, receiver).0 };
    if let Ok(sent) = tokio::time::timeout(budget(call), both).await {
        played.sent_trailers = sent;
    }
    played.events = log.take();
    played
}

/// Sends the recorded trailers (as a trailers-only response when they were one).
fn send_trailers(
    call: &Call,
    respond: &mut h2::server::SendResponse<Bytes>,
    stream: Option<&mut h2::SendStream<Bytes>>,
) -> Result<(), String> {
    if call.trailers_only {
        respond.send_response(response(&call.trailers), true).map(drop).map_err(|e| e.to_string())
    } else {
        let stream = stream.ok_or("trailers before headers")?;
        stream.send_trailers(wire::header_map(&call.trailers)).map_err(|e| e.to_string())
    }
}

/// Reads the client's side of the stream into `log` until it ends.
async fn receive(mut body: h2::RecvStream, log: &EventLog, count: watch::Sender<usize>) {
    let mut deframer = wire::Deframer::default();
    loop {
        match body.data().await {
            Some(Ok(data)) => {
                let _ = body.flow_control().release_capacity(data.len());
                for m in deframer.push(&data) {
                    log.push(Dir::Client, EventKind::Message(m));
                    count.send_modify(|n| *n += 1);
                }
            }
            Some(Err(e)) => {
                if let Some(reason) = e.reason() {
                    let error = wire::reason_name(reason);
                    log.push(Dir::Client, EventKind::Reset { error_code: u32::from(reason), error });
                    count.send_modify(|n| *n += 1);
                }
                return;
            }
            None => {
                log.push(Dir::Client, EventKind::HalfClose);
                count.send_modify(|n| *n += 1);
                return;
            }
        }
    }
}

/// A response carrying the recorded header fields (`:status` taken from them, 200 if absent).
fn response(headers: &[Header]) -> http::Response<()> {
    let status = headers
        .iter()
        .find(|(k, _)| k == ":status")
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .unwrap_or(http::StatusCode::OK);
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = wire::header_map(headers);
    response
}

/// A `grpc-timeout` value (`300m`, `299875u`, ...) as a duration.
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}
