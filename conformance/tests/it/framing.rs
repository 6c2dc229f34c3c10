//! The framing aspect sees what `h2`'s API hides. A server that splits its Trailers-Only
//! responses in two (HEADERS carrying grpc-status without END_STREAM, then an empty DATA frame
//! with END_STREAM: what `faultline serve` once sent, and what grpc-core and grpc-js clients
//! fail as "Stream removed") must fail the suite's replay; the same server unbroken must not.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use faultline_conformance::framing;
use faultline_conformance::replay::replay_client_side;
use faultline_conformance::report::judge;
use faultline_conformance::transcript::Call;
use faultline_conformance::{Aspect, Direction, Report, Transport, Verdict, compare};
use faultline_services::{FeatureDb, Greeter, RouteGuide};
use faultline_sim::server::SimClock;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tonic::body::Body;

use crate::support::suite;

/// A response body that never says, before it is polled, that it is over. hyper then sends
/// the response's HEADERS without END_STREAM and, finding nothing to send, ends the stream
/// with an empty DATA frame: a Trailers-Only response (tonic puts grpc-status in the headers of
/// an empty body) comes out split.
struct NeverEndsEarly(Body);

impl http_body::Body for NeverEndsEarly {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        false
    }
}

/// Wraps every response body in [`NeverEndsEarly`].
#[derive(Clone)]
struct SplitTrailersOnly<S>(S);

impl<S> tower::Layer<S> for SplitTrailersOnlyLayer {
    type Service = SplitTrailersOnly<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SplitTrailersOnly(inner)
    }
}

struct SplitTrailersOnlyLayer;

impl<S> tower::Service<http::Request<Body>> for SplitTrailersOnly<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<NeverEndsEarly>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let future = self.0.call(request);
        Box::pin(async move { Ok(future.await?.map(NeverEndsEarly)) })
    }
}

/// The tutorial services as tonic's routes, served on one connection by hyper directly.
async fn serve<S, B>(io: tokio::io::DuplexStream, service: S)
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2.timer(TokioTimer::new()).auto_date_header(false);
    let _ = http2
        .serve_connection(
            TokioIo::new(io),
            hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                tower::ServiceExt::oneshot(service.clone(), request.map(Body::new))
            }),
        )
        .await;
}

fn routes() -> tonic::service::Routes {
    let guide = RouteGuide::new(Arc::new(FeatureDb::reference()), Arc::new(SimClock::new()));
    tonic::service::Routes::new(Greeter.into_service()).add_service(guide.into_service())
}

/// Every case's calls replayed as the suite replays them, one in-memory connection each, on a
/// paused clock; what each call looked like, and the report against the suite's known failures.
fn replay_all(split: bool) -> (Vec<Call>, Report) {
    let suite = suite();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let mut observed = Vec::new();
    let mut report = Report::default();
    for (case, calls) in suite.calls() {
        let mut differences = Vec::new();
        for call in calls {
            let seen = runtime.block_on(async {
                let (client_io, server_io) = tokio::io::duplex(1 << 16);
                let server = if split {
                    tokio::spawn(serve(server_io, tower::Layer::layer(&SplitTrailersOnlyLayer, routes())))
                } else {
                    tokio::spawn(serve(server_io, routes()))
                };
                let seen = replay_client_side(client_io, call, &suite.rules).await;
                server.abort();
                seen
            });
            differences.extend(compare::compare(call, &seen, &suite.rules, Aspect::RUST_SERVER));
            observed.push(seen);
        }
        report.results.push(judge(
            &case.id,
            Direction::RustServer,
            Transport::InProcess,
            differences,
            &suite.known,
        ));
    }
    (observed, report)
}

/// The framing difference of `case` that no known failure excuses, as (expected, actual).
fn framing_failure(report: &Report, case: &str) -> Option<(String, String)> {
    let result = report.results.iter().find(|r| r.case == case)?;
    let f =
        result.differences.iter().find(|f| f.difference.aspect == Aspect::Framing && f.known.is_none())?;
    Some((f.difference.expected.clone(), f.difference.actual.clone()))
}

#[test]
fn a_split_trailers_only_response_fails_on_framing() {
    let (sound_calls, sound) = replay_all(false);
    let (split_calls, split) = replay_all(true);
    for case in ["unknown-method", "malformed-request"] {
        assert_eq!(
            framing_failure(&split, case),
            Some((
                "HEADERS+END_STREAM".to_owned(),
                "HEADERS, DATA(empty)+END_STREAM (no trailers)".to_owned()
            )),
            "{case}: {}",
            split.details(true)
        );
        assert_eq!(split.verdict(case, Direction::RustServer, Transport::InProcess), Some(Verdict::Fail));
        // Unbroken, the same server agrees with grpcio on framing and trailers-only; what
        // differs is what known-failures.toml lists (the status messages).
        assert_eq!(framing_failure(&sound, case), None, "{case}: {}", sound.details(true));
        assert_eq!(
            sound.verdict(case, Direction::RustServer, Transport::InProcess),
            Some(Verdict::KnownFailure),
            "{}",
            sound.details(true)
        );
    }
    // Only trailers-only responses are split, and every one of them is caught (the deadline
    // case's framing is a race the rules leave uncompared). Without the suite's abort hook the
    // special-characters case already differs unbroken, so what counts is the change.
    let rules = &suite().rules;
    let trailers_only: BTreeSet<&str> = sound_calls
        .iter()
        .filter(|c| c.trailers_only)
        .filter(|c| rules.compares(&suite().transcripts.cases[&c.case_id][c.call], Aspect::Framing))
        .map(|c| c.case_id.as_str())
        .collect();
    let caught: BTreeSet<&str> = split
        .results
        .iter()
        .filter(|r| framing_failure(&split, &r.case) != framing_failure(&sound, &r.case))
        .map(|r| r.case.as_str())
        .collect();
    assert_eq!(caught, trailers_only);
    assert!(trailers_only.len() >= 4, "{trailers_only:?}");
    // The replay reads trailers-only off the frames, not off where grpc-status was.
    assert!(split_calls.iter().all(|c| !c.trailers_only));
    let frames = split_calls.iter().find(|c| c.case_id == "unknown-method").unwrap();
    assert!(!framing::is_trailers_only(frames.response_frames.as_deref().unwrap()));
}

/// tonic's routes served by hyper directly enforce no `grpc-timeout`: the server's own duty to
/// end a call by its deadline. The replay's client sends the deadline and never cancels, so a
/// RecordRoute whose client never ends its stream gets no answer from such a server, and the
/// deadline case fails; `faultline serve` (its deadline layer) answers DEADLINE_EXCEEDED.
#[test]
fn a_server_that_ignores_grpc_timeout_fails_the_deadline_case() {
    let (_, bare) = replay_all(false);
    let case = "record-route-deadline";
    assert_eq!(
        bare.verdict(case, Direction::RustServer, Transport::InProcess),
        Some(Verdict::Fail),
        "{}",
        bare.details(true)
    );
    let result = bare.results.iter().find(|r| r.case == case).unwrap();
    assert!(
        result.differences.iter().any(|f| f.difference.aspect == Aspect::Status && f.known.is_none()),
        "{}",
        bare.details(true)
    );
}
