//! The buggy server: just enough HTTP/2 (h2c, prior knowledge) to take requests and answer each
//! with a case's exact frames. No HTTP/2 library is used on this side on purpose: `h2` drops the
//! queued frames of a stream it resets and refuses to send malformed responses, which are the
//! point here.
//!
//! A call picks its case with the `faultline-case` request metadata; without it the server's
//! default case applies (`faultline buggy-server --case`), so an unmodified client works too.
//! GetFeature, ListFeatures, SayHello and SayHelloAgain are answered (with the tutorial's
//! semantics); any other method is UNIMPLEMENTED.
//!
//! Hostile peers: bytes that are not HTTP/2, a broken header block, a request over 64 KiB or
//! more than 100 open streams end that connection only; past 1024 connections, new ones are
//! closed at once. Flow control is not followed: every
//! response here is far below the 65,535-byte initial window.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use faultline_proto::helloworld::HelloRequest;
use faultline_proto::routeguide::{Point, Rectangle};
use faultline_services::route_guide::{get_feature, list_features};
use faultline_services::{FeatureDb, greeter};
use faultline_wire::frame::{Frame, FrameReader, Unit, flag, kind};
use faultline_wire::grpc::Deframer;
use faultline_wire::hpack;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::case::{Case, Method};
use crate::script::{self, Step};

/// The request metadata that chooses a call's case.
pub const CASE_HEADER: &str = "faultline-case";

