//! Linearizability checking of concurrent histories against a sequential specification.
//!
//! A history is a set of [`Operation`]s, each with the time a client called it and the time it saw
//! the outcome. It is linearizable if every operation can be given a single instant inside its own
//! interval such that, taken in that order, the operations are a legal run of the [`Model`].
//!
//! The checker is Wing & Gong's backtracking search with Lowe's memoisation of
//! (set of linearized operations, model state) pairs, in the doubly-linked event-list form used by
//! Porcupine (Lowe, "Testing for Linearizability"; Horn & Kroening, "Faster linearizability checking
//! via P-compositionality"). [`check_by`] splits a history into independent parts (for instance one
//! per key of a key-value store) and checks each on its own, which is usually far cheaper.
//!
//! Operations whose outcome the client never learned (`output: None`) stay open forever: they may
//! take effect at any time after their call, or never. Two refinements keep them affordable:
//! candidates with a known outcome are tried first, and a configuration is pruned when one with the
//! same known-outcome operations and state, but a subset of its unknown-outcome ones, was seen.
//! Cost still grows exponentially with the number of unknown-outcome operations open at once.
//!
//! The search is exponential in the worst case, so it takes a budget of search steps and answers
//! [`Verdict::Unknown`] when it runs out. Results are deterministic: the same input always gives the
//! same verdict and the same counterexample.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A budget of search steps that suffices for a few hundred register operations per part with
/// 8-way concurrency (a linearizable one takes about one step per operation; refuting one with a bad
/// read near the end of 200 operations takes about 130,000).
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// A sequential specification: what one operation does to the state, and what it may return.
pub trait Model {
    /// The state of the specified object.
    type State: Clone + Eq + Hash;
    /// What a client asks for.
    type Input;
    /// What a client is told.
    type Output;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `input` answered `output` in `state`, or `None` if the spec does not allow
    /// that output there.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;
    /// The state after `input` took effect in `state` with an output nobody saw. Return `None` if it
    /// cannot take effect there, or if taking effect would not change the state (a read, a failing
    /// compare-and-set): the search then does not try it there, which is sound since it is optional.
    /// (Its effect must not depend on the unseen output.)
    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Option<Self::State>;
}

/// One operation of a concurrent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// What the client asked for.
    pub input: I,
    /// `None`: the outcome is unknown (a timeout, a broken connection): it may have taken effect at
    /// any time after `call_us`, or never.
    pub output: Option<O>,
    /// When the client made the call.
    pub call_us: u64,
    /// When the client saw the outcome (ignored for unknown outcomes: they stay open forever; a value
    /// below `call_us` is read as `call_us`).
    pub return_us: u64,
}

impl<I, O> Operation<I, O> {
    /// An operation that answered `output`.
    pub fn new(input: I, output: O, call_us: u64, return_us: u64) -> Self {
        Operation { input, output: Some(output), call_us, return_us }
    }

    /// An operation whose outcome the client never learned.
    pub fn unknown(input: I, call_us: u64) -> Self {
        Operation { input, output: None, call_us, return_us: u64::MAX }
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations is a legal sequential run.
    Linearizable,
    /// No order is; the counterexample shows how far the search got.
    NotLinearizable(Counterexample),
    /// The search budget ran out before an answer was found.
    Unknown,
}

impl Verdict {
    /// Whether the verdict is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Where the search for a linearization got stuck. Indices are into the checked history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counterexample {
    /// A legal order, respecting real time, of operations that could come first: of those found,
    /// the one with the most known-outcome operations (it may include unknown-outcome ones).
    pub linearized: Vec<usize>,
    /// The operations that could have come next after `linearized`, none of which led anywhere
    /// (ascending).
    pub stuck: Vec<usize>,
}

/// Checks `history` against `model` with a budget of `budget` search steps (model transitions
/// tried), e.g. [`DEFAULT_BUDGET`].
pub fn check<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>], budget: u64) -> Verdict {
    let all: Vec<usize> = (0..history.len()).collect();
    search(model, history, &all, budget)
}

