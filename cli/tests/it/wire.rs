//! gRPC and HTTP/2 by hand: a raw `h2` client for calls tonic's client would never make, and
//! raw frames on a TCP socket for what no HTTP/2 library would send at all.

use std::future::Future;
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use bytes::Bytes;
use faultline_wire::grpc::{Deframer, Message};
use faultline_wire::tap::{self, TapLog};
use h2::client::{ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on every network wait here: generous for a loaded 2-core machine, and what turns
/// a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

// ---- gRPC over the `h2` crate ----

pub use faultline_wire::grpc::{encode as grpc_frame, encode_raw as grpc_frame_raw};

/// `message` encoded and framed.
pub fn framed(message: &impl prost::Message) -> Bytes {
    grpc_frame(&message.encode_to_vec())
}

/// An HTTP/2 connection to `addr` through the `h2` crate, driven by a spawned task.
pub async fn h2_connect(addr: &str) -> SendRequest<Bytes> {
    h2_connect_tapped(addr).await.0
}

/// The same, with the frames the server sends recorded as they arrive (what `h2` hides: which
/// frame carried END_STREAM).
pub async fn h2_connect_tapped(addr: &str) -> (SendRequest<Bytes>, TapLog) {
    within("h2 connect", async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (tcp, log) = tap::client_side(tcp);
        let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        (client.ready().await.expect("h2 ready"), log)
    })
    .await
}

/// How one call ended.
#[derive(Debug)]
pub struct Reply {
    pub http_status: u16,
    /// `grpc-status`, from the headers (trailers-only) or the trailers.
    pub code: Option<i32>,
    pub message: String,
    pub messages: Vec<Bytes>,
}

/// A call in flight on an `h2` connection.
pub struct Call {
    send: SendStream<Bytes>,
    response: Option<ResponseFuture>,
    http_status: u16,
    headers: HeaderMap,
    body: Option<RecvStream>,
    deframer: Deframer,
    /// Messages cut out and not handed over yet.
    ready: VecDeque<Message>,
}

/// Starts a POST to `path` with gRPC's headers and `headers` added.
pub async fn start_with(client: &mut SendRequest<Bytes>, path: &str, headers: &[(&str, &str)]) -> Call {
    let mut request = http::Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    start_request(client, request.body(()).unwrap()).await
}

/// Starts a gRPC call to `path`.
pub async fn start(client: &mut SendRequest<Bytes>, path: &str) -> Call {
    start_with(client, path, &[]).await
}

/// Starts any request (not necessarily a well-formed gRPC one).
pub async fn start_request(client: &mut SendRequest<Bytes>, request: http::Request<()>) -> Call {
    let ready = within("stream slot", client.clone().ready()).await.expect("connection alive");
    *client = ready;
    let (response, send) = client.send_request(request, false).expect("send headers");
    Call {
        send,
        response: Some(response),
        http_status: 0,
        headers: HeaderMap::new(),
        body: None,
        deframer: Deframer::default(),
        ready: VecDeque::new(),
    }
}

impl Call {
    /// The HTTP/2 stream carrying the call.
    pub fn stream_id(&self) -> u32 {
        self.send.stream_id().as_u32()
    }

    /// Sends `data`, waiting for flow-control capacity; `end` half-closes the stream.
    /// Fails if the server has reset the stream (e.g. after answering early with an error).
    pub async fn send(&mut self, mut data: Bytes, end: bool) -> Result<(), h2::Error> {
        if data.is_empty() {
            return if end { self.send.send_data(data, true) } else { Ok(()) };
        }
        while !data.is_empty() {
            self.send.reserve_capacity(data.len());
            let granted = within("send capacity", std::future::poll_fn(|cx| self.send.poll_capacity(cx)))
                .await
                .unwrap_or(Err(h2::Reason::STREAM_CLOSED.into()))?;
            let chunk = data.split_to(granted.min(data.len()));
            self.send.send_data(chunk, end && data.is_empty())?;
        }
        Ok(())
    }

    /// Sends each frame, then half-closes.
    pub async fn send_all(&mut self, frames: &[Bytes]) -> Result<(), h2::Error> {
        for frame in frames {
            self.send(frame.clone(), false).await?;
        }
        self.send(Bytes::new(), true).await
    }

    /// Abandons the call with RST_STREAM(CANCEL), as a cancelling client does.
    pub fn cancel(mut self) {
        self.send.send_reset(h2::Reason::CANCEL);
    }

    /// Waits for the response headers.
    pub async fn headers(&mut self) -> Result<(), h2::Error> {
        if let Some(response) = self.response.take() {
            let response = within("response headers", response).await?;
            self.http_status = response.status().as_u16();
            let (parts, body) = response.into_parts();
            self.headers = parts.headers;
            self.body = Some(body);
        }
        Ok(())
    }

