use faultline_services::FeatureDb;
use faultline_services::route_guide::get_feature;

use crate::model::{db_entries, p};

#[test]
fn hit_returns_the_feature_at_exactly_that_point() {
    let db = FeatureDb::reference();
    let f = get_feature(&db, p(409146138, -746188906), None);
    assert_eq!(f.name, "Berkshire Valley Management Area Trail, Jefferson, NJ, USA");
    assert_eq!(f.location, Some(p(409146138, -746188906)));
}

#[test]
fn miss_echoes_the_requested_location_with_an_empty_name() {
    let db = FeatureDb::reference();
    for point in [p(0, 0), p(409146138, -746188905), p(-1, i32::MAX)] {
        let f = get_feature(&db, point, None);
        assert_eq!(f.name, "");
        assert_eq!(f.location, Some(point), "the location is echoed, not empty");
    }
}

#[test]
fn every_database_point_is_found_named_or_not() {
    let db = FeatureDb::reference();
    for (name, lat, lon) in db_entries() {
        let f = get_feature(&db, p(lat, lon), None);
        assert_eq!(f.location, Some(p(lat, lon)));
        // The first entry at a point wins, as the reference's linear scan does.
        let first = db_entries().into_iter().find(|e| (e.1, e.2) == (lat, lon)).unwrap();
        assert_eq!(f.name, first.0, "feature {name:?}");
    }
}