/// Like [`check`], but split into independent parts by `key` (P-compositionality: e.g. one part per
/// key of a key-value store). Linearizable iff every part is; `budget` applies to each part. Parts are
/// checked in the order of their keys and the first failing one is reported, with indices into
/// `history`; if none fails but one ran out of budget the verdict is [`Verdict::Unknown`].
pub fn check_by<M: Model, K: Ord>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key: impl Fn(&M::Input) -> K,
    budget: u64,
) -> Verdict {
    let mut parts: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        parts.entry(key(&op.input)).or_default().push(i);
    }
    let mut unknown = false;
    for part in parts.values() {
        match search(model, history, part, budget) {
            Verdict::Linearizable => {}
            Verdict::Unknown => unknown = true,
            failed => return failed,
        }
    }
    if unknown { Verdict::Unknown } else { Verdict::Linearizable }
}

/// End of list.
const NIL: usize = usize::MAX;
/// The list's sentinel head node.
const HEAD: usize = 0;

/// The call and return events of a part, in time order, as a doubly linked list whose nodes can
/// be taken out and put back in reverse order (Knuth's dancing links).
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The position in the part of each node's operation.
    op: Vec<usize>,
    /// For a call node, its return node (`NIL` if the outcome is unknown); `NIL` for return nodes.
    ret: Vec<usize>,
    is_call: Vec<bool>,
}

impl Events {
    fn new<I, O>(history: &[Operation<I, O>], part: &[usize]) -> Self {
        // (time, 0 = call / 1 = return, position): calls sort before returns at the same time, so
        // an operation returning when another is called does not precede it.
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * part.len());
        for (pos, &i) in part.iter().enumerate() {
            let op = &history[i];
            events.push((op.call_us, 0, pos));
            if op.output.is_some() {
                events.push((op.return_us.max(op.call_us), 1, pos));
            }
        }
        events.sort_unstable();
        let len = events.len() + 1;
        let mut ev = Events {
            next: (1..=len).map(|n| if n == len { NIL } else { n }).collect(),
            prev: (0..len).map(|n| n.wrapping_sub(1)).collect(),
            op: vec![NIL; len],
            ret: vec![NIL; len],
            is_call: vec![false; len],
        };
        let mut call_node = vec![NIL; part.len()];
        for (k, &(_, kind, pos)) in events.iter().enumerate() {
            let node = k + 1;
            ev.op[node] = pos;
            if kind == 0 {
                ev.is_call[node] = true;
                call_node[pos] = node;
            } else {
                ev.ret[call_node[pos]] = node;
            }
        }
        ev
    }

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = x;
        if x != NIL {
            self.prev[x] = p;
        }
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = n;
        if x != NIL {
            self.prev[x] = n;
        }
    }

    /// Takes a call node and its return node out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if self.ret[call] != NIL {
            self.unlink(self.ret[call]);
        }
    }

    /// Undoes the matching [`Events::lift`].
    fn unlift(&mut self, call: usize) {
        if self.ret[call] != NIL {
            self.relink(self.ret[call]);
        }
        self.relink(call);
    }

    /// Positions of the operations that may come next: the calls before the first return.
    fn candidates(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut n = self.next[HEAD];
        while n != NIL && self.is_call[n] {
            out.push(self.op[n]);
            n = self.next[n];
        }
        out
    }
}

/// A set of positions in a part, one bit each.
type Bits = Vec<u64>;

/// Toggles bit `pos` of a bitset.
fn flip(bits: &mut [u64], pos: usize) {
    bits[pos / 64] ^= 1 << (pos % 64);
}

