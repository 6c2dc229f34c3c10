use faultline_services::FeatureDb;
use faultline_services::geo::{RouteAccumulator, distance_m};

use crate::model::{db_entries, haversine, p, route_distance};

#[test]
fn distance_matches_the_formula_written_independently() {
    let entries = db_entries();
    for w in entries.windows(2) {
        let (a, b) = ((w[0].1, w[0].2), (w[1].1, w[1].2));
        assert_eq!(distance_m(&p(a.0, a.1), &p(b.0, b.1)), haversine(a, b));
    }
    // One degree of latitude on a 6371 km sphere: 6371000 * pi / 180 metres.
    let one_degree = 6371000.0 * std::f64::consts::PI / 180.0;
    assert!((distance_m(&p(0, 0), &p(10000000, 0)) - one_degree).abs() < 1e-6);
}

#[test]
fn distances_equal_cpython_bit_for_bit() {
    // Printed by CPython 3.11 running the tutorial's get_distance over the
    // database file: the first pair, and the sum over all 99 consecutive pairs.
    let entries = db_entries();
    let pt = |i: usize| p(entries[i].1, entries[i].2);
    assert_eq!(distance_m(&pt(0), &pt(1)), 18327.353691312466);
    let sum: f64 = (0..99).map(|i| distance_m(&pt(i), &pt(i + 1))).sum();
    assert_eq!(sum, 7494392.305336312);
}

#[test]
fn three_point_route_sums_as_f64_and_truncates_once() {
    // Two one-degree legs of 111194.93 m each: truncating once gives 222389,
    // truncating per segment would give 222388.
    let route = [(0, 0), (10000000, 0), (20000000, 0)];
    let leg = 6371000.0 * std::f64::consts::PI / 180.0;
    assert_eq!(route_distance(&route), (2.0 * leg) as i32);
    assert_eq!(route_distance(&route), 222389);
    let mut acc = RouteAccumulator::new(None);
    for (lat, lon) in route {
        acc.push(&FeatureDb::reference(), p(lat, lon));
    }
    let summary = acc.finish(7);
    assert_eq!(
        (summary.point_count, summary.feature_count, summary.distance, summary.elapsed_time),
        (3, 0, 222389, 7)
    );
}

#[test]
fn feature_count_includes_unnamed_matches() {
    let db = FeatureDb::reference();
    let entries = db_entries();
    let unnamed = entries.iter().find(|e| e.0.is_empty()).unwrap();
    let named = entries.iter().find(|e| !e.0.is_empty()).unwrap();
    let route = [(unnamed.1, unnamed.2), (1, 1), (named.1, named.2), (unnamed.1, unnamed.2)];
    let mut acc = RouteAccumulator::new(None);
    for (lat, lon) in route {
        acc.push(&db, p(lat, lon));
    }
    let s = acc.finish(0);
    assert_eq!((s.point_count, s.feature_count, s.distance), (4, 3, route_distance(&route)));
}

#[test]
fn empty_and_single_point_routes() {
    let db = FeatureDb::reference();
    let s = RouteAccumulator::new(None).finish(0);
    assert_eq!((s.point_count, s.feature_count, s.distance, s.elapsed_time), (0, 0, 0, 0));
    let mut acc = RouteAccumulator::new(None);
    acc.push(&db, p(407838351, -746143763));
    let s = acc.finish(0);
    assert_eq!((s.point_count, s.feature_count, s.distance), (1, 1, 0));
}
