//! The Rust client under test: tonic's client making a transcript's call.
//!
//! Known methods go through `tonic::client::Grpc` with `ProstCodec` and the generated message
//! types, the code path tonic's generated clients take, so prost encodes the requests the
//! comparison checks byte for byte. Requests that are not a message of the method's type
//! (malformed bytes) and unknown methods go as raw bytes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use faultline_proto::helloworld::{HelloReply, HelloRequest};
use faultline_proto::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use faultline_wire::RawCodec;
use faultline_wire::deadline::Deadline;
use tokio::sync::{Notify, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::Codec;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::replay::budget;
use crate::rules::Rules;
use crate::transcript::{Call, CallStatus, CallType, Dir, EventKind, Message, StatusSource};
use crate::wire;

/// How a call went, seen from the Rust client.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    pub status: CallStatus,
    /// Messages the client handed over, re-encoded.
    pub received: Vec<Message>,
    /// The driver itself ended the call (a scripted cancel, or it gave up).
    pub local: bool,
}

/// Makes `call` with tonic over `channel` (tonic's channel with the deadline enforced over the
/// whole call: the client under test), following the transcript's client script.
pub async fn run(channel: Deadline<Channel>, call: &Call, rules: &Rules) -> ClientOutcome {
    let messages: Vec<Bytes> = wire::script(call, rules, Dir::Client)
        .iter()
        .filter_map(|s| match &s.kind {
            EventKind::Message(m) => Some(m.bytes.clone()),
            _ => None,
        })
        .collect();
    let typed_outcome = match call.method.as_str() {
        "/helloworld.Greeter/SayHello" | "/helloworld.Greeter/SayHelloAgain" => {
            typed::<HelloRequest, HelloReply>(&channel, call, rules, &messages).await
        }
        "/routeguide.RouteGuide/GetFeature" => {
            typed::<Point, Feature>(&channel, call, rules, &messages).await
        }
        "/routeguide.RouteGuide/ListFeatures" => {
            typed::<Rectangle, Feature>(&channel, call, rules, &messages).await
        }
        "/routeguide.RouteGuide/RecordRoute" => {
            typed::<Point, RouteSummary>(&channel, call, rules, &messages).await
        }
        "/routeguide.RouteGuide/RouteChat" => {
            typed::<RouteNote, RouteNote>(&channel, call, rules, &messages).await
        }
        _ => None,
    };
    match typed_outcome {
        Some(outcome) => outcome,
        None => drive(channel, call, rules, RawCodec, messages, Bytes::clone).await,
    }
}

/// The call with prost types, if every request decodes as `Req`.
async fn typed<Req, Resp>(
    channel: &Deadline<Channel>,
    call: &Call,
    rules: &Rules,
    messages: &[Bytes],
) -> Option<ClientOutcome>
where
    Req: prost::Message + Default + Clone + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let requests: Vec<Req> =
        messages.iter().map(|b| Req::decode(b.as_ref())).collect::<Result<_, _>>().ok()?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    Some(drive(channel.clone(), call, rules, codec, requests, encode::<Resp>).await)
}

fn encode<M: prost::Message>(m: &M) -> Bytes {
    m.encode_to_vec().into()
}

enum End {
    Finished(Status),
    Cancelled,
    GaveUp,
}

