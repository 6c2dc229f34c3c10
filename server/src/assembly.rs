//! The assembly: services and layers in their order, and the connections that carry them.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use faultline_services::{Greeter, RouteGuide};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use http_body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::Status;
use tonic::body::Body;
use tower::util::BoxCloneSyncService;

use crate::connection::{self, Connection, HyperService, Slots};
use crate::ending::{self, CutOff, CutOffSwitch};
use crate::{ServerConfig, budget, deadline, framing, hook};

/// A server's call path: an HTTP request in, a gRPC response out, never an error (every
/// failure is a gRPC status).
pub type GrpcService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// A call in progress through one layer.
pub(crate) type CallFuture = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

/// A layer written as a function of the request and the inner service (ready to `oneshot`:
/// every layer here, like tonic's routes, is always ready).
pub(crate) fn around(
    inner: GrpcService,
    layer: impl Fn(http::Request<Body>, GrpcService) -> CallFuture + Clone + Send + Sync + 'static,
) -> GrpcService {
    GrpcService::new(tower::service_fn(move |request| layer(request, inner.clone())))
}

/// `body`, keeping `held` alive until the body is dropped (a call slot, a handler's life).
pub(crate) fn holding<T: Send + Unpin + 'static>(body: Body, held: T) -> Body {
    Body::new(Holding { inner: body, _held: held })
}

struct Holding<T> {
    inner: Body,
    _held: T,
}

impl<T: Unpin> http_body::Body for Holding<T> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The one server: what `faultline serve` runs, and what every check runs. Cheap to clone;
/// clones share the call path, the caps and the shutdown cut-off.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    service: GrpcService,
    http2: hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
    connections: Slots,
    cut_off: CutOffSwitch,
}

impl Server {
    /// Assembles the services and every layer from `config`.
    pub fn new(config: ServerConfig) -> Self {
        let limits = config.limits;
        let routes = config.routes.clone().unwrap_or_else(|| tutorial_routes(&config));
        let mut service = GrpcService::new(routes);
        if let Some(h) = &config.hook {
            service = hook::layer(service, h.clone());
        }
        service = budget::request_limits(service, limits.max_inflight_bytes, limits.max_message_size);
        service = budget::call_slots(service, limits.max_calls);
        let (switch, cut_off) = ending::cut_off();
        service = cut_off_layer(service, cut_off);
        service = deadline::layer(service);
        service = framing::layer(service);
        Self {
            inner: Arc::new(Inner {
                http2: connection::http2(&limits, config.date_header, hyper_util::rt::TokioExecutor::new()),
                connections: Slots::new(limits.max_connections),
                config,
                service,
                cut_off: switch,
            }),
        }
    }

    /// What the server was built from.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The call path, every layer included, for a transport of one's own.
    pub fn service(&self) -> GrpcService {
        self.inner.service.clone()
    }

    /// Admits `io` as a connection: `None` (drop it, which closes it) when `max_connections`
    /// are open.
    pub fn admit<IO>(&self, io: IO) -> Option<connection::Guarded<IO>> {
        self.inner.connections.admit(io, &self.inner.config.limits)
    }

    /// Serves one admitted connection until it ends.
    pub fn serve_connection<IO>(&self, io: connection::Guarded<IO>) -> Connection<IO>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.inner.http2.serve_connection(TokioIo::new(io), HyperService(self.service()))
    }

    /// Serves the connections of `incoming`, and every call on them, inside the calling task,
    /// never spawning one: a crashed simulated host drops them in a fixed order (tokio drops
    /// spawned tasks in an order keyed by process-wide task ids, which would make a crash's FIN
    /// order, and the order handlers end in, depend on what ran earlier in the process).
    /// Returns when `incoming` ends or fails.
    pub async fn serve_in_task<S, IO>(&self, incoming: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<IO>>,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (spawned, mut to_run) = tokio::sync::mpsc::unbounded_channel();
        let config = &self.inner.config;
        let http2 = connection::http2(&config.limits, config.date_header, connection::InTask(spawned));
        let mut incoming = std::pin::pin!(incoming);
        let mut connections = FuturesUnordered::new();
        let mut streams = FuturesUnordered::new();
        loop {
            tokio::select! {
                biased;
                Some(()) = streams.next(), if !streams.is_empty() => {}
                Some(stream) = to_run.recv() => streams.push(stream),
                Some(()) = connections.next(), if !connections.is_empty() => {}
                accepted = incoming.next() => match accepted {
                    Some(Ok(io)) => {
                        if let Some(io) = self.admit(io) {
                            let connection = http2.serve_connection(TokioIo::new(io), HyperService(self.service()));
                            // A connection ending in error is its peer's business.
                            connections.push(ignore_error(connection));
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => break,
                },
            }
        }
        // No more connections: serve the open ones, and their calls, to their end.
        loop {
            tokio::select! {
                biased;
                Some(()) = streams.next(), if !streams.is_empty() => {}
                Some(stream) = to_run.recv() => streams.push(stream),
                open = connections.next() => if open.is_none() { break },
            }
        }
        Ok(())
    }

    /// Ends every call still running with UNAVAILABLE (the end of a shutdown grace period).
    pub fn cut_off(&self) {
        self.inner.cut_off.pull();
    }

    /// How many calls the cut-off has ended.
    pub fn cut_off_calls(&self) -> usize {
        self.inner.cut_off.ended()
    }
}

/// The tutorial's services as `config` chooses them (which, on which clock and database,
/// which mutant), with the message size limit.
pub fn tutorial_routes(config: &ServerConfig) -> tonic::service::Routes {
    let max = config.limits.max_message_size;
    let mut routes = tonic::service::Routes::builder();
    if config.services.greeter() {
        routes.add_service(Greeter.into_service().max_decoding_message_size(max));
    }
    if config.services.route_guide() {
        let guide = RouteGuide::new(config.db.clone(), config.clock.clone()).with_mutant(config.mutant);
        routes.add_service(guide.into_service().max_decoding_message_size(max));
    }
    routes.routes()
}

fn cut_off_layer(inner: GrpcService, cut_off: CutOff) -> GrpcService {
    around(inner, move |request, inner| {
        let call = tower::ServiceExt::oneshot(inner, request);
        Box::pin(ending::race(call, cut_off.over(), cut_off.end()))
    })
}

async fn ignore_error<F: Future<Output = Result<(), hyper::Error>>>(connection: F) {
    let _ = connection.await;
}
