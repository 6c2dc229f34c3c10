//! The faults of one proxy, as its connections look them up: one slot per kind, parameters
//! normalised once, each with its window from the schedule.

use std::time::Duration;

use faultline_model::fault::{Fault, TimedFault};

/// One fault of the plan: its parameters, which scheduled fault it is, and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot<T> {
    pub(super) value: T,
    /// Its index in the scenario's faults (named in every event it causes).
    pub(super) index: usize,
    /// Its kind's name ([`Fault::name`]), as its events report it.
    pub(super) name: &'static str,
    start_us: u64,
    heal_us: u64,
}

impl<T: Copy> Slot<T> {
    fn new(value: T, index: usize, timed: &TimedFault, from_us: u64) -> Self {
        let start_us = from_us.saturating_add(timed.at_ms.saturating_mul(1000));
        let heal_us = start_us.saturating_add(timed.for_ms.saturating_mul(1000));
        Self { value, index, name: timed.fault.name(), start_us, heal_us }
    }

    /// The slot, if its window is open at `now_us`.
    pub(super) fn now(this: Option<&Self>, now_us: u64) -> Option<Self> {
        this.filter(|s| (s.start_us..s.heal_us).contains(&now_us)).copied()
    }
}

/// The faults of a proxy as its connections look them up: one slot per kind (the first
/// fault of each kind wins), each with its window. Non-proxy faults are ignored.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (after_messages, every >= 1)
    pub(super) rst_stream: Option<Slot<(u32, u32)>>,
    pub(super) go_away: Option<Slot<u32>>,
    pub(super) connection_reset: Option<Slot<u64>>,
    /// (window, max delay); only when the window can reorder anything.
    pub(super) frame_reorder: Option<Slot<(usize, Duration)>>,
    pub(super) frame_delay: Option<Slot<u64>>,
}

impl Plan {
    /// The plan of `faults`, by their indices, with windows counted from the clock's zero.
    pub fn new(faults: &[(usize, TimedFault)]) -> Self {
        Self::starting(faults.iter().map(|(index, timed)| (*index, timed, 0)))
    }

    /// The plan of `(index, fault, from_us)`: each fault's window counted from `from_us` on
    /// the clock (a fault added while the proxy runs counts from then).
    pub fn starting<'a>(faults: impl IntoIterator<Item = (usize, &'a TimedFault, u64)>) -> Self {
        let mut plan = Self::default();
        for (index, timed, from_us) in faults {
            match timed.fault {
                Fault::RstStream { after_messages, every } => {
                    let value = (after_messages, every.max(1));
                    plan.rst_stream.get_or_insert(Slot::new(value, index, timed, from_us));
                }
                Fault::GoAway { after_frames } => {
                    plan.go_away.get_or_insert(Slot::new(after_frames.max(1), index, timed, from_us));
                }
                Fault::ConnectionReset { after_bytes } => {
                    plan.connection_reset.get_or_insert(Slot::new(after_bytes, index, timed, from_us));
                }
                Fault::FrameReorder { window, max_delay_ms } => {
                    let window = usize::try_from(window).unwrap_or(usize::MAX);
                    if window >= 2 {
                        let value = (window, Duration::from_millis(max_delay_ms));
                        plan.frame_reorder.get_or_insert(Slot::new(value, index, timed, from_us));
                    }
                }
                Fault::FrameDelay { max_delay_ms } => {
                    plan.frame_delay.get_or_insert(Slot::new(max_delay_ms, index, timed, from_us));
                }
                _ => {}
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(fault: Fault) -> TimedFault {
        TimedFault::new(10, 20, fault)
    }

    #[test]
    fn parameters_are_normalised_and_the_first_fault_of_a_kind_wins() {
        let faults: Vec<(usize, TimedFault)> = [
            Fault::RstStream { after_messages: 3, every: 0 },
            Fault::RstStream { after_messages: 9, every: 9 },
            Fault::FrameReorder { window: 4, max_delay_ms: 5 },
            Fault::Hold,
        ]
        .into_iter()
        .map(timed)
        .enumerate()
        .collect();
        let plan = Plan::new(&faults);
        let rst = plan.rst_stream.unwrap();
        assert_eq!((rst.value, rst.index), ((3, 1), 0));
        assert_eq!(plan.frame_reorder.unwrap().value, (4, Duration::from_millis(5)));
        assert_eq!((rst.start_us, rst.heal_us), (10_000, 30_000));
        let tiny = [(0, timed(Fault::FrameReorder { window: 1, max_delay_ms: 5 }))];
        assert_eq!(Plan::new(&tiny).frame_reorder, None);
    }

    #[test]
    fn a_window_counts_from_when_its_fault_was_added_and_saturates() {
        let forever = TimedFault::new(5, u64::MAX, Fault::GoAway { after_frames: 2 });
        let plan = Plan::starting([(7, &forever, 1_000_000)]);
        let slot = plan.go_away.unwrap();
        assert_eq!((slot.index, slot.start_us, slot.heal_us), (7, 1_005_000, u64::MAX));
        assert_eq!(Slot::now(Some(&slot), 1_004_999), None);
        assert_eq!(Slot::now(Some(&slot), 1_005_000), Some(slot));
    }
}
