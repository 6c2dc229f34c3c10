//! The independent reference model: SEMANTICS.md's rules written again,
//! without calling the service code, so a bug in the services cannot hide
//! behind the same bug in the checker.

use serde_json::Value;

/// A point as (latitude, longitude).
pub type Pt = (i32, i32);

/// A feature as the model sees it: name and location (`None` only if a reply had none).
pub type ModelFeature = (String, Option<Pt>);

/// A note as the model sees it: message and location.
pub type ModelNote = (String, Option<Pt>);

/// The reference semantics over the tutorial database.
#[derive(Debug, Clone)]
pub struct Model {
    features: Vec<(String, Pt)>,
}

const DB_JSON: &str = include_str!("../../services/data/route_guide_db.json");

impl Model {
    /// The model over the tutorial's database file, parsed here independently.
    pub fn reference() -> Self {
        let value: Value = serde_json::from_str(DB_JSON).expect("database file is JSON (tested by services)");
        let features = value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|f| {
                        let coord = |k: &str| f["location"][k].as_i64().unwrap_or(0) as i32;
                        (
                            f["name"].as_str().unwrap_or_default().to_owned(),
                            (coord("latitude"), coord("longitude")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { features }
    }

    /// Database locations, in order (for generating inputs that hit features).
    pub fn locations(&self) -> impl Iterator<Item = Pt> + '_ {
        self.features.iter().map(|f| f.1)
    }

    /// `SayHello`.
    pub fn hello(name: &str) -> String {
        format!("Hello, {name}!")
    }

    /// `SayHelloAgain`.
    pub fn hello_again(name: &str) -> String {
        format!("Hello again, {name}!")
    }

    /// GetFeature: the first feature exactly there, else an unnamed feature echoing the point.
    pub fn get_feature(&self, p: Pt) -> ModelFeature {
        let name = self.features.iter().find(|f| f.1 == p).map(|f| f.0.clone()).unwrap_or_default();
        (name, Some(p))
    }

    /// ListFeatures: features inside the rectangle, edges inclusive, corners in either order, database order.
    pub fn list_features(&self, lo: Pt, hi: Pt) -> Vec<ModelFeature> {
        let (bottom, top) = (lo.0.min(hi.0), lo.0.max(hi.0));
        let (left, right) = (lo.1.min(hi.1), lo.1.max(hi.1));
        self.features
            .iter()
            .filter(|(_, (lat, lon))| (bottom..=top).contains(lat) && (left..=right).contains(lon))
            .map(|(name, p)| (name.clone(), Some(*p)))
            .collect()
    }

    /// RecordRoute's (point_count, feature_count, distance) for the points the server received.
    pub fn record_route(&self, points: &[Pt]) -> (i32, i32, i32) {
        let known = points.iter().filter(|p| self.features.iter().any(|f| f.1 == **p)).count();
        let mut distance = 0.0f64;
        for pair in points.windows(2) {
            distance += haversine(pair[0], pair[1]);
        }
        (points.len() as i32, known as i32, distance as i32)
    }

    /// RouteChat: for each note, the earlier notes of the same call at the same location, in order.
    pub fn route_chat(notes: &[ModelNote]) -> Vec<ModelNote> {
        let mut replies = Vec::new();
        for (i, note) in notes.iter().enumerate() {
            replies.extend(notes[..i].iter().filter(|prev| prev.1 == note.1).cloned());
        }
        replies
    }
}

/// SEMANTICS.md's haversine in the reference's operation order (CPython's
/// `math.radians` multiplies by a precomputed pi/180).
pub fn haversine(a: Pt, b: Pt) -> f64 {
    const RAD: f64 = std::f64::consts::PI / 180.0;
    let (lat1, lon1) = (f64::from(a.0) / 1e7, f64::from(a.1) / 1e7);
    let (lat2, lon2) = (f64::from(b.0) / 1e7, f64::from(b.1) / 1e7);
    let (dlat, dlon) = ((lat2 - lat1) * RAD, (lon2 - lon1) * RAD);
    let sin_sq = |x: f64| {
        let s = (x / 2.0).sin();
        s * s
    };
    let h = sin_sq(dlat) + (lat1 * RAD).cos() * (lat2 * RAD).cos() * sin_sq(dlon);
    6_371_000.0 * (2.0 * h.sqrt().atan2((1.0 - h).sqrt()))
}
