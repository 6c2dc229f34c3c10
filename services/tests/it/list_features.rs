use faultline_proto::routeguide::Rectangle;
use faultline_services::FeatureDb;
use faultline_services::route_guide::list_features;

use crate::model::{db_entries, p};

fn rect(lo: (i32, i32), hi: (i32, i32)) -> Rectangle {
    Rectangle { lo: Some(p(lo.0, lo.1)), hi: Some(p(hi.0, hi.1)) }
}

/// Names and points the model says are inside, in database order.
fn model(lo: (i32, i32), hi: (i32, i32)) -> Vec<(i32, i32)> {
    let (bottom, top) = (lo.0.min(hi.0), lo.0.max(hi.0));
    let (left, right) = (lo.1.min(hi.1), lo.1.max(hi.1));
    db_entries()
        .into_iter()
        .filter(|(_, lat, lon)| bottom <= *lat && *lat <= top && left <= *lon && *lon <= right)
        .map(|(_, lat, lon)| (lat, lon))
        .collect()
}

fn points(r: &Rectangle) -> Vec<(i32, i32)> {
    list_features(&FeatureDb::reference(), r, None)
        .into_iter()
        .map(|f| f.location.map(|l| (l.latitude, l.longitude)).unwrap())
        .collect()
}

#[test]
fn tutorial_rectangle_returns_all_100_features_in_database_order() {
    let found =
        list_features(&FeatureDb::reference(), &rect((400000000, -750000000), (420000000, -730000000)), None);
    assert_eq!(found.len(), 100);
    assert_eq!(found.iter().filter(|f| f.name.is_empty()).count(), 36, "unnamed features are included");
    let expected: Vec<(i32, i32)> = db_entries().into_iter().map(|e| (e.1, e.2)).collect();
    let got: Vec<(i32, i32)> =
        found.iter().map(|f| f.location.map(|l| (l.latitude, l.longitude)).unwrap()).collect();
    assert_eq!(got, expected);
}

#[test]
fn rectangles_match_the_model() {
    // (lo, hi): ordinary, inverted in each axis, degenerate at a feature, empty.
    let (lat, lon) = (407838351, -746143763); // first database feature
    let cases = [
        ((405000000, -748000000), (410000000, -744000000)),
        ((410000000, -744000000), (405000000, -748000000)),
        ((405000000, -744000000), (410000000, -748000000)),
        ((lat, lon), (lat, lon)),
        ((lat, lon), (lat + 1, lon + 1)),
        ((lat - 1, lon - 1), (lat, lon)),
        ((0, 0), (0, 0)),
        ((0, 0), (1, 1)),
    ];
    for (lo, hi) in cases {
        assert_eq!(points(&rect(lo, hi)), model(lo, hi), "rectangle {lo:?}..{hi:?}");
    }
    assert_eq!(points(&rect((lat, lon), (lat, lon))), vec![(lat, lon)], "edges are inclusive");
}

#[test]
fn missing_corners_count_as_the_origin() {
    let r = Rectangle { lo: None, hi: Some(p(420000000, -730000000)) };
    assert_eq!(points(&r), model((0, 0), (420000000, -730000000)));
}
