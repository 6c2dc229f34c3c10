//! The store's operations, what clients receive, and the oracle: the history must be
//! linearizable — each key behaves as one register that every operation read or changed at one
//! instant between its call and its answer — checked key by key with
//! `faultline_sim::linearizability`.

use faultline_sim::linearizability::{self, CasRegister, Model, Operation, RegisterOp, RegisterOut, Verdict};
use faultline_sim::{CallRecord, Property, Violation};
use serde::{Deserialize, Serialize};
use tonic::Code;

/// The oracle's property.
pub const LINEARIZABLE: Property = Property::Oracle("linearizable");

/// Search steps the checker may take per key: enough for the catalogue's histories (a few
/// hundred operations per key, dozens of them of unknown outcome after crashes) in a second or
/// two.
pub const BUDGET: u64 = 5_000_000;

/// The keys clients use.
pub const KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

/// One client operation, asked of node `via` (an index into the cluster's nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Sets `key` to `value`.
    Put { via: u8, key: u8, value: i64 },
    /// Reads `key`.
    Get { via: u8, key: u8 },
    /// Sets `key` to `value` if it holds `expect`.
    Cas { via: u8, key: u8, expect: i64, value: i64 },
}

impl Op {
    /// The node it is asked of.
    pub fn via(&self) -> u8 {
        match *self {
            Op::Put { via, .. } | Op::Get { via, .. } | Op::Cas { via, .. } => via,
        }
    }

    /// Its key's name.
    pub fn key(&self) -> &'static str {
        let key = match *self {
            Op::Put { key, .. } | Op::Get { key, .. } | Op::Cas { key, .. } => key,
        };
        KEYS[usize::from(key) % KEYS.len()]
    }

    fn register(&self) -> RegisterOp {
        match *self {
            Op::Put { value, .. } => RegisterOp::Write(value),
            Op::Get { .. } => RegisterOp::Read,
            Op::Cas { expect, value, .. } => RegisterOp::Cas { expect, new: value },
        }
    }
}

/// What a client received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A put was applied.
    Done,
    /// The value read.
    Value(i64),
    /// Whether a compare-and-set swapped.
    Swapped(bool),
}

/// An operation on one key's register.
type KeyedOperation = Operation<(&'static str, RegisterOp), RegisterOut>;

/// Every key as a register starting at 0, the key part of each operation's input.
struct Keyed;

impl Model for Keyed {
    type State = i64;
    type Input = (&'static str, RegisterOp);
    type Output = RegisterOut;

    fn init(&self) -> i64 {
        CasRegister::default().init()
    }

    fn step(&self, state: &i64, input: &Self::Input, output: &RegisterOut) -> Option<i64> {
        CasRegister::default().step(state, &input.1, output)
    }

    fn step_unknown(&self, state: &i64, input: &Self::Input) -> Option<i64> {
        CasRegister::default().step_unknown(state, &input.1)
    }
}

/// The history as register operations: an answered call with what it answered; a failed write
/// with an unknown outcome (it may have taken effect, at any time after its call); a failed
/// read is left out (it changed nothing). Returns the operations and the call each came from.
fn operations(history: &[CallRecord<Op, Reply>]) -> (Vec<KeyedOperation>, Vec<u64>) {
    let (mut ops, mut calls) = (Vec::new(), Vec::new());
    for r in history {
        let input = (r.op.key(), r.op.register());
        let output = match (r.call.code, r.replies.first()) {
            (Code::Ok, Some(Reply::Done)) => Some(RegisterOut::Written),
            (Code::Ok, Some(Reply::Value(v))) => Some(RegisterOut::Read(*v)),
            (Code::Ok, Some(Reply::Swapped(s))) => Some(RegisterOut::Cas(*s)),
            _ if matches!(r.op, Op::Get { .. }) => continue,
            _ => None,
        };
        ops.push(match output {
            Some(output) => Operation::new(input, output, r.call.start_us, r.call.end_us),
            None => Operation::unknown(input, r.call.start_us),
        });
        calls.push(r.call.id);
    }
    (ops, calls)
}

/// The oracle: one violation if the history is not linearizable (naming the operations no
/// order could place next), or if the checker ran out of budget.
pub fn check(history: &[CallRecord<Op, Reply>]) -> Vec<Violation> {
    let (ops, calls) = operations(history);
    let describe = |i: &usize| {
        let r = history.iter().find(|r| r.call.id == calls[*i]).expect("every operation has its call");
        format!(
            "#{} {:?} -> {:?} {:?} at {:.3}..{:.3}s",
            r.call.id,
            r.op,
            r.call.code,
            r.replies,
            r.call.start_us as f64 / 1e6,
            r.call.end_us as f64 / 1e6
        )
    };
    match linearizability::check_by(&Keyed, &ops, |input| input.0, BUDGET) {
        Verdict::Linearizable => Vec::new(),
        Verdict::NotLinearizable(counter) => {
            let key = counter.stuck.first().map_or("?", |i| ops[*i].input.0);
            // Blame an answered operation (one of unknown outcome could have stayed unapplied).
            let blamed = counter.stuck.iter().find(|i| ops[**i].output.is_some()).or(counter.stuck.first());
            let last = counter.linearized.iter().rev().take(3).rev().map(describe).collect::<Vec<_>>();
            let stuck = counter.stuck.iter().map(describe).collect::<Vec<_>>();
            vec![Violation {
                property: LINEARIZABLE,
                call: blamed.map(|i| calls[*i]),
                detail: format!(
                    "key {key:?}: no order of the operations explains the answers. After {} operation(s) in order (last: {}), none of these can come next: {}",
                    counter.linearized.len(),
                    last.join("; "),
                    stuck.join("; ")
                ),
            }]
        }
        Verdict::Unknown => vec![Violation {
            property: LINEARIZABLE,
            call: None,
            detail: format!("the linearizability check ran out of its budget ({BUDGET} steps)"),
        }],
    }
}
