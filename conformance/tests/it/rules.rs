//! Normalisation rules, as data: each one checked on a table of inputs.

use faultline_conformance::Rules;

use crate::support::suite;

fn check(headers: &[(&str, &str)], expect: &[(&str, &str)]) {
    let headers: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let got = suite().rules.headers(&headers);
    let expect: Vec<(String, String)> = expect.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(got, expect, "for {headers:?}");
}

#[test]
fn header_rules() {
    // Dropped with a reason: implementation names, wall time, dialled address, compressors.
    check(
        &[
            ("user-agent", "grpc-python/1.76.0"),
            ("date", "Tue"),
            (":authority", "h:1"),
            ("grpc-accept-encoding", "gzip"),
        ],
        &[],
    );
    // Kept exactly, sorted by name.
    check(
        &[("te", "trailers"), ("content-type", "application/grpc")],
        &[("content-type", "application/grpc"), ("te", "trailers")],
    );
    check(&[("x-custom", "A b")], &[("x-custom", "A b")]);
    // Timing-dependent: presence only.
    check(&[("grpc-timeout", "296m")], &[("grpc-timeout", "(present)")]);
    // Binary metadata: base64 padded, unpadded and grpc-core's true binary are the same bytes.
    for wire in ["AAEC/f7/", "AAEC/f7/", "\u{0}\u{0}\u{1}\u{2}\u{fd}\u{fe}\u{ff}"] {
        check(&[("x-trace-bin", wire)], &[("x-trace-bin", "(bytes) AAEC/f7/")]);
    }
    check(&[("x-trace-bin", "AQ")], &[("x-trace-bin", "(bytes) AQ==")]);
    // grpc-message: percent-decoded; empty is the same as absent.
    check(&[("grpc-message", "caf%C3%A9 100%25")], &[("grpc-message", "café 100%")]);
    check(&[("grpc-message", "")], &[]);
}

#[test]
fn a_rule_without_a_reason_is_refused() {
    let err = Rules::parse("[[header]]\nname = \"date\"\naction = \"drop\"\nreason = \" \"\n").unwrap_err();
    assert!(err.to_string().contains("every rule needs a reason"), "{err}");
    let err = Rules::parse("[[header]]\naction = \"drop\"\nreason = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("exactly one of name and suffix"), "{err}");
}
