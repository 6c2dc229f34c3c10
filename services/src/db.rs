//! The feature database: the tutorial's `route_guide_db.json`, embedded.

use std::collections::BTreeMap;

use faultline_proto::routeguide::{Feature, Point};
use serde::Deserialize;

/// The reference database as shipped with the tutorial (100 features, 36 unnamed).
pub const REFERENCE_JSON: &str = include_str!("../data/route_guide_db.json");

/// Why a feature database could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The text is not a JSON array of `{location: {latitude, longitude}, name}`.
    #[error("feature database is not valid JSON of the tutorial's shape: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct JsonFeature {
    location: JsonPoint,
    name: String,
}

#[derive(Deserialize)]
struct JsonPoint {
    latitude: i32,
    longitude: i32,
}

/// Features in database order, with an index for exact-point lookup.
#[derive(Debug, Clone)]
pub struct FeatureDb {
    features: Vec<Feature>,
    /// (latitude, longitude) -> index of the first feature there, as the
    /// reference's linear scan would find it.
    by_point: BTreeMap<(i32, i32), usize>,
}

impl FeatureDb {
    /// The tutorial's database.
    pub fn reference() -> Self {
        Self::from_json(REFERENCE_JSON).expect("embedded database is valid (tested)")
    }

    /// Parses a database in the tutorial's JSON format.
    pub fn from_json(text: &str) -> Result<Self, DbError> {
        let parsed: Vec<JsonFeature> = serde_json::from_str(text)?;
        let features = parsed
            .into_iter()
            .map(|f| Feature {
                name: f.name,
                location: Some(Point { latitude: f.location.latitude, longitude: f.location.longitude }),
            })
            .collect();
        Ok(Self::from_features(features))
    }

    /// A database of the given features, in the given order.
    pub fn from_features(features: Vec<Feature>) -> Self {
        let mut by_point = BTreeMap::new();
        for (i, f) in features.iter().enumerate() {
            let p = f.location.unwrap_or_default();
            by_point.entry((p.latitude, p.longitude)).or_insert(i);
        }
        Self { features, by_point }
    }

    /// All features, in database order.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The first feature located exactly at `point`, named or not.
    pub fn feature_at(&self, point: &Point) -> Option<&Feature> {
        self.by_point.get(&(point.latitude, point.longitude)).map(|&i| &self.features[i])
    }
}