/// Whether bitset `a` is a subset of bitset `b` (of the same length).
fn subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// Checks the operations `part` (indices into `history`) on their own.
///
/// Known-outcome candidates are tried before unknown-outcome ones, and a configuration (known
/// operations linearized, state, unknown-outcome operations linearized) is pruned if one with the
/// same known set and state but a subset of its unknown-outcome operations was seen: unknown-outcome
/// operations are optional and never constrain others, so having applied fewer of them leaves at
/// least as many ways to go on.
fn search<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    part: &[usize],
    budget: u64,
) -> Verdict {
    let mut events = Events::new(history, part);
    let is_known = |pos: usize| history[part[pos]].output.is_some();
    let known_total = (0..part.len()).filter(|&p| is_known(p)).count();
    let any_unknown = known_total < part.len();
    let mut known_left = known_total;
    let mut known = vec![0u64; part.len().div_ceil(64)];
    let mut open = vec![0u64; if any_unknown { known.len() } else { 0 }];
    // For each (known set, state) seen, the minimal unknown-outcome sets it was seen with.
    let mut seen: HashMap<(Bits, M::State), Vec<Bits>> = HashMap::new();
    // The linearized call nodes, each with the state before it.
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut steps = 0u64;
    // The counterexample with the most known-outcome operations linearized, and that number.
    let mut best: Option<(usize, Counterexample)> = None;
    // Scanning for known-outcome candidates (false) or unknown-outcome ones (true).
    let mut unknown_phase = false;
    let mut node = events.next[HEAD];
    loop {
        if known_left == 0 {
            // Whatever unknown-outcome operations remain may never have taken effect.
            return Verdict::Linearizable;
        }
        if node != NIL && events.is_call[node] {
            let pos = events.op[node];
            if is_known(pos) == unknown_phase {
                node = events.next[node];
                continue;
            }
            if steps >= budget {
                return Verdict::Unknown;
            }
            steps += 1;
            let op = &history[part[pos]];
            let after = match &op.output {
                Some(output) => model.step(&state, &op.input, output),
                None => model.step_unknown(&state, &op.input),
            };
            if let Some(after) = after {
                flip(if unknown_phase { &mut open } else { &mut known }, pos);
                let subsets = seen.entry((known.clone(), after.clone())).or_default();
                if !subsets.iter().any(|s| subset(s, &open)) {
                    subsets.retain(|s| !subset(&open, s));
                    subsets.push(open.clone());
                    stack.push((node, std::mem::replace(&mut state, after)));
                    events.lift(node);
                    known_left -= usize::from(!unknown_phase);
                    unknown_phase = false;
                    node = events.next[HEAD];
                    continue;
                }
                flip(if unknown_phase { &mut open } else { &mut known }, pos);
            }
            node = events.next[node];
        } else if !unknown_phase && any_unknown {
            unknown_phase = true;
            node = events.next[HEAD];
        } else {
            // A return: that operation must come before anything later, and no candidate worked.
            let depth = known_total - known_left;
            if best.as_ref().is_none_or(|(d, _)| depth > *d) {
                let mut stuck: Vec<usize> = events.candidates().into_iter().map(|p| part[p]).collect();
                stuck.sort_unstable();
                let linearized = stack.iter().map(|&(n, _)| part[events.op[n]]).collect();
                best = Some((depth, Counterexample { linearized, stuck }));
            }
            let Some((call, before)) = stack.pop() else {
                return Verdict::NotLinearizable(best.map(|(_, c)| c).unwrap_or_default());
            };
            let pos = events.op[call];
            unknown_phase = !is_known(pos);
            flip(if unknown_phase { &mut open } else { &mut known }, pos);
            known_left += usize::from(!unknown_phase);
            state = before;
            events.unlift(call);
            node = events.next[call];
        }
    }
}

/// An operation on a [`CasRegister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// Read the value.
    Read,
    /// Set the value.
    Write(i64),
    /// Set the value to `new` if it is `expect`.
    Cas {
        /// The value required for the swap.
        expect: i64,
        /// The value swapped in.
        new: i64,
    },
}

/// The answer to a [`RegisterOp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOut {
    /// The value read.
    Read(i64),
    /// A write finished.
    Written,
    /// Whether a compare-and-set swapped.
    Cas(bool),
}

/// A register holding an `i64` with read, write and compare-and-set; it starts at `initial`
/// (0 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CasRegister {
    /// The value before any write.
    pub initial: i64,
}

impl Model for CasRegister {
    type State = i64;
    type Input = RegisterOp;
    type Output = RegisterOut;

    fn init(&self) -> i64 {
        self.initial
    }

    fn step(&self, state: &i64, input: &RegisterOp, output: &RegisterOut) -> Option<i64> {
        match (*input, *output) {
            (RegisterOp::Read, RegisterOut::Read(v)) => (v == *state).then_some(*state),
            (RegisterOp::Write(v), RegisterOut::Written) => Some(v),
            (RegisterOp::Cas { expect, new }, RegisterOut::Cas(swapped)) => {
                (swapped == (expect == *state)).then_some(if swapped { new } else { *state })
            }
            _ => None,
        }
    }

    fn step_unknown(&self, state: &i64, input: &RegisterOp) -> Option<i64> {
        match *input {
            RegisterOp::Read => None,
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { expect, new } => (expect == *state).then_some(new),
        }
    }
}
