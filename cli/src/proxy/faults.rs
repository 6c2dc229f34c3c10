//! The faults of a running proxy: a list with ids, each window counted from when the proxy got
//! the fault (its start for `--file`, the request that added it otherwise), and the plan that
//! the list makes, sent to every connection when it changes.

use std::sync::Arc;

use faultline_proxy::{Clock, Plan};
use faultline_sim::fault::{Fault, Injector, TimedFault};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A fault as a request adds it: a scenario file's `[[faults]]` entry, whose window defaults
/// to "from now on".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFault {
    /// Milliseconds from when it is added until it starts.
    #[serde(default)]
    pub at_ms: u64,
    /// How long it lasts; forever when left out (or `null`).
    #[serde(default)]
    pub for_ms: Option<u64>,
    #[serde(flatten)]
    pub fault: Fault,
}

/// One fault of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: usize,
    /// When its window opens and closes, in milliseconds since the proxy started (`null`:
    /// never closes).
    pub from_ms: u64,
    pub until_ms: Option<u64>,
    #[serde(flatten)]
    pub fault: NewFault,
    #[serde(skip)]
    timed: TimedFault,
    #[serde(skip)]
    added_us: u64,
}

/// Why a fault cannot join the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("`{0}` is not a proxy fault (the proxy applies {kinds})", kinds = Fault::names_of(Injector::Proxy).join(", "))]
    NotProxy(&'static str),
    #[error("a `{0}` fault is already planned (id {1}); delete it first: one fault per kind")]
    Duplicate(&'static str, usize),
    #[error("{0}")]
    Invalid(&'static str),
}

/// The list and the sender of its plan.
#[derive(Debug)]
pub struct Faults {
    entries: Vec<Entry>,
    next_id: usize,
    clock: Clock,
    plans: watch::Sender<Arc<Plan>>,
}

impl Faults {
    pub fn new(clock: Clock, plans: watch::Sender<Arc<Plan>>) -> Self {
        Self { entries: Vec::new(), next_id: 0, clock, plans }
    }

    /// Adds a fault whose window counts from now; returns its id.
    pub fn add(&mut self, new: NewFault) -> Result<usize, Rejected> {
        let name = new.fault.name();
        if let Some(reason) = new.fault.invalid() {
            return Err(Rejected::Invalid(reason));
        }
        if new.fault.injector() != Injector::Proxy {
            return Err(Rejected::NotProxy(name));
        }
        if let Some(other) = self.entries.iter().find(|e| e.fault.fault.name() == name) {
            return Err(Rejected::Duplicate(name, other.id));
        }
        let added_us = self.clock.now_us();
        let for_ms = new.for_ms.unwrap_or(u64::MAX);
        let from_us = added_us.saturating_add(new.at_ms.saturating_mul(1000));
        let until_us = from_us.saturating_add(for_ms.saturating_mul(1000));
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            from_ms: from_us / 1000,
            until_ms: (until_us < u64::MAX).then_some(until_us / 1000),
            timed: TimedFault::new(new.at_ms, for_ms, new.fault.clone()),
            fault: new,
            added_us,
        });
        self.publish();
        Ok(id)
    }

    /// Removes a fault; false when there is none with that id.
    pub fn remove(&mut self, id: usize) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.id != id);
        let removed = self.entries.len() < before;
        if removed {
            self.publish();
        }
        removed
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.publish();
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Sends the plan of the list to every connection.
    fn publish(&self) {
        let plan = Plan::starting(self.entries.iter().map(|e| (e.id, &e.timed, e.added_us)));
        self.plans.send_replace(Arc::new(plan));
    }
}

#[cfg(test)]
mod tests {
    use faultline_proxy::{Mode, Relay};

    use super::*;

    fn faults() -> Faults {
        let (relay, plans) = Relay::new(Plan::default(), Mode::Live(tokio::time::Instant::now()));
        Faults::new(relay.clock(), plans)
    }

    fn new(fault: Fault) -> NewFault {
        NewFault { at_ms: 0, for_ms: None, fault }
    }

    #[test]
    fn one_fault_per_kind_proxy_faults_only_and_ids_are_never_reused() {
        let mut list = faults();
        assert_eq!(list.add(new(Fault::GoAway { after_frames: 3 })), Ok(0));
        assert_eq!(list.add(new(Fault::GoAway { after_frames: 9 })), Err(Rejected::Duplicate("goaway", 0)));
        assert_eq!(list.add(new(Fault::Hold)), Err(Rejected::NotProxy("hold")));
        assert_eq!(list.add(new(Fault::RstStream { after_messages: 2, every: 1 })), Ok(1));
        assert!(list.remove(0));
        assert!(!list.remove(0));
        assert_eq!(list.add(new(Fault::GoAway { after_frames: 9 })), Ok(2));
        let ids: Vec<usize> = list.entries().iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(list.entries()[0].until_ms, None, "no for_ms: forever");
    }

    #[test]
    fn a_request_body_is_a_scenario_fault_entry_with_an_optional_window() {
        let body = r#"{"kind": "rst-stream", "after_messages": 3, "every": 1}"#;
        let parsed: NewFault = serde_json::from_str(body).unwrap();
        assert_eq!(parsed, new(Fault::RstStream { after_messages: 3, every: 1 }));
        let windowed: NewFault =
            serde_json::from_str(r#"{"kind": "goaway", "after_frames": 5, "at_ms": 10, "for_ms": 20}"#)
                .unwrap();
        assert_eq!((windowed.at_ms, windowed.for_ms), (10, Some(20)));
        assert!(serde_json::from_str::<NewFault>(r#"{"kind": "goaway"}"#).is_err());
    }
}
