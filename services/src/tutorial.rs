//! The tutorial's client runs, reproduced: same calls, same printed lines.
//!
//! Randomness (RecordRoute's route and pauses) comes from a seed, and pauses go
//! through a caller-supplied sleep so the same code runs on real time, on
//! simulated time, or with no pauses at all.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use faultline_proto::helloworld::HelloRequest;
use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::routeguide::route_guide_client::RouteGuideClient;
use faultline_proto::routeguide::{Point, Rectangle, RouteNote};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tonic::Status;
use tonic::transport::Channel;

use crate::db::FeatureDb;
use crate::text_format;

/// Where the client prints: one call per Python `print()` (no trailing newline).
pub type Printer = Arc<dyn Fn(&str) + Send + Sync>;

/// The point the tutorial looks up first (a named feature).
pub const KNOWN_POINT: Point = Point { latitude: 409_146_138, longitude: -746_188_906 };

/// The rectangle the tutorial lists: 40,-75 to 42,-73.
pub const TUTORIAL_RECTANGLE: Rectangle = Rectangle {
    lo: Some(Point { latitude: 400_000_000, longitude: -750_000_000 }),
    hi: Some(Point { latitude: 420_000_000, longitude: -730_000_000 }),
};

/// Number of points the tutorial's RecordRoute sends.
pub const ROUTE_LEN: usize = 10;

/// The Greeter client run: SayHello and SayHelloAgain for `you`.
pub async fn greeter(client: &mut GreeterClient<Channel>, out: &Printer) -> Result<(), Status> {
    let request = || HelloRequest { name: "you".to_owned() };
    let reply = client.say_hello(request()).await?.into_inner();
    out(&format!("Greeter client received: {}", reply.message));
    let reply = client.say_hello_again(request()).await?.into_inner();
    out(&format!("Greeter client received: {}", reply.message));
    Ok(())
}

/// RecordRoute's random route: `ROUTE_LEN` database points, each with the
/// pause (0.5 to 1.5 s) to wait before sending it; the first has no pause.
pub fn plan_route(db: &FeatureDb, seed: u64) -> Vec<(Point, Duration)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let features = db.features();
    (0..ROUTE_LEN)
        .map(|i| {
            let feature = &features[rng.random_range(0..features.len())];
            let pause = Duration::from_millis(rng.random_range(500..=1500));
            let pause = if i == 0 { Duration::ZERO } else { pause };
            (feature.location.unwrap_or_default(), pause)
        })
        .collect()
}

/// The five notes of the tutorial's RouteChat, in sending order.
pub fn chat_notes() -> Vec<RouteNote> {
    [("First", 0, 0), ("Second", 0, 1), ("Third", 1, 0), ("Fourth", 0, 0), ("Fifth", 1, 0)]
        .into_iter()
        .map(|(word, latitude, longitude)| RouteNote {
            location: Some(Point { latitude, longitude }),
            message: format!("{word} message"),
        })
        .collect()
}

/// The RouteGuide client run: GetFeature twice, ListFeatures, RecordRoute over
/// a route drawn from `seed`, RouteChat. `sleep` is `None` to skip the pauses.
pub async fn route_guide<S, F>(
    client: &mut RouteGuideClient<Channel>,
    db: &FeatureDb,
    seed: u64,
    sleep: Option<S>,
    out: &Printer,
) -> Result<(), Status>
where
    S: Fn(Duration) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send,
{
    out("-------------- GetFeature --------------");
    for point in [KNOWN_POINT, Point::default()] {
        let feature = client.get_feature(point).await?.into_inner();
        match &feature.location {
            None => out("Server returned incomplete feature"),
            Some(location) if feature.name.is_empty() => {
                out(&format!("Found no feature at {}", text_format::point(Some(location))))
            }
            Some(location) => {
                out(&format!("Feature called {} at {}", feature.name, text_format::point(Some(location))))
            }
        }
    }

    out("-------------- ListFeatures --------------");
    out("Looking for features between 40, -75 and 42, -73");
    let mut features = client.list_features(TUTORIAL_RECTANGLE).await?.into_inner();
    while let Some(feature) = features.message().await? {
        out(&format!("Feature called {} at {}", feature.name, text_format::point(feature.location.as_ref())));
    }

    out("-------------- RecordRoute --------------");
    let route = plan_route(db, seed);
    let visit_out = out.clone();
    let points = async_stream::stream! {
        for (point, pause) in route {
            if let Some(sleep) = sleep.as_ref().filter(|_| !pause.is_zero()) {
                sleep(pause).await;
            }
            visit_out(&format!("Visiting point {}", text_format::point(Some(&point))));
            yield point;
        }
    };
    let summary = client.record_route(points).await?.into_inner();
    out(&format!("Finished trip with {} points ", summary.point_count));
    out(&format!("Passed {} features ", summary.feature_count));
    out(&format!("Travelled {} meters ", summary.distance));
    out(&format!("It took {} seconds ", summary.elapsed_time));

    out("-------------- RouteChat --------------");
    let send_out = out.clone();
    let notes = async_stream::stream! {
        for note in chat_notes() {
            send_out(&format!(
                "Sending {} at {}",
                note.message,
                text_format::point(note.location.as_ref())
            ));
            yield note;
        }
    };
    let mut replies = client.route_chat(notes).await?.into_inner();
    while let Some(reply) = replies.message().await? {
        out(&format!(
            "Received message {} at {}",
            reply.message,
            text_format::point(reply.location.as_ref())
        ));
    }
    Ok(())
}
