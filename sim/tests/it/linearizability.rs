//! The linearizability checker against known histories (Porcupine's and Knossos's classics), an
//! exhaustive search on small ones, and generated sequential runs.

use faultline_sim::linearizability::*;
use proptest::prelude::*;

type Op = Operation<RegisterOp, RegisterOut>;
use RegisterOp::{Cas, Read, Write};

fn reg() -> CasRegister {
    CasRegister::default()
}

fn read(v: i64, call: u64, ret: u64) -> Op {
    Operation::new(Read, RegisterOut::Read(v), call, ret)
}

fn write(v: i64, call: u64, ret: u64) -> Op {
    Operation::new(Write(v), RegisterOut::Written, call, ret)
}

fn cas(expect: i64, new: i64, ok: bool, call: u64, ret: u64) -> Op {
    Operation::new(Cas { expect, new }, RegisterOut::Cas(ok), call, ret)
}

fn not_lin(v: Verdict) -> Counterexample {
    match v {
        Verdict::NotLinearizable(c) => c,
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
}

/// Whether `order` is a legal run of the register that respects real time: every known-outcome
/// operation that returned before an operation was called comes earlier in `order`.
fn valid_prefix(h: &[Op], order: &[usize]) -> bool {
    let mut state = reg().init();
    for (k, &i) in order.iter().enumerate() {
        let before = &order[..k];
        let preceded = (0..h.len())
            .all(|j| h[j].output.is_none() || h[j].return_us >= h[i].call_us || before.contains(&j));
        let next = match &h[i].output {
            Some(o) => reg().step(&state, &h[i].input, o),
            None => reg().step_unknown(&state, &h[i].input),
        };
        match next {
            Some(s) if preceded && !before.contains(&i) => state = s,
            _ => return false,
        }
    }
    true
}

/// Exhaustive search over all orders, for cross-checking on small histories.
fn brute(h: &[Op]) -> bool {
    fn go(h: &[Op], done: &mut [bool], state: i64) -> bool {
        if (0..h.len()).all(|i| done[i] || h[i].output.is_none()) {
            return true;
        }
        for i in 0..h.len() {
            let blocked = (0..h.len())
                .any(|j| !done[j] && j != i && h[j].output.is_some() && h[j].return_us < h[i].call_us);
            if done[i] || blocked {
                continue;
            }
            let next = match &h[i].output {
                Some(o) => reg().step(&state, &h[i].input, o),
                None => reg().step_unknown(&state, &h[i].input),
            };
            if let Some(s) = next {
                done[i] = true;
                let ok = go(h, done, s);
                done[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(h, &mut vec![false; h.len()], reg().init())
}

#[test]
fn porcupine_readme_linearizable() {
    let h = vec![write(100, 0, 100), read(100, 25, 75), read(0, 30, 60)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
}

#[test]
fn porcupine_readme_not_linearizable() {
    let h = vec![write(100, 0, 100), read(100, 25, 75), read(0, 80, 90)];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![0, 1], stuck: vec![2] });
}

#[test]
fn stale_read_after_completed_write() {
    let h = vec![write(1, 0, 10), read(0, 20, 30)];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![0], stuck: vec![1] });
}

#[test]
fn read_of_value_never_written() {
    let h = vec![write(1, 0, 10), read(7, 5, 30)];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert!(!c.linearized.contains(&1));
    assert!(c.stuck.contains(&1));
}

#[test]
fn stuck_is_ascending_indices() {
    // Both reads are impossible; in time order op 1 comes first, but `stuck` is sorted.
    let h = vec![read(5, 10, 20), read(6, 0, 30)];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![], stuck: vec![0, 1] });
}

#[test]
fn initial_value_is_configurable() {
    let h = vec![read(5, 0, 1)];
    assert!(check(&CasRegister { initial: 5 }, &h, DEFAULT_BUDGET).is_linearizable());
    assert!(!check(&reg(), &h, DEFAULT_BUDGET).is_linearizable());
}

