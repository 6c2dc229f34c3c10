//! The injector of network and host faults: between simulation steps it applies each start and
//! heal of the schedule to turmoil's links and hosts, and reports what it did. A fault counts as
//! having acted only when traffic met it: messages it held, writes on links it cut or slowed or
//! lost messages on, writes aimed at the host it crashed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::fault::{Action, Fault, Injector, Schedule};
use crate::net::{Snapshot, Traffic};
use crate::trace::{EventKind, FaultEvent, HostState, Phase, Scope, Trace};

/// The host name network fault events are recorded under.
pub const HOST: &str = "sim";

/// Applies the network and host faults of a schedule to a simulation.
#[derive(Debug)]
pub struct NetworkInjector {
    actions: Vec<Action>,
    next: usize,
    clients: Vec<String>,
    /// The host clients dial (the server, or the proxy in front of it).
    target: String,
    /// The server host (what a crash crashes).
    server: String,
    /// Links' latency range before faults.
    base_latency: (Duration, Duration),
    traffic: Traffic,
    trace: Trace,
    /// Traffic at each open fault's start, by fault index, and the connections it cut then.
    at_start: BTreeMap<usize, (Snapshot, u64)>,
    /// The link faults on now, by index: when one heals, the others still hold (turmoil's
    /// links have one state, so a heal would otherwise end overlapping faults too).
    active: BTreeMap<usize, Fault>,
}

impl NetworkInjector {
    /// The injector of `schedule`'s network faults between `clients` and `target`.
    pub fn new(
        schedule: &Schedule,
        clients: Vec<String>,
        target: &str,
        server: &str,
        base_latency: (Duration, Duration),
        traffic: &Traffic,
        trace: &Trace,
    ) -> Self {
        let actions = schedule
            .actions()
            .iter()
            .filter(|a| a.fault.fault.injector() == Injector::Network)
            .cloned()
            .collect();
        Self {
            actions,
            next: 0,
            clients,
            target: target.to_owned(),
            server: server.to_owned(),
            base_latency,
            traffic: traffic.clone(),
            trace: trace.clone(),
            at_start: BTreeMap::new(),
            active: BTreeMap::new(),
        }
    }

    /// When the next start or heal is due, if any is left.
    pub fn next_due_us(&self) -> Option<u64> {
        self.actions.get(self.next).map(|a| a.at_us)
    }

    /// Applies every start and heal due by `now_us`.
    pub fn apply_due(&mut self, sim: &mut turmoil::Sim<'_>, now_us: u64) {
        while let Some(action) = self.actions.get(self.next).filter(|a| a.at_us <= now_us).cloned() {
            self.next += 1;
            if action.start {
                self.start(sim, &action);
            } else {
                self.heal(sim, &action);
            }
        }
    }

    fn scope(fault: &Fault) -> Scope {
        match fault {
            Fault::CrashBounce => Scope::Server,
            _ => Scope::ClientLinks,
        }
    }

    fn record(&self, action: &Action, phase: Phase, touched: u64, detail: String) {
        let (index, fault) = (action.index, &action.fault.fault);
        self.record_as(index, fault, phase, Self::scope(fault), touched, detail);
    }

    /// An act of the fault on the traffic of `scope`.
    fn record_on(&self, action: &Action, scope: Scope, touched: u64, detail: String) {
        self.record_as(action.index, &action.fault.fault, Phase::Acted, scope, touched, detail);
    }

    fn record_as(
        &self,
        index: usize,
        fault: &Fault,
        phase: Phase,
        scope: Scope,
        touched: u64,
        detail: String,
    ) {
        let event = FaultEvent { fault: fault.name(), index, phase, touched, scope, detail };
        self.trace.record(HOST, EventKind::Fault(event));
    }

    fn start(&mut self, sim: &mut turmoil::Sim<'_>, action: &Action) {
        let fault = &action.fault.fault;
        // A partition drops what is in flight on the links it cuts, held messages included.
        if matches!(fault, Fault::Partition { .. }) {
            self.holds_met(sim, "dropped by a partition");
            for (client, count) in self.in_flight(sim) {
                let what = format!("{count} messages in flight dropped");
                self.record_on(action, Scope::Link { client }, count, what);
            }
        }
        self.apply(sim, fault);
        if *fault != Fault::CrashBounce {
            self.active.insert(action.index, fault.clone());
        }
        let mut cut = 0;
        if *fault == Fault::CrashBounce {
            cut = self.traffic.open_with(&self.server);
            // What the server sent in its last moments dies with it (its socket buffers): the
            // messages still in flight on its links are dropped.
            let peers: Vec<String> =
                if self.target == self.server { self.clients.clone() } else { vec![self.target.clone()] };
            if self.target == self.server {
                self.holds_met(sim, "dropped by a crash");
            }
            for peer in &peers {
                sim.partition(peer.as_str(), self.server.as_str());
                sim.repair(peer.as_str(), self.server.as_str());
            }
            self.reapply(sim);
            sim.crash(self.server.as_str());
            self.trace.record(&self.server, EventKind::Host { state: HostState::Crash });
        }
        let detail = match *fault {
            Fault::Latency { latency_ms, jitter_ms } => {
                format!("client links {latency_ms}ms +{jitter_ms}ms jitter")
            }
            Fault::Hold => "client links held".to_owned(),
            Fault::Partition { oneway: false } => "clients <-/-> server".to_owned(),
            Fault::Partition { oneway: true } => "server -/-> clients".to_owned(),
            Fault::CrashBounce => "server host crashed".to_owned(),
            Fault::Loss { rate } => format!("client links lose messages, p={rate}"),
            _ => String::new(),
        };
        self.at_start.insert(action.index, (self.traffic.snapshot(), cut));
        self.record(action, Phase::Start, 0, detail);
    }