async fn drive<C>(
    channel: Deadline<Channel>,
    call: &Call,
    rules: &Rules,
    codec: C,
    requests: Vec<C::Encode>,
    to_bytes: fn(&C::Decode) -> Bytes,
) -> ClientOutcome
where
    C: Codec + Send + 'static,
    C::Encode: Clone + Send + Sync + 'static,
    C::Decode: Send + Sync + 'static,
{
    let local = |code, message: &str| ClientOutcome {
        status: CallStatus::new(code, message, StatusSource::Client),
        received: Vec::new(),
        local: true,
    };
    let Ok(path) = call.method.parse::<http::uri::PathAndQuery>() else {
        return local(tonic::Code::InvalidArgument, "not a gRPC path");
    };
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return local(tonic::Code::Unavailable, &format!("channel not ready: {e}"));
    }
    let received = std::sync::Mutex::new(Vec::new());
    let (count_tx, count_rx) = watch::channel(0usize);
    let cancel = Notify::new();
    let streaming_requests = matches!(call.call_type, CallType::ClientStreaming | CallType::BidiStreaming);
    let (tx, rx) = mpsc::channel::<C::Encode>(requests.len().max(1));

    let feeder = async {
        let mut tx = Some(tx);
        let mut next = requests.iter();
        for step in wire::script(call, rules, Dir::Client) {
            let mut rx = count_rx.clone();
            if rx.wait_for(|n| *n >= step.after_other_messages).await.is_err() {
                break;
            }
            match step.kind {
                EventKind::Message(_) if streaming_requests => {
                    if let (Some(t), Some(m)) = (&tx, next.next()) {
                        let _ = t.send(m.clone()).await;
                    }
                }
                EventKind::HalfClose => tx = None,
                EventKind::Reset { .. } => cancel.notify_one(),
                _ => {}
            }
        }
        // Without a half-close the request stream stays open until the call ends.
        std::future::pending::<()>().await;
        drop(tx);
    };

    let read = |m: &C::Decode| {
        received.lock().expect("received lock").push(Message::from_bytes(false, to_bytes(m)));
        count_tx.send_modify(|n| *n += 1);
    };
    let first = requests.first().cloned();
    let exchange = async {
        match call.call_type {
            CallType::Unary | CallType::ServerStreaming => {
                let Some(first) = first else { return Status::internal("no request message to send") };
                let request = prepare(Request::new(first), call);
                if call.call_type == CallType::Unary {
                    return match grpc.unary(request, path, codec).await {
                        Ok(r) => {
                            read(r.get_ref());
                            Status::ok("")
                        }
                        Err(s) => s,
                    };
                }
                let stream = match grpc.server_streaming(request, path, codec).await {
                    Ok(r) => r.into_inner(),
                    Err(s) => return s,
                };
                drain(stream, &read).await
            }
            CallType::ClientStreaming => {
                let request = prepare(Request::new(ReceiverStream::new(rx)), call);
                match grpc.client_streaming(request, path, codec).await {
                    Ok(r) => {
                        read(r.get_ref());
                        Status::ok("")
                    }
                    Err(s) => s,
                }
            }
            CallType::BidiStreaming => {
                let request = prepare(Request::new(ReceiverStream::new(rx)), call);
                let stream = match grpc.streaming(request, path, codec).await {
                    Ok(r) => r.into_inner(),
                    Err(s) => return s,
                };
                drain(stream, &read).await
            }
        }
    };

    let end = tokio::select! {
        status = exchange => End::Finished(status),
        () = feeder => unreachable!("the feeder never ends"),
        () = cancel.notified() => End::Cancelled,
        () = tokio::time::sleep(budget(call)) => End::GaveUp,
    };
    let received = received.into_inner().expect("received lock");
    let (status, local) = match end {
        End::Finished(s) => (CallStatus::new(s.code(), s.message(), StatusSource::Server), false),
        End::Cancelled => (
            CallStatus::new(
                tonic::Code::Cancelled,
                "cancelled by the conformance client",
                StatusSource::Client,
            ),
            true,
        ),
        End::GaveUp => (
            CallStatus::new(
                tonic::Code::DeadlineExceeded,
                format!("no answer within {:?}", budget(call)),
                StatusSource::Client,
            ),
            true,
        ),
    };
    ClientOutcome { status, received, local }
}

/// The request with the transcript's custom metadata and deadline.
fn prepare<T>(mut request: Request<T>, call: &Call) -> Request<T> {
    for (name, value) in &call.request_metadata {
        if name.ends_with("-bin") {
            if let (Ok(key), Ok(bytes)) =
                (BinaryMetadataKey::from_bytes(name.as_bytes()), STANDARD.decode(value))
            {
                request.metadata_mut().append_bin(key, BinaryMetadataValue::from_bytes(&bytes));
            }
        } else if let (Ok(key), Ok(value)) =
            (AsciiMetadataKey::from_bytes(name.as_bytes()), AsciiMetadataValue::try_from(value.as_str()))
        {
            request.metadata_mut().append(key, value);
        }
    }
    if let Some(ms) = call.deadline_ms {
        request.set_timeout(Duration::from_millis(ms));
    }
    request
}

/// Reads a response stream to its end, handing each message to `read`; returns the status
/// it ended with.
async fn drain<T>(mut stream: tonic::Streaming<T>, read: impl Fn(&T)) -> Status {
    loop {
        match stream.message().await {
            Ok(Some(m)) => read(&m),
            Ok(None) => return Status::ok(""),
            Err(status) => return status,
        }
    }
}
