//! Independent reference values: the JSON database read directly and the
//! haversine formula written out again from SEMANTICS.md.

use faultline_proto::routeguide::Point;

pub fn p(latitude: i32, longitude: i32) -> Point {
    Point { latitude, longitude }
}

/// (name, latitude, longitude) of every database entry, read from the JSON
/// file without the service's loader.
pub fn db_entries() -> Vec<(String, i32, i32)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/route_guide_db.json"))
        .expect("database file");
    let value: serde_json::Value = serde_json::from_str(&text).expect("database JSON");
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|f| {
            let lat = f["location"]["latitude"].as_i64().expect("latitude") as i32;
            let lon = f["location"]["longitude"].as_i64().expect("longitude") as i32;
            (f["name"].as_str().expect("name").to_owned(), lat, lon)
        })
        .collect()
}

/// SEMANTICS.md's haversine: degrees = E7 / 1e7, R = 6371000 m.
pub fn haversine(a: (i32, i32), b: (i32, i32)) -> f64 {
    // CPython's math.radians multiplies by a precomputed pi/180 (degToRad);
    // `deg * PI / 180.0` differs in the last bit for some inputs.
    let rad = |deg: f64| deg * (std::f64::consts::PI / 180.0);
    let (lat1, lon1) = (a.0 as f64 / 1e7, a.1 as f64 / 1e7);
    let (lat2, lon2) = (b.0 as f64 / 1e7, b.1 as f64 / 1e7);
    let dlat = rad(lat2 - lat1);
    let dlon = rad(lon2 - lon1);
    let sq = |x: f64| x * x;
    // Same association as the reference: cos * cos * (sin^2), not ((cos * cos) * sin) * sin.
    let h = sq((dlat / 2.0).sin()) + rad(lat1).cos() * rad(lat2).cos() * sq((dlon / 2.0).sin());
    6371000.0 * 2.0 * h.sqrt().atan2((1.0 - h).sqrt())
}

/// The summed route distance, truncated once at the end.
pub fn route_distance(points: &[(i32, i32)]) -> i32 {
    points.windows(2).map(|w| haversine(w[0], w[1])).sum::<f64>() as i32
}
