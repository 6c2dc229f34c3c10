//! The ledger's operations, and its oracle, written from what a ledger promises rather than from its code: over the
//! whole history, every audit (a successful `Balance`) must show books that follow from the
//! opening balances and the journal, money neither created nor lost, each transfer applied at
//! most once, and every transfer acknowledged before the audit began applied.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::{CallRecord, Property, Violation};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::service::{ACCOUNTS, OPENING};

/// One operation of a ledger client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Moves `amount` from account `from` to account `to` (indices into the accounts).
    Transfer { from: u8, to: u8, amount: i64 },
    /// Reads every balance and the journal.
    Balance,
}

/// What a ledger client received.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A transfer was acknowledged.
    Transferred,
    /// The books: every account's balance, and the journal of transfers applied.
    Books { balances: Vec<(String, i64)>, journal: Vec<String> },
}

/// The id (idempotency key) of the transfer that call `call` makes.
pub fn transfer_id(call: u64) -> String {
    format!("t{call}")
}

/// Each transfer applied exactly once: none twice, none that no client sent, none
/// acknowledged and missing.
pub const EXACTLY_ONCE: Property = Property::Oracle("exactly-once");
/// Balances follow from the journal; the total never changes.
pub const CONSERVED: Property = Property::Oracle("conserved");

/// The violations of `history` (in call order).
pub fn check(history: &[CallRecord<Op, Reply>]) -> Vec<Violation> {
    let transfers: BTreeMap<String, &CallRecord<Op, Reply>> = history
        .iter()
        .filter(|r| matches!(r.op, Op::Transfer { .. }))
        .map(|r| (transfer_id(r.call.id), r))
        .collect();
    let mut out = Vec::new();
    let mut fail = |property, call, detail| out.push(Violation { property, call: Some(call), detail });
    // A transfer applied twice or lost is reported once, at the first audit that shows it.
    let mut reported = BTreeSet::new();
    for audit in history {
        let Some(Reply::Books { balances, journal }) = audit.replies.first() else { continue };
        let mut expected: BTreeMap<String, i64> =
            ACCOUNTS.iter().map(|a| ((*a).to_owned(), OPENING)).collect();
        let mut applied = BTreeSet::new();
        for id in journal {
            let Some(Op::Transfer { from, to, amount }) = transfers.get(id).map(|t| &t.op) else {
                fail(EXACTLY_ONCE, audit.call.id, format!("the journal lists {id}, which no client sent"));
                continue;
            };
            if !applied.insert(id) && reported.insert(id) {
                let call = transfers[id].call.id;
                fail(
                    EXACTLY_ONCE,
                    call,
                    format!("transfer {id} is applied twice (audit call #{})", audit.call.id),
                );
            }
            *expected.entry(account(*from)).or_default() -= amount;
            *expected.entry(account(*to)).or_default() += amount;
        }
        let books: BTreeMap<String, i64> = balances.iter().cloned().collect();
        if books != expected {
            fail(
                CONSERVED,
                audit.call.id,
                format!("balances {books:?} do not follow from the journal: {expected:?}"),
            );
        }
        let (total, opened) = (books.values().sum::<i64>(), OPENING * ACCOUNTS.len() as i64);
        if total != opened {
            fail(
                CONSERVED,
                audit.call.id,
                format!("the books hold {total}, the ledger opened with {opened}"),
            );
        }
        for (id, t) in &transfers {
            let acknowledged = t.call.code == Code::Ok && t.call.end_us < audit.call.start_us;
            if acknowledged && !applied.contains(id) && reported.insert(id) {
                fail(
                    EXACTLY_ONCE,
                    t.call.id,
                    format!("transfer {id} was acknowledged but is not in the journal"),
                );
            }
        }
    }
    out
}

/// The name of account `index` (modulo the number of accounts).
pub fn account(index: u8) -> String {
    ACCOUNTS[usize::from(index) % ACCOUNTS.len()].to_owned()
}
