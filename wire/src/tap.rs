//! A passive tap: a transport whose reads are also parsed as the HTTP/2 frames a peer sent, for
//! checks of what it put on the wire (not just what an HTTP/2 library made of it: `h2` reports
//! a split Trailers-Only response and a real one alike).

use std::sync::{Arc, Mutex};

use tokio_util::io::InspectReader;

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

    fn read(&self, reader: &mut FrameReader, bytes: &[u8]) {
        reader.push(bytes);
        loop {
            match reader.next_unit() {
                Ok(Some(Unit::Frame(frame))) => {
                    self.frames.lock().expect("tap lock is never poisoned").push(frame)
                }
                Ok(Some(Unit::Preface(_)) | None) => return,
                Err(e) => {
                    self.error.lock().expect("tap lock is never poisoned").get_or_insert(e);
                    return;
                }
            }
        }
    }
}

/// A client's connection `io`, passed through unchanged, with the frames its server sends
/// (what the client reads) recorded in the returned log.
pub fn client_side<IO: tokio::io::AsyncRead>(
    io: IO,
) -> (InspectReader<IO, impl FnMut(&[u8]) + Send + use<IO>>, TapLog) {
    let log = TapLog::default();
    let (tapped, mut reader) = (log.clone(), FrameReader::server_side());
    (InspectReader::new(io, move |bytes: &[u8]| tapped.read(&mut reader, bytes)), log)
}
