//! The end of the shutdown grace period: calls still running then end with UNAVAILABLE, the
//! status gRPC clients expect from a server going away (and may retry elsewhere), rather than
//! with a broken connection, which tonic's client reports as UNKNOWN.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::watch;
use tonic::Status;
use tonic::body::Body;

/// Flips once, when the grace period is over; counts the calls it ended.
#[derive(Debug, Clone)]
pub struct CutOff {
    over: watch::Receiver<bool>,
    ended: Arc<AtomicUsize>,
}

/// The switch that ends the grace period.
#[derive(Debug)]
pub struct CutOffSwitch {
    over: watch::Sender<bool>,
    ended: Arc<AtomicUsize>,
}

pub fn cut_off() -> (CutOffSwitch, CutOff) {
    let (tx, rx) = watch::channel(false);
    let ended = Arc::new(AtomicUsize::new(0));
    (CutOffSwitch { over: tx, ended: ended.clone() }, CutOff { over: rx, ended })
}

impl CutOffSwitch {
    /// Ends every call still running.
    pub fn pull(&self) {
        let _ = self.over.send(true);
    }

    /// How many calls were ended so far.
    pub fn ended(&self) -> usize {
        self.ended.load(Ordering::SeqCst)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

fn status() -> Status {
    Status::unavailable("server shutting down: call cut off at the end of the grace period")
}

impl CutOff {
    /// Resolves once the grace period is over.
    async fn over(mut self) {
        // An error means the switch is gone, so the server is too: never cut off.
        if self.over.wait_for(|over| *over).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl<S> tower::Layer<S> for CutOff {
    type Service = CutOffService<S>;

    fn layer(&self, inner: S) -> CutOffService<S> {
        CutOffService { inner, cut_off: self.clone() }
    }
}

/// Wraps every call: its response if the handler has not answered yet, and its response body.
#[derive(Debug, Clone)]
pub struct CutOffService<S> {
    inner: S,
    cut_off: CutOff,
}

impl<S> tower::Service<http::Request<Body>> for CutOffService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let response = self.inner.call(request);
        let cut_off = self.cut_off.clone();
        Box::pin(async move {
            tokio::select! {
                response = response => {
                    let ended = cut_off.ended.clone();
                    Ok(response?.map(|body| {
                        Body::new(CutOffBody {
                            inner: body,
                            over: Some(Box::pin(cut_off.over())),
                            ended,
                            finished: false,
                        })
                    }))
                }
                // A handler still waiting (e.g. RecordRoute for more points): answer for it.
                () = cut_off.clone().over() => {
                    cut_off.ended.fetch_add(1, Ordering::SeqCst);
                    Ok(status().into_http())
                }
            }
        })
    }
}

/// A response body that ends with UNAVAILABLE trailers when the grace period is over.
struct CutOffBody {
    inner: Body,
    /// `None` once the inner body has ended or sent its own trailers: too late to cut off.
    over: Option<BoxFuture<()>>,
    ended: Arc<AtomicUsize>,
    /// Cut off: the UNAVAILABLE trailers have gone out.
    finished: bool,
}

impl http_body::Body for CutOffBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(over) = this.over.as_mut()
            && over.as_mut().poll(cx).is_ready()
        {
            this.over = None;
            this.finished = true;
            this.ended.fetch_add(1, Ordering::SeqCst);
            let mut trailers = http::HeaderMap::new();
            // The status is ASCII with no control characters: it always fits in a header.
            let _ = status().add_header(&mut trailers);
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.as_ref().is_none_or(|f| f.as_ref().is_ok_and(Frame::is_trailers)) {
            this.over = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.finished || (self.over.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Trailers may still come, whatever the inner body promises.
        http_body::SizeHint::default()
    }
}