    /// The next whole response message, or `None` once the response body ends.
    pub async fn next_message(&mut self) -> Result<Option<Bytes>, h2::Error> {
        self.headers().await?;
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Ok(Some(message.bytes));
            }
            let body = self.body.as_mut().expect("headers read");
            match within("response data", body.data()).await {
                Some(data) => {
                    let data = data?;
                    let _ = body.flow_control().release_capacity(data.len());
                    self.ready.extend(self.deframer.push(&data));
                }
                None => return Ok(None),
            }
        }
    }

    /// Reads the rest of the response: every message and the status.
    pub async fn finish(mut self) -> Result<Reply, h2::Error> {
        let mut messages = Vec::new();
        while let Some(message) = self.next_message().await? {
            messages.push(message);
        }
        let trailers = match self.headers.get("grpc-status") {
            Some(_) => None, // trailers-only
            None => within("trailers", self.body.as_mut().unwrap().trailers()).await?,
        };
        let status_from = trailers.as_ref().unwrap_or(&self.headers);
        let text = |name: &str| status_from.get(name).map(|v| v.to_str().unwrap_or("?").to_owned());
        Ok(Reply {
            http_status: self.http_status,
            code: text("grpc-status").map(|c| c.parse().expect("numeric grpc-status")),
            message: percent_decode(&text("grpc-message").unwrap_or_default()),
            messages,
        })
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2, "Responses").
fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        let hex = |b: Option<u8>| (b? as char).to_digit(16);
        out.push(match b {
            b'%' => {
                let (hi, lo) = (hex(bytes.next()), hex(bytes.next()));
                u8::try_from(hi.unwrap() * 16 + lo.unwrap()).unwrap()
            }
            b => b,
        });
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One call: sends `frames`, half-closes, reads everything back.
pub async fn call(client: &mut SendRequest<Bytes>, path: &str, frames: &[Bytes]) -> Reply {
    let mut call = start(client, path).await;
    // The server may answer (and reset the stream) before it has read everything: fine.
    let _ = call.send_all(frames).await;
    call.finish().await.expect("a response")
}

// ---- raw HTTP/2 frames ----

pub use faultline_wire::frame::{PREFACE, flag, kind};

/// A frame whose header claims `declared` bytes, followed by `payload` (RFC 9113 §4.1).
pub fn frame_raw(declared: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(9 + payload.len());
    buf.extend_from_slice(&declared.to_be_bytes()[1..]);
    buf.push(kind);
    buf.push(flags);
    buf.extend_from_slice(&stream.to_be_bytes());
    buf.extend_from_slice(payload);
    buf
}

/// A well-formed frame header around `payload`.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    faultline_wire::frame::Frame::new(kind, flags, stream, payload).0.to_vec()
}

/// An HPACK block of literal fields without indexing, new names, no Huffman coding
/// (RFC 7541 §6.2.2); names and values shorter than 127 bytes.
pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        for s in [name, value] {
            block.push(u8::try_from(s.len()).ok().filter(|&n| n < 127).expect("short string"));
            block.extend_from_slice(s.as_bytes());
        }
    }
    block
}

/// The header block of a gRPC call to `path`.
pub fn grpc_headers(path: &str) -> Vec<u8> {
    hpack(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ])
}

/// A TCP connection that has sent the client preface and an empty SETTINGS frame.
pub async fn raw_h2(addr: &str) -> TcpStream {
    within("raw connect", async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(PREFACE).await.unwrap();
        tcp.write_all(&frame(kind::SETTINGS, 0, 0, &[])).await.unwrap();
        tcp
    })
    .await
}

/// A frame read off a raw connection.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// The next frame, or `None` once the server has closed the connection.
pub async fn read_frame(tcp: &mut TcpStream) -> Option<Frame> {
    let mut header = [0u8; 9];
    tcp.read_exact(&mut header).await.ok()?;
    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.ok()?;
    Some(Frame { kind: header[3], flags: header[4], payload })
}

/// Reads until the server sends GOAWAY, returning its error code (RFC 9113 §6.8), or `None`
/// if the server closes the connection without one.
pub async fn goaway_code(tcp: &mut TcpStream) -> Option<u32> {
    within("GOAWAY or close", async {
        while let Some(frame) = read_frame(tcp).await {
            if frame.kind == kind::GOAWAY {
                return Some(u32::from_be_bytes(frame.payload[4..8].try_into().unwrap()));
            }
        }
        None
    })
    .await
}

/// Waits until the server closes the connection (EOF or reset), discarding whatever it sends;
/// returns how long that took.
pub async fn closed(tcp: &mut TcpStream) -> Duration {
    let start = Instant::now();
    within("the server to close the connection", async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    start.elapsed()
}
