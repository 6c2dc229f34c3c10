//! A passive tap: a transport wrapper that records the HTTP/2 frames it reads, for checks of
//! what a peer put on the wire (not just what an HTTP/2 library made of it: `h2` reports a
//! split Trailers-Only response and a real one alike).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::frame::{Frame, FrameReader, Unit};

/// The frames a tap has read so far. Cheap to clone; clones share the log.
#[derive(Debug, Clone, Default)]
pub struct TapLog {
    frames: Arc<Mutex<Vec<Frame>>>,
    error: Arc<Mutex<Option<String>>>,
}

impl TapLog {
    /// Every frame read, in order.
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().expect("tap lock is never poisoned").clone()
    }

    /// The frames of one stream, in order.
    pub fn stream(&self, id: u32) -> Vec<Frame> {
        self.frames().into_iter().filter(|f| f.stream() == id).collect()
    }

    /// Why the tap stopped parsing, if the bytes stopped being HTTP/2.
    pub fn error(&self) -> Option<String> {
        self.error.lock().expect("tap lock is never poisoned").clone()
    }
}

/// `io`, with what it reads parsed into `log` as HTTP/2 frames sent by a server.
pub struct FrameTap<IO> {
    io: IO,
    reader: FrameReader,
    log: TapLog,
}

impl<IO> FrameTap<IO> {
    /// Taps the server-to-client direction of a client's connection.
    pub fn client_side(io: IO) -> (Self, TapLog) {
        let log = TapLog::default();
        (Self { io, reader: FrameReader::server_side(), log: log.clone() }, log)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FrameTap<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.reader.push(&buf.filled()[before..]);
            loop {
                match this.reader.next_unit() {
                    Ok(Some(Unit::Frame(frame))) => {
                        this.log.frames.lock().expect("tap lock is never poisoned").push(frame)
                    }
                    Ok(Some(Unit::Preface(_))) | Ok(None) => break,
                    Err(e) => {
                        this.log.error.lock().expect("tap lock is never poisoned").get_or_insert(e);
                        break;
                    }
                }
            }
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FrameTap<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