/// The most request bytes (headers or body) held per stream.
const MAX_REQUEST: usize = 64 << 10;
/// The most streams a connection may have open.
const MAX_STREAMS: usize = 100;
/// The most connections served at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 1024;

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Serves `listener` until `shutdown` completes; open connections are then dropped.
pub async fn serve(listener: TcpListener, default: Case, shutdown: impl Future<Output = ()>) {
    let db = Arc::new(FeatureDb::reference());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                // A failed accept (out of descriptors, a reset before accept) costs one peer.
                if let Ok((socket, _)) = accepted
                    && connections.len() < MAX_CONNECTIONS
                {
                    let db = Arc::clone(&db);
                    connections.spawn(async move {
                        let _ = connection(socket, default, &db).await;
                    });
                }
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// A request being received.
#[derive(Debug)]
struct Request {
    path: String,
    case: Option<Case>,
    /// The case header named no case: answered INTERNAL, naming it.
    unknown_case: Option<String>,
    body: Vec<u8>,
}

/// One connection: read frames, answer each request when its END_STREAM arrives.
pub async fn connection(mut socket: TcpStream, default: Case, db: &FeatureDb) -> Result<(), ConnError> {
    let _ = socket.set_nodelay(true);
    let mut reader = FrameReader::client_side();
    let mut decoder = hpack::Decoder::default();
    // (stream, END_STREAM on its HEADERS, fragment) of a block awaiting CONTINUATIONs.
    let mut block: Option<(u32, bool, Vec<u8>)> = None;
    let mut streams: BTreeMap<u32, Request> = BTreeMap::new();
    socket.write_all(&Frame::new(kind::SETTINGS, 0, 0, &[]).0).await?;
    loop {
        while let Some(unit) = reader.next_unit().map_err(ConnError::Protocol)? {
            let Unit::Frame(frame) = unit else { continue };
            let mut done = None;
            match frame.kind() {
                kind::SETTINGS if !frame.has(flag::ACK) => {
                    socket.write_all(&Frame::new(kind::SETTINGS, flag::ACK, 0, &[]).0).await?;
                }
                kind::PING if !frame.has(flag::ACK) => {
                    socket.write_all(&Frame::new(kind::PING, flag::ACK, 0, frame.payload()).0).await?;
                }
                kind::HEADERS | kind::CONTINUATION => {
                    if frame.kind() == kind::HEADERS {
                        if block.is_some() {
                            return Err(ConnError::Protocol("header block interrupted".to_owned()));
                        }
                        let fragment = frame.header_fragment().map_err(ConnError::Protocol)?;
                        block = Some((frame.stream(), frame.has(flag::END_STREAM), fragment.to_vec()));
                    } else {
                        let Some((stream, _, fragment)) = block.as_mut() else {
                            return Err(ConnError::Protocol(
                                "CONTINUATION outside a header block".to_owned(),
                            ));
                        };
                        if *stream != frame.stream() {
                            return Err(ConnError::Protocol("CONTINUATION on another stream".to_owned()));
                        }
                        fragment.extend_from_slice(frame.payload());
                    }
                    if block.as_ref().is_some_and(|(_, _, f)| f.len() > MAX_REQUEST) {
                        return Err(ConnError::Protocol("header block too large".to_owned()));
                    }
                    if frame.has(flag::END_HEADERS)
                        && let Some((stream, end_stream, fragment)) = block.take()
                    {
                        let fields = decoder.decode(&fragment).map_err(ConnError::Protocol)?.fields;
                        if let std::collections::btree_map::Entry::Vacant(slot) = streams.entry(stream) {
                            if stream % 2 == 0 {
                                return Err(ConnError::Protocol("request on an even stream".to_owned()));
                            }
                            slot.insert(request(&fields, default));
                            if streams.len() > MAX_STREAMS {
                                return Err(ConnError::Protocol("too many open streams".to_owned()));
                            }
                        }
                        if end_stream {
                            done = Some(stream);
                        }
                    }
                }
                kind::DATA => {
                    if let Some(request) = streams.get_mut(&frame.stream()) {
                        request.body.extend_from_slice(frame.data().map_err(ConnError::Protocol)?);
                        if request.body.len() > MAX_REQUEST {
                            return Err(ConnError::Protocol("request body too large".to_owned()));
                        }
                        if frame.has(flag::END_STREAM) {
                            done = Some(frame.stream());
                        }
                    }
                }
                kind::RST_STREAM => {
                    streams.remove(&frame.stream());
                }
                kind::GOAWAY => return Ok(()),
                _ => {}
            }
            let Some(stream) = done else { continue };
            let Some(request) = streams.remove(&stream) else { continue };
            for step in answer(stream, &request, db) {
                match step {
                    Step::Frame(frame) => socket.write_all(&frame.0).await?,
                    Step::Close => return drain(socket).await,
                }
            }
        }
        if socket.read_buf(reader.buffer()).await? == 0 {
            return Ok(());
        }
    }
}

/// After a FIN of our own: read (and ignore) until the peer closes, so that unread bytes never
/// turn our close into a TCP RST that could overtake the frames before it.
async fn drain(mut socket: TcpStream) -> Result<(), ConnError> {
    socket.shutdown().await?;
    let mut sink = vec![0u8; 16 << 10];
    while socket.read(&mut sink).await? > 0 {}
    Ok(())
}

fn request(fields: &[hpack::Field], default: Case) -> Request {
    let value = |name: &str| {
        let field = fields.iter().find(|f| f.name == name.as_bytes())?;
        Some(String::from_utf8_lossy(&field.value).into_owned())
    };
    let named = value(CASE_HEADER);
    let case = match &named {
        Some(name) => Case::from_name(name),
        None => Some(default),
    };
    Request {
        path: value(":path").unwrap_or_default(),
        case,
        unknown_case: named.filter(|_| case.is_none()),
        body: Vec::new(),
    }
}

/// The steps that answer a whole request.
fn answer(stream: u32, request: &Request, db: &FeatureDb) -> Vec<Step> {
    let Some(case) = request.case else {
        let name = request.unknown_case.as_deref().unwrap_or_default();
        let known: Vec<&str> = Case::ALL.iter().map(|c| c.name()).collect();
        return script::bad_request(
            stream,
            &format!("unknown {CASE_HEADER} `{name}` (known: {})", known.join(", ")),
        );
    };
    if !SERVED.contains(&request.path.as_str()) {
        return script::unimplemented(stream, &request.path);
    }
    let mut deframer = Deframer::default();
    let body = deframer.push(&request.body);
    let Some(message) = body.first().filter(|m| !m.compressed) else {
        return script::bad_request(stream, "buggy-server: the request is not one uncompressed message");
    };
    match messages(&request.path, &message.bytes, db) {
        Ok(Some(messages)) => script::response(case, stream, &messages),
        Ok(None) => script::unimplemented(stream, &request.path),
        Err(e) => script::bad_request(stream, &format!("buggy-server: the request does not decode: {e}")),
    }
}

/// The methods answered; every other one is UNIMPLEMENTED.
const SERVED: [&str; 4] = [
    "/routeguide.RouteGuide/GetFeature",
    "/routeguide.RouteGuide/ListFeatures",
    "/helloworld.Greeter/SayHello",
    "/helloworld.Greeter/SayHelloAgain",
];

/// The tutorial server's answer to a request, as encoded messages; `None` for a method not
/// served here.
pub fn messages(
    path: &str,
    request: &[u8],
    db: &FeatureDb,
) -> Result<Option<Vec<Bytes>>, prost::DecodeError> {
    fn encode(message: &impl Message) -> Bytes {
        Bytes::from(message.encode_to_vec())
    }
    Ok(Some(match path {
        "/routeguide.RouteGuide/GetFeature" => vec![encode(&get_feature(db, Point::decode(request)?, None))],
        "/routeguide.RouteGuide/ListFeatures" => {
            list_features(db, &Rectangle::decode(request)?, None).iter().map(encode).collect()
        }
        "/helloworld.Greeter/SayHello" => vec![encode(&greeter::hello(&HelloRequest::decode(request)?.name))],
        "/helloworld.Greeter/SayHelloAgain" => {
            vec![encode(&greeter::hello_again(&HelloRequest::decode(request)?.name))]
        }
        _ => return Ok(None),
    }))
}

/// The path of a method played by the probes.
pub fn path(method: Method) -> &'static str {
    match method {
        Method::GetFeature => "/routeguide.RouteGuide/GetFeature",
        Method::ListFeatures => "/routeguide.RouteGuide/ListFeatures",
    }
}
