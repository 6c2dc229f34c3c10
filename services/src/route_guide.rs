//! `routeguide.RouteGuide` with the reference semantics.
//!
//! The per-method rules live in plain functions and types ([`get_feature`],
//! [`list_features`], [`ChatState`], [`crate::geo::RouteAccumulator`]) so they
//! can be tested without a transport; the tonic handlers only move messages.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proto::routeguide::route_guide_server;
use faultline_proto::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::clock::{Clock, SystemClock};
use crate::db::FeatureDb;
use crate::geo::RouteAccumulator;
use crate::mutant::Mutant;

/// The answer to GetFeature: the feature at exactly `point`, or an unnamed
/// feature that echoes the requested location.
pub fn get_feature(db: &FeatureDb, point: Point, mutant: Option<Mutant>) -> Feature {
    match db.feature_at(&point) {
        Some(feature) => feature.clone(),
        None if mutant == Some(Mutant::DefaultFeatureOnMiss) => Feature::default(),
        None => Feature { name: String::new(), location: Some(point) },
    }
}

/// The answer to ListFeatures: every feature inside the rectangle, edges
/// included, corners in either order, in database order.
pub fn list_features(db: &FeatureDb, rect: &Rectangle, mutant: Option<Mutant>) -> Vec<Feature> {
    let features = db.features();
    list_feature_indices(db, rect, mutant).into_iter().map(|i| features[i].clone()).collect()
}

/// Where [`list_features`]'s answer is in `db.features()`: the handler streams
/// the features from these positions, cloning each only as it is sent.
pub fn list_feature_indices(db: &FeatureDb, rect: &Rectangle, mutant: Option<Mutant>) -> Vec<usize> {
    let lo = rect.lo.unwrap_or_default();
    let hi = rect.hi.unwrap_or_default();
    let left = lo.longitude.min(hi.longitude);
    let right = lo.longitude.max(hi.longitude);
    let top = lo.latitude.max(hi.latitude);
    let bottom = lo.latitude.min(hi.latitude);
    if mutant == Some(Mutant::AspectRatioPanic) {
        // The bug: an integer aspect ratio, which divides by zero for a flat rectangle.
        let _aspect = (i64::from(right) - i64::from(left)) / (i64::from(top) - i64::from(bottom));
    }
    let exclusive = mutant == Some(Mutant::ExclusiveEdges);
    let inside = |p: Point| {
        if exclusive {
            p.longitude > left && p.longitude < right && p.latitude > bottom && p.latitude < top
        } else {
            p.longitude >= left && p.longitude <= right && p.latitude >= bottom && p.latitude <= top
        }
    };
    let mut found: Vec<usize> = db
        .features()
        .iter()
        .enumerate()
        .filter(|(_, f)| inside(f.location.unwrap_or_default()))
        .map(|(i, _)| i)
        .collect();
    if mutant == Some(Mutant::DropLastMessage) {
        found.pop();
    }
    found
}

/// One RouteChat call's memory of the notes it has received, by location
/// (each location's notes in arrival order), so a note costs a lookup rather
/// than a scan of the whole call's history.
#[derive(Debug, Clone, Default)]
pub struct ChatState {
    notes: BTreeMap<Option<(i32, i32)>, Vec<RouteNote>>,
}

impl ChatState {
    /// Takes the next incoming note and returns the replies it causes: every
    /// earlier note at the same location, in arrival order. The new note is
    /// recorded but never echoed (unless the `EchoNewNote` mutant is on).
    pub fn receive(&mut self, note: RouteNote, mutant: Option<Mutant>) -> Vec<RouteNote> {
        let at = self.notes.entry(note.location.map(|p| (p.latitude, p.longitude))).or_default();
        let mut replies = at.clone();
        if mutant == Some(Mutant::EchoNewNote) {
            replies.push(note.clone());
        }
        at.push(note);
        replies
    }
}

/// A boxed stream of responses, as tonic's generated traits want them.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The tutorial's RouteGuide.
#[derive(Debug, Clone)]
pub struct RouteGuide {
    db: Arc<FeatureDb>,
    clock: Arc<dyn Clock>,
    mutant: Option<Mutant>,
    /// Only used by the `SharedChat` mutant.
    shared_chat: Arc<Mutex<ChatState>>,
    /// Only used by the `SlotLeak` mutant: slots leaked so far.
    leaked: Arc<AtomicU64>,
}