    /// The holds on now met the messages they hold, which something else is about to drop: their
    /// act is recorded now, as their heal will find nothing left to release.
    fn holds_met(&self, sim: &turmoil::Sim<'_>, how: &str) {
        let held = self.in_flight(sim);
        for (&index, fault) in self.active.iter().filter(|(_, f)| **f == Fault::Hold) {
            for (client, count) in &held {
                let scope = Scope::Link { client: client.clone() };
                let what = format!("{count} messages held, {how}");
                self.record_as(index, fault, Phase::Acted, scope, *count, what);
            }
        }
    }

    /// Puts back every link fault still on, after a heal or a repair undid their links' state.
    fn reapply(&self, sim: &mut turmoil::Sim<'_>) {
        for fault in self.active.values() {
            self.apply(sim, fault);
        }
    }

    /// Puts a link fault on every client's link.
    fn apply(&self, sim: &mut turmoil::Sim<'_>, fault: &Fault) {
        let target = self.target.as_str();
        for c in self.clients.iter().map(String::as_str) {
            match *fault {
                Fault::Latency { latency_ms, jitter_ms } => {
                    sim.set_link_latency(c, target, Duration::from_millis(latency_ms));
                    sim.set_link_max_message_latency(
                        c,
                        target,
                        Duration::from_millis(latency_ms + jitter_ms),
                    );
                }
                Fault::Hold => sim.hold(c, target),
                Fault::Partition { oneway: false } => sim.partition(c, target),
                Fault::Partition { oneway: true } => sim.partition_oneway(target, c),
                Fault::Loss { rate } => sim.set_link_fail_rate(c, target, rate),
                _ => {}
            }
        }
    }

    fn heal(&mut self, sim: &mut turmoil::Sim<'_>, action: &Action) {
        let fault = &action.fault.fault;
        let target = self.target.as_str();
        self.active.remove(&action.index);
        // Another fault of the same kind still on keeps the links as they are (a hold keeps
        // holding what it holds).
        let same = |f: &Fault| f.kind() == fault.kind();
        let still_on = self.active.values().any(same);
        // Messages sitting on held links, counted before the release lets them go.
        let held = if *fault == Fault::Hold { self.in_flight(sim) } else { Vec::new() };
        for c in self.clients.iter().map(String::as_str).filter(|_| !still_on) {
            match *fault {
                Fault::Latency { .. } => {
                    sim.set_link_latency(c, target, self.base_latency.0);
                    sim.set_link_max_message_latency(c, target, self.base_latency.1);
                }
                Fault::Hold => sim.release(c, target),
                Fault::Partition { oneway: false } => sim.repair(c, target),
                Fault::Partition { oneway: true } => sim.repair_oneway(target, c),
                Fault::Loss { .. } => {
                    sim.set_link_fail_rate(c, target, 0.0);
                    sim.repair(c, target);
                }
                _ => {}
            }
        }
        self.reapply(sim);
        let touched_host = if *fault == Fault::CrashBounce { &self.server } else { &self.target };
        let (before, cut) = self.at_start.remove(&action.index).unwrap_or_default();
        let flow = Traffic::between(&before, &self.traffic.snapshot(), touched_host);
        if *fault == Fault::CrashBounce {
            sim.bounce(self.server.as_str());
        }
        match *fault {
            Fault::Hold => {
                for (client, count) in held {
                    let what = format!("{count} messages held, released together");
                    self.record_on(action, Scope::Link { client }, count, what);
                }
            }
            Fault::CrashBounce => {
                let touched = cut + flow.writes;
                if touched > 0 {
                    let what = format!(
                        "{cut} connection ends cut, {} writes to or from the crashed host",
                        flow.writes
                    );
                    self.record_on(action, Scope::Server, touched, what);
                }
            }
            _ => {
                // One act per client link that carried traffic while the fault lasted: a
                // client whose link stayed quiet was not touched, whatever its neighbours saw.
                let after = self.traffic.snapshot();
                for client in &self.clients {
                    let flow = Traffic::on_link(&before, &after, client, &self.target);
                    if flow.writes > 0 {
                        let what = match *fault {
                            Fault::Latency { .. } => {
                                format!("{} writes ({} bytes) slowed", flow.writes, flow.bytes)
                            }
                            _ => format!(
                                "{} writes ({} bytes) on a cut or lossy link",
                                flow.writes, flow.bytes
                            ),
                        };
                        self.record_on(action, Scope::Link { client: client.clone() }, flow.writes, what);
                    }
                }
            }
        }
        self.record(action, Phase::Heal, 0, "healed".to_owned());
    }

    /// Messages in flight between each client and the target, for the clients that have any.
    fn in_flight(&self, sim: &turmoil::Sim<'_>) -> Vec<(String, u64)> {
        let target = sim.lookup(self.target.as_str());
        let mut out = Vec::new();
        for client in &self.clients {
            let ip = sim.lookup(client.as_str());
            let mut count = 0u64;
            sim.links(|links| {
                for link in links {
                    let (a, b) = link.pair();
                    if (a == target && b == ip) || (b == target && a == ip) {
                        count += link.count() as u64;
                    }
                }
            });
            if count > 0 {
                out.push((client.clone(), count));
            }
        }
        out
    }
}
