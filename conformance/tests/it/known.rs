//! Known failures, as data: each entry excuses exactly one difference (or, racy, one of a few
//! outcomes); judging and loading checked on tables.

use faultline_conformance::known::{DataError, KnownFailures};
use faultline_conformance::report::judge;
use faultline_conformance::{Aspect, Difference, Direction, Transport, Verdict};

use crate::support::suite;

const CASE: &str = "say-hello";

fn entries(toml: &str) -> KnownFailures {
    KnownFailures::parse(toml, &suite().cases).unwrap_or_else(|e| panic!("{e}: {toml}"))
}

fn diff(aspect: Aspect, expected: &str, actual: &str) -> Difference {
    Difference { call: 0, aspect, expected: expected.to_owned(), actual: actual.to_owned() }
}

/// Judges `differences` of `CASE` (rust-server, in process) against `known`.
fn check(known: &str, differences: &[&Difference], expect: Verdict) {
    let owned = differences.iter().map(|d| (*d).clone()).collect();
    let result = judge(CASE, Direction::RustServer, Transport::InProcess, owned, &entries(known));
    assert_eq!(result.verdict, expect, "entries:\n{known}\ndifferences: {differences:?}\n{result:?}");
}

const STATUS: &str = r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "status"
expected = 'RESOURCE_EXHAUSTED (8) "too big"'
actual = 'OUT_OF_RANGE (11) "too long"'
reason = "made up for this test"
"#;

const TRAILERS: &str = r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "trailers"
expected = '''
:status: 200
grpc-status: 8
'''
actual = '''
:status: 200
grpc-status: 11'''
reason = "made up for this test"
"#;

const RACY: &str = r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "status"
outcomes = ["no difference", { expected = "DEADLINE_EXCEEDED (4)", actual = "CANCELLED (1)" }]
reason = "made up for this test"
"#;

const RACY_ALWAYS_DIFFERS: &str = r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
aspect = "status"
outcomes = [
  { expected = "DEADLINE_EXCEEDED (4)", actual = "CANCELLED (1)" },
  { expected = "DEADLINE_EXCEEDED (4)", actual = "UNAVAILABLE (14)" },
]
reason = "made up for this test"
"#;

const LIVE_ONLY: &str = r#"
[[failure]]
case = "say-hello"
directions = ["rust-server"]
transports = ["live"]
aspect = "status"
expected = 'RESOURCE_EXHAUSTED (8) "too big"'
actual = 'OUT_OF_RANGE (11) "too long"'
reason = "made up for this test"
"#;

