use faultline_services::FeatureDb;

use crate::model::{db_entries, p};

#[test]
fn reference_database_has_100_features_36_unnamed_in_file_order() {
    let db = FeatureDb::reference();
    let entries = db_entries();
    assert_eq!(db.features().len(), 100);
    assert_eq!(db.features().iter().filter(|f| f.name.is_empty()).count(), 36);
    for (feature, (name, lat, lon)) in db.features().iter().zip(&entries) {
        assert_eq!(&feature.name, name);
        assert_eq!(feature.location, Some(p(*lat, *lon)));
    }
}

#[test]
fn malformed_database_is_an_error_not_a_panic() {
    for text in [
        "",
        "{}",
        "[{\"name\": \"x\"}]",
        "[{\"location\": {\"latitude\": \"a\", \"longitude\": 1}, \"name\": \"\"}]",
    ] {
        assert!(FeatureDb::from_json(text).is_err(), "{text:?} should be rejected");
    }
}
