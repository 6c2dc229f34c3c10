//! Distances and route summaries, computed exactly as the reference does.

use faultline_proto::routeguide::{Point, RouteSummary};

use crate::db::FeatureDb;
use crate::mutant::Mutant;

/// Mean Earth radius used by the reference, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_000.0;
const COORD_FACTOR: f64 = 10_000_000.0;

/// Haversine distance in metres between two E7 points, operation for
/// operation as the reference's `get_distance` (float rounding matters).
pub fn distance_m(start: &Point, end: &Point) -> f64 {
    let lat_1 = f64::from(start.latitude) / COORD_FACTOR;
    let lat_2 = f64::from(end.latitude) / COORD_FACTOR;
    let lon_1 = f64::from(start.longitude) / COORD_FACTOR;
    let lon_2 = f64::from(end.longitude) / COORD_FACTOR;
    let lat_rad_1 = lat_1.to_radians();
    let lat_rad_2 = lat_2.to_radians();
    let delta_lat_rad = (lat_2 - lat_1).to_radians();
    let delta_lon_rad = (lon_2 - lon_1).to_radians();
    let a = (delta_lat_rad / 2.0).sin().powi(2)
        + lat_rad_1.cos() * lat_rad_2.cos() * (delta_lon_rad / 2.0).sin().powi(2);
    let c = 2.0 * a.sqrt().atan2((1.0 - a).sqrt());
    EARTH_RADIUS_M * c
}

/// Accumulates a RecordRoute call: counts points and known features and sums
/// distances as `f64`, truncating once in [`RouteAccumulator::finish`].
#[derive(Debug, Clone, Default)]
pub struct RouteAccumulator {
    point_count: i32,
    feature_count: i32,
    distance: f64,
    prev: Option<Point>,
    mutant: Option<Mutant>,
}

impl RouteAccumulator {
    /// An empty route; `mutant` deliberately breaks the arithmetic.
    pub fn new(mutant: Option<Mutant>) -> Self {
        Self { mutant, ..Self::default() }
    }

    /// Records the next point of the route.
    pub fn push(&mut self, db: &FeatureDb, point: Point) {
        self.point_count = self.point_count.saturating_add(1);
        if db.feature_at(&point).is_some() {
            self.feature_count = self.feature_count.saturating_add(1);
        }
        if let Some(prev) = &self.prev {
            let d = distance_m(prev, &point);
            self.distance += if self.mutant == Some(Mutant::SegmentTruncation) { d.trunc() } else { d };
        }
        self.prev = Some(point);
    }

    /// The summary; `elapsed_secs` is whole seconds, already truncated.
    pub fn finish(&self, elapsed_secs: i32) -> RouteSummary {
        RouteSummary {
            point_count: self.point_count,
            feature_count: self.feature_count,
            // `as` saturates, as Python's int() would not; routes long enough
            // to exceed i32 metres are not representable on the wire anyway.
            distance: self.distance as i32,
            elapsed_time: elapsed_secs,
        }
    }
}
