//! The oracle on hand-made histories: each promise broken once, and a history that keeps them.

use faultline_example_ledger::model::{CONSERVED, EXACTLY_ONCE, check};
use faultline_example_ledger::service::OPENING;
use faultline_example_ledger::{Op, Reply, transfer_id};
use faultline_sim::{CallRecord, CallSummary, Property};
use tonic::Code;

fn call(id: u64, start_us: u64, end_us: u64, code: Code) -> CallSummary {
    CallSummary {
        id,
        client: "client-0".to_owned(),
        method: String::new(),
        sent: 1,
        received: 1,
        code,
        message: String::new(),
        start_us,
        end_us,
        deadline_us: 1_000_000,
        half_close_us: None,
        cancelled_by_client: false,
        probe: false,
    }
}

/// Transfer #1 (alice → bob, 10) acknowledged at 100; transfer #2 (bob → carol, 5) failed.
fn transfers() -> Vec<CallRecord<Op, Reply>> {
    vec![
        CallRecord {
            call: call(1, 0, 100, Code::Ok),
            op: Op::Transfer { from: 0, to: 1, amount: 10 },
            replies: vec![Reply::Transferred],
        },
        CallRecord {
            call: call(2, 0, 100, Code::Unavailable),
            op: Op::Transfer { from: 1, to: 2, amount: 5 },
            replies: vec![],
        },
    ]
}

fn audit(balances: [i64; 4], journal: &[u64]) -> CallRecord<Op, Reply> {
    let names = ["alice", "bob", "carol", "dave"];
    CallRecord {
        call: call(9, 200, 300, Code::Ok),
        op: Op::Balance,
        replies: vec![Reply::Books {
            balances: names.iter().zip(balances).map(|(n, b)| ((*n).to_owned(), b)).collect(),
            journal: journal.iter().map(|id| transfer_id(*id)).collect(),
        }],
    }
}

fn properties(audit: CallRecord<Op, Reply>) -> Vec<Property> {
    let mut history = transfers();
    history.push(audit);
    check(&history).into_iter().map(|v| v.property).collect()
}

#[test]
fn books_that_follow_from_the_journal_pass() {
    let o = OPENING;
    assert_eq!(properties(audit([o - 10, o + 10, o, o], &[1])), vec![]);
    // A failed transfer may have been applied (its reply was lost), once.
    assert_eq!(properties(audit([o - 10, o + 5, o + 5, o], &[1, 2])), vec![]);
}

#[test]
fn each_broken_promise_is_a_violation() {
    let o = OPENING;
    let cases = [
        ("applied twice", audit([o - 20, o + 20, o, o], &[1, 1]), vec![EXACTLY_ONCE]),
        ("acknowledged but lost", audit([o, o, o, o], &[]), vec![EXACTLY_ONCE]),
        ("a transfer no client sent", audit([o, o, o, o], &[1, 7]), vec![EXACTLY_ONCE, CONSERVED]),
        ("balances off the journal", audit([o - 10, o + 10, o, o + 1], &[1]), vec![CONSERVED, CONSERVED]),
        ("money moved without a journal entry", audit([o - 10, o + 10, o - 3, o + 3], &[1]), vec![CONSERVED]),
    ];
    for (what, audit, want) in cases {
        assert_eq!(properties(audit), want, "{what}");
    }
}
