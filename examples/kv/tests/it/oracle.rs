//! The oracle on hand-made histories: a lost acknowledged write, a value read back after it
//! was overwritten, a compare-and-set that swapped on the wrong value — and histories that keep
//! every promise, failed writes of unknown outcome among them.

use faultline_example_kv::model::check;
use faultline_example_kv::{LINEARIZABLE, Op, Reply};
use faultline_sim::{CallRecord, CallSummary};
use tonic::Code;

/// Call `id` on key `k0` from `start_ms` to `end_ms`, answered `reply` (none: failed).
fn call(id: u64, start_ms: u64, end_ms: u64, op: Op, reply: Option<Reply>) -> CallRecord<Op, Reply> {
    let code = if reply.is_some() { Code::Ok } else { Code::Unavailable };
    CallRecord {
        call: CallSummary {
            id,
            client: "client-0".to_owned(),
            method: String::new(),
            sent: 1,
            received: usize::from(reply.is_some()),
            code,
            message: String::new(),
            start_us: start_ms * 1000,
            end_us: end_ms * 1000,
            deadline_us: 1_000_000,
            half_close_us: None,
            cancelled_by_client: false,
            probe: false,
        },
        op,
        replies: reply.into_iter().collect(),
    }
}

fn put(id: u64, start: u64, end: u64, value: i64, ok: bool) -> CallRecord<Op, Reply> {
    call(id, start, end, Op::Put { via: 0, key: 0, value }, ok.then_some(Reply::Done))
}

fn get(id: u64, start: u64, end: u64, value: i64) -> CallRecord<Op, Reply> {
    call(id, start, end, Op::Get { via: 1, key: 0 }, Some(Reply::Value(value)))
}

fn cas(id: u64, start: u64, end: u64, expect: i64, value: i64, swapped: bool) -> CallRecord<Op, Reply> {
    call(id, start, end, Op::Cas { via: 2, key: 0, expect, value }, Some(Reply::Swapped(swapped)))
}

/// The calls the oracle blames (empty: linearizable).
fn blamed(history: &[CallRecord<Op, Reply>]) -> Vec<Option<u64>> {
    let violations = check(history);
    assert!(violations.iter().all(|v| v.property == LINEARIZABLE), "{violations:?}");
    violations.iter().map(|v| v.call).collect()
}

#[test]
fn an_acknowledged_write_lost_by_a_crash_is_caught() {
    // Put 5 acknowledged at 10 ms; a read at 50 ms still sees the initial 0.
    assert_eq!(blamed(&[put(1, 0, 10, 5, true), get(2, 50, 60, 0)]), vec![Some(2)]);
}

#[test]
fn a_read_of_an_overwritten_value_is_caught() {
    let history = [put(1, 0, 10, 5, true), put(2, 20, 30, 6, true), get(3, 40, 50, 6), get(4, 60, 70, 5)];
    assert_eq!(blamed(&history), vec![Some(4)]);
}

#[test]
fn a_compare_and_set_that_swapped_on_the_wrong_value_is_caught() {
    let history = [put(1, 0, 10, 5, true), cas(2, 20, 30, 7, 8, true)];
    assert_eq!(blamed(&history), vec![Some(2)]);
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    // The put overlaps both reads: one saw it, one did not, in either order of their ends.
    let history = [put(1, 0, 100, 5, true), get(2, 10, 20, 5), get(3, 30, 40, 0)];
    assert_eq!(blamed(&history[..2]), Vec::<Option<u64>>::new());
    // ... but not a new value then the old one, once both reads are ordered after each other.
    assert_eq!(blamed(&history), vec![Some(3)]);
}

#[test]
fn a_failed_write_may_have_taken_effect_or_not_but_not_both() {
    // Unknown outcome: never seen, seen later, or seen at once — each alone is fine.
    assert!(blamed(&[put(1, 0, 10, 5, false), get(2, 20, 30, 0)]).is_empty());
    assert!(blamed(&[put(1, 0, 10, 5, false), get(2, 500, 510, 5)]).is_empty());
    // Once seen, it cannot un-happen.
    let history = [put(1, 0, 10, 5, false), get(2, 20, 30, 5), get(3, 40, 50, 0)];
    assert_eq!(blamed(&history), vec![Some(3)]);
    // A failed read says nothing.
    let failed_read = call(4, 60, 70, Op::Get { via: 0, key: 0 }, None);
    assert!(blamed(&[put(1, 0, 10, 5, true), failed_read, get(2, 80, 90, 5)]).is_empty());
}

#[test]
fn keys_are_checked_apart() {
    // A read of another key is not a read of this one.
    let other = call(2, 50, 60, Op::Get { via: 0, key: 1 }, Some(Reply::Value(0)));
    assert!(blamed(&[put(1, 0, 10, 5, true), other]).is_empty());
}