/// How many slots the `SlotLeak` mutant has before it fails every call.
const LEAKY_SLOTS: u64 = 2_500;

impl RouteGuide {
    /// A RouteGuide over `db`, timing RecordRoute with `clock`.
    pub fn new(db: Arc<FeatureDb>, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock, mutant: None, shared_chat: Arc::default(), leaked: Arc::default() }
    }

    /// The reference database on the machine's clock, as `faultline serve` runs it.
    pub fn reference() -> Self {
        Self::new(Arc::new(FeatureDb::reference()), Arc::new(SystemClock::new()))
    }

    /// The same service with a deliberate bug switched on.
    pub fn with_mutant(mut self, mutant: Option<Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// The database this service answers from.
    pub fn db(&self) -> &Arc<FeatureDb> {
        &self.db
    }

    /// The failures some mutants answer every call with.
    fn admit(&self) -> Result<(), Status> {
        match self.mutant {
            Some(Mutant::Unavailable) => Err(Status::unavailable("the service is unavailable")),
            Some(Mutant::SlotLeak) if self.leaked.fetch_add(1, Ordering::SeqCst) >= LEAKY_SLOTS => {
                Err(Status::resource_exhausted("no free slot"))
            }
            _ => Ok(()),
        }
    }

    /// This service as a tonic service, ready to add to any server.
    pub fn into_service(self) -> route_guide_server::RouteGuideServer<Self> {
        route_guide_server::RouteGuideServer::new(self)
    }
}

#[tonic::async_trait]
impl route_guide_server::RouteGuide for RouteGuide {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        self.admit()?;
        Ok(Response::new(get_feature(&self.db, request.into_inner(), self.mutant)))
    }

    type ListFeaturesStream = ResponseStream<Feature>;

    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        self.admit()?;
        let found = list_feature_indices(&self.db, request.get_ref(), self.mutant);
        if self.mutant == Some(Mutant::LingeringHandler) {
            // The bug: work detached from the call keeps its request (and all it holds).
            tokio::spawn(async move {
                let _request = request;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
        let db = self.db.clone();
        Ok(Response::new(Box::pin(futures::stream::iter(
            found.into_iter().map(move |i| Ok(db.features()[i].clone())),
        ))))
    }

    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        self.admit()?;
        let start = self.clock.now();
        let mut points = request.into_inner();
        let mut route = RouteAccumulator::new(self.mutant);
        loop {
            let idle = match self.mutant {
                // The bug: an idle timeout far below the tutorial client's pauses.
                Some(Mutant::IdleTimeout) => Some(300),
                // The bug: an idle timeout just past them.
                Some(Mutant::SlowStreamTimeout) => Some(1_600),
                _ => None,
            };
            let next = if let Some(ms) = idle {
                tokio::time::timeout(Duration::from_millis(ms), points.message())
                    .await
                    .map_err(|_| Status::deadline_exceeded(format!("no point for {ms} ms: giving up")))??
            } else {
                points.message().await?
            };
            let Some(point) = next else { break };
            route.push(&self.db, point);
        }
        let elapsed = self.clock.now().saturating_sub(start);
        let elapsed = if self.mutant == Some(Mutant::ElapsedRounded) {
            elapsed.as_secs_f64().round() as u64
        } else {
            elapsed.as_secs()
        };
        let elapsed = i32::try_from(elapsed).unwrap_or(i32::MAX);
        Ok(Response::new(route.finish(elapsed)))
    }

    type RouteChatStream = ResponseStream<RouteNote>;

    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        self.admit()?;
        let mut notes = request.into_inner();
        let mutant = self.mutant;
        let shared = self.shared_chat.clone();
        let replies = async_stream::try_stream! {
            let mut own = ChatState::default();
            let mut held = Vec::new();
            while let Some(note) = notes.message().await? {
                let out = if mutant == Some(Mutant::SharedChat) {
                    shared.lock().expect("chat lock is never poisoned").receive(note, mutant)
                } else {
                    own.receive(note, mutant)
                };
                let out = if mutant == Some(Mutant::HeldBackReplies) {
                    std::mem::replace(&mut held, out)
                } else {
                    out
                };
                for reply in out {
                    yield reply;
                }
            }
            for reply in held {
                yield reply;
            }
        };
        Ok(Response::new(Box::pin(replies)))
    }
}