#[test]
fn touching_intervals_are_concurrent() {
    // The write returns exactly when the read is called: they may be linearized either way.
    let h = vec![write(1, 0, 10), read(0, 10, 20)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
    let h = vec![write(1, 0, 10), read(0, 11, 20)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn concurrent_cas_both_succeed_is_not_linearizable() {
    let h = vec![cas(0, 1, true, 0, 10), cas(0, 1, true, 5, 15)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn concurrent_cas_one_succeeds_is_linearizable() {
    let h = vec![cas(0, 1, true, 0, 10), cas(0, 1, false, 5, 15)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
    // A failing CAS must have seen a value other than `expect`, and nothing changed the 0 yet.
    let h = vec![cas(0, 1, false, 0, 10), cas(0, 1, true, 20, 30)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn unknown_write_read_later_is_linearizable() {
    let h = vec![Operation::unknown(Write(1), 0), read(1, 100, 110)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
}

#[test]
fn unknown_write_cannot_take_effect_before_its_call() {
    let h = vec![read(1, 0, 10), Operation::unknown(Write(1), 20)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn unknown_write_cannot_unhappen() {
    let h = vec![Operation::unknown(Write(1), 0), read(1, 100, 110), read(0, 120, 130)];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![0, 1], stuck: vec![2] });
}

#[test]
fn unknown_write_never_observed_is_linearizable() {
    let h = vec![Operation::unknown(Write(1), 0), read(0, 100, 110), read(0, 120, 130)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
}

#[test]
fn unknown_op_cannot_undo_a_completed_write() {
    // The unknown CAS(0 -> 0) can only apply while the value is 0, i.e. before the write.
    let h = vec![write(2, 1, 9), Operation::unknown(Cas { expect: 0, new: 0 }, 0), read(0, 10, 10)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
    let h = vec![write(2, 1, 9), Operation::unknown(Cas { expect: 2, new: 0 }, 0), read(0, 10, 10)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
}

#[test]
fn unknown_cas_can_take_effect() {
    let h = vec![write(3, 0, 10), Operation::unknown(Cas { expect: 3, new: 4 }, 20), read(4, 30, 40)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
    let h = vec![write(3, 0, 10), Operation::unknown(Cas { expect: 2, new: 4 }, 20), read(4, 30, 40)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn empty_history_is_linearizable_even_with_zero_budget() {
    assert_eq!(check(&reg(), &[], 0), Verdict::Linearizable);
    assert_eq!(check_by(&reg(), &[], |_| 0, 0), Verdict::Linearizable);
}

#[test]
fn mismatched_output_is_rejected() {
    let h = vec![Operation::new(Read, RegisterOut::Written, 0, 1)];
    assert!(matches!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
}

#[test]
fn return_before_call_is_read_as_call() {
    // Nonsense times must not panic; the write is treated as [50, 50].
    let h = vec![write(1, 50, 10), read(1, 50, 60)];
    assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
}

/// A key-value store of independent registers.
struct Kv;

impl Model for Kv {
    type State = std::collections::BTreeMap<char, i64>;
    type Input = (char, RegisterOp);
    type Output = RegisterOut;

    fn init(&self) -> Self::State {
        Default::default()
    }

    fn step(&self, state: &Self::State, input: &Self::Input, output: &RegisterOut) -> Option<Self::State> {
        let cur = state.get(&input.0).copied().unwrap_or(0);
        let next = reg().step(&cur, &input.1, output)?;
        let mut s = state.clone();
        s.insert(input.0, next);
        Some(s)
    }

    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Option<Self::State> {
        let cur = state.get(&input.0).copied().unwrap_or(0);
        let next = reg().step_unknown(&cur, &input.1)?;
        let mut s = state.clone();
        s.insert(input.0, next);
        Some(s)
    }
}

fn keyed(k: char, op: Op) -> Operation<(char, RegisterOp), RegisterOut> {
    Operation { input: (k, op.input), output: op.output, call_us: op.call_us, return_us: op.return_us }
}

#[test]
fn check_by_reports_the_bad_part_with_original_indices() {
    let h = vec![
        keyed('a', write(1, 0, 10)),
        keyed('b', write(2, 1, 11)),
        keyed('a', read(1, 20, 30)),
        keyed('b', read(0, 21, 31)), // stale
        keyed('a', read(1, 40, 50)),
    ];
    let c = not_lin(check_by(&Kv, &h, |i| i.0, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![1], stuck: vec![3] });
    // The whole-history check agrees on the verdict.
    assert!(matches!(check(&Kv, &h, DEFAULT_BUDGET), Verdict::NotLinearizable(_)));
    // Only key 'a' is fine.
    let a: Vec<_> = h.iter().filter(|o| o.input.0 == 'a').cloned().collect();
    assert_eq!(check_by(&Kv, &a, |i| i.0, DEFAULT_BUDGET), Verdict::Linearizable);
}

#[test]
fn check_by_reports_first_bad_key_in_key_order() {
    let h = vec![keyed('z', read(9, 0, 1)), keyed('m', read(8, 0, 1)), keyed('a', read(0, 0, 1))];
    let c = not_lin(check_by(&Kv, &h, |i| i.0, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![], stuck: vec![1] });
}

#[test]
fn check_by_prefers_a_failure_over_unknown() {
    // Part 'a' needs more than one step, part 'b' fails at its first step.
    let h = vec![keyed('a', write(1, 0, 10)), keyed('a', read(1, 20, 30)), keyed('b', read(5, 0, 1))];
    assert!(matches!(check_by(&Kv, &h, |i| i.0, 1), Verdict::NotLinearizable(_)));
    assert_eq!(check_by(&Kv, &h[..2], |i| i.0, 1), Verdict::Unknown);
}

#[test]
fn many_unknown_writes_are_pruned() {
    // 12 open unknown writes. Memoising exact (set, state) pairs takes ~25M steps to refute the
    // history with 10 of them; pruning configurations that applied a superset of the unknown-outcome
    // operations of one already seen takes ~12k (and ~56k with 12).
    let mut h: Vec<Op> = (0..12).map(|v| Operation::unknown(Write(v), v as u64)).collect();
    h.push(read(5, 100, 110));
    h.push(read(3, 120, 130));
    h.push(read(3, 140, 150));
    assert_eq!(check(&reg(), &h, 100_000), Verdict::Linearizable);
    h.push(read(-1, 160, 170));
    let c = not_lin(check(&reg(), &h, 100_000));
    assert!(valid_prefix(&h, &c.linearized));
    let known: Vec<usize> = c.linearized.iter().copied().filter(|&i| i >= 12).collect();
    assert_eq!(known, vec![12, 13, 14]);
    assert!(c.stuck.contains(&15));
}

#[test]
fn counterexample_prefix_is_a_legal_run() {
    let h = vec![
        write(1, 0, 10),
        cas(1, 2, true, 5, 20),
        read(2, 25, 30),
        cas(1, 3, true, 26, 40), // fails: the value is 2 from 20 on
        read(3, 45, 50),
    ];
    let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
    assert_eq!(c, Counterexample { linearized: vec![0, 1, 2], stuck: vec![3] });
    assert!(valid_prefix(&h, &c.linearized));
}

// ---- generated histories ----

/// One generated operation: (kind, value, expect, lead, lag, outcome).
type Spec = (u8, i64, i64, u64, u64, u8);

fn spec() -> impl Strategy<Value = Spec> {
    (0u8..3, 0i64..4, 0i64..4, 0u64..30, 0u64..30, 0u8..32)
}

/// A history from a sequential run: operation `i` takes effect at `100 + 10 * i`, inside
/// `[point - lead, point + lag]`. Outcome 0: unknown and applied; 1: unknown and never applied.
fn build(specs: &[Spec]) -> Vec<Op> {
    let model = reg();
    let mut state = model.init();
    let mut out = Vec::new();
    for (i, &(kind, v, e, lead, lag, outcome)) in specs.iter().enumerate() {
        let point = 100 + 10 * i as u64;
        let (input, output) = match kind {
            0 => (Read, RegisterOut::Read(state)),
            1 => (Write(v), RegisterOut::Written),
            _ => (Cas { expect: e, new: v }, RegisterOut::Cas(e == state)),
        };
        let applied = outcome != 1;
        if applied {
            state = model.step(&state, &input, &output).expect("generated output is legal");
        }
        let call = point - lead;
        out.push(match outcome {
            0 | 1 => Operation::unknown(input, call),
            _ => Operation::new(input, output, call, point + lag),
        });
    }
    out
}

proptest! {
    // Small histories, many cases: subtle pruning bugs only show on rare interleavings.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn agrees_with_exhaustive_search(
        ops in prop::collection::vec(
            (0u8..3, 0i64..2, 0i64..2, any::<bool>(), 0u64..12, 0u64..8, 0u8..3),
            0..10,
        ),
    ) {
        let h: Vec<Op> = ops
            .iter()
            .map(|&(kind, v, e, ok, call, len, outcome)| {
                let (input, output) = match kind {
                    0 => (Read, RegisterOut::Read(v)),
                    1 => (Write(v), RegisterOut::Written),
                    _ => (Cas { expect: e, new: v }, RegisterOut::Cas(ok)),
                };
                if outcome == 0 {
                    Operation::unknown(input, call)
                } else {
                    Operation::new(input, output, call, call + len)
                }
            })
            .collect();
        match check(&reg(), &h, DEFAULT_BUDGET) {
            Verdict::Linearizable => prop_assert!(brute(&h)),
            Verdict::NotLinearizable(c) => {
                prop_assert!(!brute(&h));
                prop_assert!(valid_prefix(&h, &c.linearized));
                prop_assert!(!c.stuck.is_empty());
            }
            Verdict::Unknown => prop_assert!(false, "budget ran out on {} ops", h.len()),
        }
    }
}

proptest! {
    #[test]
    fn sequential_runs_are_linearizable(specs in prop::collection::vec(spec(), 0..80)) {
        let h = build(&specs);
        prop_assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable);
    }

    #[test]
    fn a_read_of_an_unwritten_value_is_caught(
        specs in prop::collection::vec(spec(), 1..80),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut h = build(&specs);
        let reads: Vec<usize> = (0..h.len()).filter(|&i| h[i].input == Read && h[i].output.is_some()).collect();
        prop_assume!(!reads.is_empty());
        let bad = reads[pick.index(reads.len())];
        h[bad].output = Some(RegisterOut::Read(-1));
        let c = match check(&reg(), &h, DEFAULT_BUDGET) {
            Verdict::NotLinearizable(c) => c,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert!(!c.linearized.contains(&bad));
        prop_assert!(valid_prefix(&h, &c.linearized));
        prop_assert!(!c.stuck.is_empty());
        let mut all: Vec<usize> = c.linearized.iter().chain(&c.stuck).copied().collect();
        all.sort_unstable();
        all.dedup();
        prop_assert_eq!(all.len(), c.linearized.len() + c.stuck.len());
        prop_assert!(all.iter().all(|&i| i < h.len()));
    }

    #[test]
    fn tiny_budget_gives_unknown(specs in prop::collection::vec(spec(), 2..40), budget in 0u64..2) {
        let h = build(&specs);
        prop_assume!(h.iter().filter(|o| o.output.is_some()).count() >= 2);
        prop_assert_eq!(check(&reg(), &h, budget), Verdict::Unknown);
    }

    #[test]
    fn check_by_ignores_history_order(
        specs in prop::collection::vec((0u8..3, spec()), 0..60),
        corrupt in any::<Option<prop::sample::Index>>(),
        perm in any::<u64>(),
    ) {
        // Three interleaved keys, each a sequential run of its own.
        let mut per_key: [Vec<Spec>; 3] = Default::default();
        for &(k, s) in &specs {
            per_key[k as usize].push(s);
        }
        let mut h: Vec<Operation<(char, RegisterOp), RegisterOut>> = Vec::new();
        for (k, specs) in per_key.iter().enumerate() {
            let name = (b'a' + k as u8) as char;
            h.extend(build(specs).into_iter().map(|o| keyed(name, o)));
        }
        if let (Some(ix), false) = (corrupt, h.is_empty()) {
            let i = ix.index(h.len());
            if h[i].output.is_some() {
                h[i].output = Some(match h[i].output {
                    Some(RegisterOut::Read(_)) => RegisterOut::Read(-1),
                    _ => RegisterOut::Read(0), // a kind mismatch: never legal
                });
            }
        }
        let before = check_by(&Kv, &h, |i| i.0, DEFAULT_BUDGET);
        prop_assert!(before != Verdict::Unknown);
        // A deterministic shuffle seeded by the strategy.
        let mut s = perm | 1;
        let mut shuffled = h.clone();
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let after = check_by(&Kv, &shuffled, |i| i.0, DEFAULT_BUDGET);
        prop_assert_eq!(before.is_linearizable(), after.is_linearizable());
        prop_assert!(after != Verdict::Unknown);
        // Same input, same answer, counterexample included.
        prop_assert_eq!(check_by(&Kv, &shuffled, |i| i.0, DEFAULT_BUDGET), after);
    }
}

/// A deterministic history of `n` operations on one register, each concurrent with about `width`
/// others, from a sequential run.
fn wide_history(n: usize, width: u64, seed: u64) -> Vec<Op> {
    let mut s = seed | 1;
    let mut rnd = move |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    };
    let mut state = 0;
    let mut h = Vec::new();
    for i in 0..n {
        let point = 1000 + 10 * i as u64;
        let (input, output) = match rnd(3) {
            0 => (Read, RegisterOut::Read(state)),
            1 => (Write(rnd(4) as i64), RegisterOut::Written),
            _ => {
                let (e, v) = (rnd(4) as i64, rnd(4) as i64);
                (Cas { expect: e, new: v }, RegisterOut::Cas(e == state))
            }
        };
        state = reg().step(&state, &input, &output).expect("legal");
        // Intervals of length 10 * width around the point: about `width` overlap at any time.
        let half = 5 * width;
        h.push(Operation::new(input, output, point - half + rnd(5), point + half - rnd(5)));
    }
    h
}

#[test]
fn two_hundred_ops_eight_way_concurrency() {
    for seed in 1..=5 {
        let h = wide_history(200, 8, seed);
        assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), Verdict::Linearizable, "seed {seed}");
    }
}

#[test]
fn two_hundred_ops_eight_way_concurrency_with_a_bad_read() {
    for seed in 1..=5 {
        let mut h = wide_history(200, 8, seed);
        let bad = (150..200).find(|&i| h[i].input == Read).expect("some read");
        h[bad].output = Some(RegisterOut::Read(-1));
        let c = not_lin(check(&reg(), &h, DEFAULT_BUDGET));
        assert!(!c.linearized.contains(&bad));
        assert!(c.linearized.len() >= 100, "seed {seed}: {}", c.linearized.len());
    }
}

#[test]
fn deterministic_counterexample() {
    let mut h = wide_history(60, 6, 42);
    let bad = (30..60).find(|&i| h[i].input == Read).expect("some read");
    h[bad].output = Some(RegisterOut::Read(-1));
    let first = check(&reg(), &h, DEFAULT_BUDGET);
    assert!(matches!(first, Verdict::NotLinearizable(_)));
    for _ in 0..3 {
        assert_eq!(check(&reg(), &h, DEFAULT_BUDGET), first);
    }
}
