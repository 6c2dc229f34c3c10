//! Ending a call from outside its handler: when a trigger fires (a deadline, the end of the
//! shutdown grace period), the call ends with a status of the server's choosing. Before the
//! handler has answered, that status is the answer; while its response body runs, the body
//! ends with the status as trailers. Either way the handler is dropped, so it stops.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use http_body::Frame;
use tokio::sync::watch;
use tonic::Status;
use tonic::body::Body;

/// How a call is ended: the status it gets, and what counts the calls ended so.
#[derive(Debug, Clone)]
pub struct End {
    status: Status,
    ended: Option<Arc<AtomicUsize>>,
}

impl End {
    /// Ends calls with `status`.
    pub fn with(status: Status) -> Self {
        Self { status, ended: None }
    }

    /// The same, counting every call it ends in `ended`.
    pub fn counted(mut self, ended: Arc<AtomicUsize>) -> Self {
        self.ended = Some(ended);
        self
    }

    fn fire(&self) -> Status {
        if let Some(ended) = &self.ended {
            ended.fetch_add(1, Ordering::SeqCst);
        }
        self.status.clone()
    }
}

/// Runs `call` until it answers or `trigger` fires, whichever is first; an answer's body is
/// still ended by the same trigger.
pub async fn race(
    call: impl Future<Output = Result<http::Response<Body>, Infallible>>,
    mut trigger: BoxFuture<'static, ()>,
    end: End,
) -> Result<http::Response<Body>, Infallible> {
    let answered = match futures::future::select(std::pin::pin!(call), &mut trigger).await {
        Either::Left((response, _)) => Some(response),
        Either::Right(((), _)) => None,
    };
    Ok(match answered {
        Some(response) => response?
            .map(|inner| Body::new(EndingBody { inner, trigger: Some(trigger), end, finished: false })),
        None => end.fire().into_http(),
    })
}

/// A response body that ends with the [`End`]'s status once its trigger fires.
struct EndingBody {
    inner: Body,
    /// `None` once the inner body has ended or sent its own trailers: too late to end it.
    trigger: Option<BoxFuture<'static, ()>>,
    end: End,
    /// Ended by the trigger: its trailers have gone out.
    finished: bool,
}

impl http_body::Body for EndingBody {
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
        if let Some(trigger) = this.trigger.as_mut()
            && trigger.as_mut().poll(cx).is_ready()
        {
            this.trigger = None;
            this.finished = true;
            // Dropping the inner body drops the handler's stream: the handler stops here.
            this.inner = Body::empty();
            let mut trailers = http::HeaderMap::new();
            // The statuses ending calls are ASCII without control characters: they always fit.
            let _ = this.end.fire().add_header(&mut trailers);
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.as_ref().is_none_or(|f| f.as_ref().is_ok_and(Frame::is_trailers)) {
            this.trigger = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.finished || (self.trigger.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Trailers may still come, whatever the inner body promises.
        http_body::SizeHint::default()
    }
}

/// The end of the shutdown grace period, as a trigger every call can wait on.
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

/// A cut-off and its switch.
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

impl CutOff {
    /// Resolves once the grace period is over (never, if the switch is gone).
    pub fn over(&self) -> BoxFuture<'static, ()> {
        let mut over = self.over.clone();
        Box::pin(async move {
            if over.wait_for(|over| *over).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    /// How calls are ended: UNAVAILABLE, the status gRPC clients expect from a server going
    /// away (and may retry elsewhere), rather than a broken connection (UNKNOWN in tonic).
    pub fn end(&self) -> End {
        End::with(Status::unavailable("server shutting down: call cut off at the end of the grace period"))
            .counted(self.ended.clone())
    }
}