#[test]
fn a_case_passes_as_known_only_when_every_difference_is_excused() {
    let status =
        diff(Aspect::Status, r#"RESOURCE_EXHAUSTED (8) "too big""#, r#"OUT_OF_RANGE (11) "too long""#);
    let other_status =
        diff(Aspect::Status, r#"RESOURCE_EXHAUSTED (8) "too big""#, r#"INTERNAL (13) "too long""#);
    let trailers = diff(Aspect::Trailers, ":status: 200\ngrpc-status: 8", ":status: 200\ngrpc-status: 11");
    let headers = diff(Aspect::ResponseHeaders, "(none)", ":status: 200\ncontent-type: application/grpc");
    let deadline = diff(Aspect::Status, "DEADLINE_EXCEEDED (4)", "CANCELLED (1)");
    let unavailable = diff(Aspect::Status, "DEADLINE_EXCEEDED (4)", "UNAVAILABLE (14)");
    let both = format!("{STATUS}{TRAILERS}");
    let table: &[(&str, &[&Difference], Verdict)] = &[
        ("", &[], Verdict::Pass),
        ("", &[&status], Verdict::Fail),
        (STATUS, &[&status], Verdict::KnownFailure),
        // Multi-line values; a newline before the closing quotes is layout.
        (TRAILERS, &[&trailers], Verdict::KnownFailure),
        (&both, &[&status, &trailers], Verdict::KnownFailure),
        // An entry excuses its difference, not the case: a second difference fails it.
        (STATUS, &[&status, &headers], Verdict::Fail),
        (&both, &[&status, &trailers, &headers], Verdict::Fail),
        // The same aspect differing otherwise is another difference.
        (STATUS, &[&other_status], Verdict::Fail),
        // An entry that excuses nothing is stale.
        (STATUS, &[], Verdict::Stale),
        (&both, &[&status], Verdict::Stale),
        // On other transports the entry does not apply.
        (LIVE_ONLY, &[&status], Verdict::Fail),
        (LIVE_ONLY, &[], Verdict::Pass),
        // Racy: any listed outcome, nothing else.
        (RACY, &[], Verdict::Pass),
        (RACY, &[&deadline], Verdict::KnownFailure),
        (RACY, &[&unavailable], Verdict::Fail),
        (RACY, &[&deadline, &trailers], Verdict::Fail),
        (RACY_ALWAYS_DIFFERS, &[&unavailable], Verdict::KnownFailure),
        (RACY_ALWAYS_DIFFERS, &[&other_status], Verdict::Fail),
        (RACY_ALWAYS_DIFFERS, &[], Verdict::Stale),
    ];
    for (known, differences, expect) in table {
        check(known, differences, *expect);
    }
}

#[test]
fn the_report_says_which_difference_is_excused_and_which_entry_is_stale() {
    let known = entries(&format!("{STATUS}{TRAILERS}"));
    let status =
        diff(Aspect::Status, r#"RESOURCE_EXHAUSTED (8) "too big""#, r#"OUT_OF_RANGE (11) "too long""#);
    let headers = diff(Aspect::ResponseHeaders, "(none)", ":status: 200\ncontent-type: application/grpc");
    let result = judge(CASE, Direction::RustServer, Transport::InProcess, vec![status, headers], &known);
    let report = faultline_conformance::Report { target: None, results: vec![result] };
    insta::assert_snapshot!("one_excused_one_not_one_stale", report.details(true));
}

fn load_error(toml: &str) -> String {
    match KnownFailures::parse(toml, &suite().cases) {
        Ok(_) => panic!("loaded: {toml}"),
        Err(DataError::Known { error, .. }) => error.to_string(),
        Err(e) => {
            let mut text = format!("(not a known-failure error) {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    }
}

#[test]
fn malformed_entries_are_refused_in_one_line() {
    let entry = |fields: &str| format!("[[failure]]\n{fields}\n");
    let good = "directions = [\"rust-server\"]\naspect = \"status\"\nexpected = \"a\"\nactual = \"b\"";
    let table: &[(String, &str)] = &[
        (entry(&format!("case = \"nope\"\n{good}\nreason = \"x\"")), "known failure for unknown case `nope`"),
        (entry(&format!("case = \"say-hello\"\n{good}")), "known failure `say-hello` needs a reason"),
        (
            entry(&format!("case = \"say-hello\"\n{good}\nreason = \" \"")),
            "known failure `say-hello` needs a reason",
        ),
        (
            entry(
                "case = \"say-hello\"\ndirections = [\"rust-server\"]\naspect = \"colour\"\nexpected = \"a\"\nactual = \"b\"\nreason = \"x\"",
            ),
            "known failure `say-hello`: unknown aspect `colour` (one of: request-headers, client-events, ",
        ),
        (
            entry(
                "case = \"say-hello\"\ndirections = [\"rust-server\"]\nexpected = \"a\"\nactual = \"b\"\nreason = \"x\"",
            ),
            "known failure `say-hello` needs an aspect",
        ),
        (
            entry(
                "case = \"say-hello\"\naspect = \"status\"\nexpected = \"a\"\nactual = \"b\"\nreason = \"x\"",
            ),
            "known failure `say-hello` needs directions",
        ),
        (
            entry(
                "case = \"say-hello\"\ndirections = [\"rust-server\"]\naspect = \"status\"\nexpected = \"a\"\nreason = \"x\"",
            ),
            "known failure `say-hello` (status) needs `expected` and `actual`, or else `outcomes`",
        ),
        (
            entry(&format!("case = \"say-hello\"\n{good}\noutcomes = [\"no difference\"]\nreason = \"x\"")),
            "known failure `say-hello` (status) needs `expected` and `actual`, or else `outcomes`",
        ),
        (
            entry(
                "case = \"say-hello\"\ndirections = [\"rust-server\"]\naspect = \"status\"\noutcomes = []\nreason = \"x\"",
            ),
            "known failure `say-hello` (status) needs `expected` and `actual`, or else `outcomes`",
        ),
        (
            entry(
                "case = \"say-hello\"\ndirections = [\"rust-server\"]\naspect = \"status\"\noutcomes = [\"same\"]\nreason = \"x\"",
            ),
            "known failure `say-hello` (status): an outcome is \"no difference\" or { expected, actual }, not \"same\"",
        ),
        (entry(&format!("{good}\nreason = \"x\"")), "a known failure needs `case`, or `cases`"),
        (
            entry(&format!("case = \"say-hello\"\ncases = [\"say-hello\"]\n{good}\nreason = \"x\"")),
            "a known failure needs `case`, or `cases`",
        ),
        (entry(&format!("cases = []\n{good}\nreason = \"x\"")), "a known failure needs `case`, or `cases`"),
        (
            entry(&format!("cases = [\"say-hello\", \"nope\"]\n{good}\nreason = \"x\"")),
            "known failure for unknown case `nope`",
        ),
        (
            entry(&format!("cases = [\"say-hello\", \"say-hello-again\"]\n{good}")),
            "known failure `say-hello, say-hello-again` needs a reason",
        ),
        // The old whole-case form: `racy = true` accepted anything.
        (
            entry(&format!("case = \"say-hello\"\n{good}\nracy = true\nreason = \"x\"")),
            "unknown field `racy`",
        ),
    ];
    for (toml, expect) in table {
        let got = load_error(toml);
        assert!(got.contains(expect), "{toml}\nexpected {expect:?}\ngot {got:?}");
        if !got.starts_with("(not") {
            assert_eq!(got.lines().count(), 1, "{got}");
        }
    }
}

#[test]
fn an_entry_for_several_cases_is_one_entry_per_case_and_each_must_hold() {
    let known = entries(
        r#"
[[failure]]
cases = ["say-hello", "say-hello-again"]
directions = ["target"]
aspect = "status"
expected = 'OK (0) "", from the server'
actual = 'OK (0) "OK", from the server'
reason = "made up for this test"
"#,
    );
    let cases: Vec<&str> = known.entries.iter().map(|k| k.case.as_str()).collect();
    assert_eq!(cases, ["say-hello", "say-hello-again"]);
    let ok = diff(Aspect::Status, r#"OK (0) "", from the server"#, r#"OK (0) "OK", from the server"#);
    let judged = |case: &str, differences: Vec<Difference>| {
        judge(case, Direction::Target, Transport::Live, differences, &known).verdict
    };
    assert_eq!(judged("say-hello", vec![ok.clone()]), Verdict::KnownFailure);
    assert_eq!(judged("say-hello-again", vec![ok]), Verdict::KnownFailure);
    // Where the difference does not show, that case's entry is stale.
    assert_eq!(judged("say-hello-again", Vec::new()), Verdict::Stale);
    // And nowhere else, nor in another direction.
    assert_eq!(judged("get-feature-hit", Vec::new()), Verdict::Pass);
    assert_eq!(
        judge("say-hello", Direction::RustServer, Transport::Live, Vec::new(), &known).verdict,
        Verdict::Pass
    );
}
