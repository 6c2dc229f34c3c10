//! The injector of network and host faults: between simulation steps it applies each start and
//! heal of the schedule to turmoil's links and hosts, and reports what it did. A fault counts as
//! having acted only when traffic met it: messages it held, writes on links it cut or slowed or
//! lost messages on, writes aimed at the host it crashed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::fault::{Action, Fault, Injector, Schedule, TimedFault};
use crate::net::{Snapshot, Traffic};
use crate::topology::Topology;
use crate::trace::{EventKind, FaultEvent, HostState, Phase, Scope, Trace};

/// The host name network fault events are recorded under.
pub const HOST: &str = "sim";

/// Applies the network and host faults of a schedule to a simulation.
#[derive(Debug)]
pub struct NetworkInjector {
    actions: Vec<Action>,
    next: usize,
    topology: Arc<Topology>,
    /// Links' latency range before faults.
    base_latency: (Duration, Duration),
    traffic: Traffic,
    trace: Trace,
    /// Traffic at each open fault's start, by fault index, and the connections it cut then.
    at_start: BTreeMap<usize, (Snapshot, u64)>,
    /// The link faults on now, by index: when one heals, the others still hold (turmoil's
    /// links have one state, so a heal would otherwise end overlapping faults too).
    active: BTreeMap<usize, TimedFault>,
}

/// A link a fault acts on: the scope its acts name, and the physical host pairs that carry its
/// traffic, each oriented from the fault's first side to its second.
#[derive(Debug)]
struct Link {
    scope: Scope,
    pairs: Vec<(String, String)>,
}

impl NetworkInjector {
    /// The injector of `schedule`'s network faults on `topology`'s hosts.
    pub fn new(
        schedule: &Schedule,
        topology: Arc<Topology>,
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
            topology,
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

    /// The links `fault` acts on ([`Topology::links`]), named as its acts name them: with one
    /// server, by client; in a cluster, by the two hosts.
    fn links(&self, fault: &TimedFault) -> Vec<Link> {
        let cluster = self.topology.is_cluster();
        let links = self.topology.links(fault).into_iter();
        links
            .map(|l| Link {
                scope: if cluster {
                    Scope::between(&l.first, &l.second)
                } else {
                    Scope::Link { client: l.second }
                },
                pairs: l.pairs,
            })
            .collect()
    }

    /// The server a crash crashes.
    fn crashed(&self, fault: &TimedFault) -> String {
        fault.node.clone().unwrap_or_else(|| self.topology.first())
    }

    fn scope(&self, fault: &TimedFault) -> Scope {
        match fault.fault {
            Fault::CrashBounce if self.topology.is_cluster() => Scope::Node { node: self.crashed(fault) },
            Fault::CrashBounce => Scope::Server,
            _ => Scope::ClientLinks,
        }
    }

    fn record(&self, action: &Action, phase: Phase, touched: u64, detail: String) {
        let (index, fault) = (action.index, &action.fault.fault);
        self.record_as(index, fault, phase, self.scope(&action.fault), touched, detail);
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
        let timed = &action.fault;
        let fault = &timed.fault;
        // A partition drops what is in flight on the links it cuts, held messages included.
        if matches!(fault, Fault::Partition { .. }) {
            let cut = self.links(timed);
            self.holds_met(sim, "dropped by a partition", |scope| cut.iter().any(|l| l.scope == *scope));
            for (scope, count) in self.in_flight(sim, &cut) {
                let what = format!("{count} messages in flight dropped");
                self.record_on(action, scope, count, what);
            }
        }
        self.apply(sim, timed);
        if *fault != Fault::CrashBounce {
            self.active.insert(action.index, timed.clone());
        }
        let mut cut = 0;
        if *fault == Fault::CrashBounce {
            let node = self.crashed(timed);
            cut = self.traffic.open_with(&node);
            // What the server sent in its last moments dies with it (its socket buffers): the
            // messages still in flight on its links are dropped.
            let peers = self.topology.peers_of(&node);
            if !self.topology.proxied {
                let touches = |scope: &Scope| match scope {
                    Scope::Between { a, b } => *a == node || *b == node,
                    _ => true,
                };
                self.holds_met(sim, "dropped by a crash", touches);
            }
            for peer in &peers {
                sim.partition(peer.as_str(), node.as_str());
                sim.repair(peer.as_str(), node.as_str());
            }
            self.reapply(sim);
            sim.crash(node.as_str());
            self.trace.record(&node, EventKind::Host { state: HostState::Crash });
        }
        let detail = if self.topology.is_cluster() {
            let links = self.links(timed);
            let names: Vec<String> = links.iter().map(|l| l.scope.to_string()).collect();
            match *fault {
                Fault::CrashBounce => format!("node {} crashed", self.crashed(timed)),
                Fault::Partition { oneway: true } => format!("one way: {}", names.join(", ")),
                _ => format!("{}: {}", fault.name(), names.join(", ")),
            }
        } else {
            match *fault {
                Fault::Latency { latency_ms, jitter_ms } => {
                    format!("client links {latency_ms}ms +{jitter_ms}ms jitter")
                }
                Fault::Hold => "client links held".to_owned(),
                Fault::Partition { oneway: false } => "clients <-/-> server".to_owned(),
                Fault::Partition { oneway: true } => "server -/-> clients".to_owned(),
                Fault::CrashBounce => "server host crashed".to_owned(),
                Fault::Loss { rate } => format!("client links lose messages, p={rate}"),
                _ => String::new(),
            }
        };
        self.at_start.insert(action.index, (self.traffic.snapshot(), cut));
        self.record(action, Phase::Start, 0, detail);
    }

    /// The holds on now met the messages they hold (on the links `dropped` says), which
    /// something else is about to drop: their act is recorded now, as their heal will find
    /// nothing left to release.
    fn holds_met(&self, sim: &turmoil::Sim<'_>, how: &str, dropped: impl Fn(&Scope) -> bool) {
        for (&index, timed) in self.active.iter().filter(|(_, f)| f.fault == Fault::Hold) {
            let links: Vec<Link> = self.links(timed).into_iter().filter(|l| dropped(&l.scope)).collect();
            for (scope, count) in self.in_flight(sim, &links) {
                let what = format!("{count} messages held, {how}");
                self.record_as(index, &timed.fault, Phase::Acted, scope, count, what);
            }
        }
    }

    /// Puts back every link fault still on, after a heal or a repair undid their links' state.
    fn reapply(&self, sim: &mut turmoil::Sim<'_>) {
        for timed in self.active.values() {
            self.apply(sim, timed);
        }
    }

    /// Puts a link fault on every link it acts on.
    fn apply(&self, sim: &mut turmoil::Sim<'_>, timed: &TimedFault) {
        for link in self.links(timed) {
            for (a, b) in &link.pairs {
                let (a, b) = (a.as_str(), b.as_str());
                match timed.fault {
                    Fault::Latency { latency_ms, jitter_ms } => {
                        sim.set_link_latency(b, a, Duration::from_millis(latency_ms));
                        sim.set_link_max_message_latency(b, a, Duration::from_millis(latency_ms + jitter_ms));
                    }
                    Fault::Hold => sim.hold(b, a),
                    Fault::Partition { oneway: false } => sim.partition(b, a),
                    Fault::Partition { oneway: true } => sim.partition_oneway(a, b),
                    Fault::Loss { rate } => sim.set_link_fail_rate(b, a, rate),
                    _ => {}
                }
            }
        }
    }

    fn heal(&mut self, sim: &mut turmoil::Sim<'_>, action: &Action) {
        let timed = &action.fault;
        let fault = &timed.fault;
        self.active.remove(&action.index);
        // Another fault of the same kind still on a link keeps it as it is (a hold keeps
        // holding what it holds).
        let mut kept = Vec::new();
        for other in self.active.values().filter(|f| f.fault.kind() == fault.kind()) {
            kept.extend(self.links(other).into_iter().flat_map(|l| l.pairs));
        }
        let links = self.links(timed);
        // Messages sitting on held links, counted before the release lets them go.
        let held = if *fault == Fault::Hold { self.in_flight(sim, &links) } else { Vec::new() };
        for (a, b) in links.iter().flat_map(|l| &l.pairs).filter(|p| !kept.contains(p)) {
            let (a, b) = (a.as_str(), b.as_str());
            match *fault {
                Fault::Latency { .. } => {
                    sim.set_link_latency(b, a, self.base_latency.0);
                    sim.set_link_max_message_latency(b, a, self.base_latency.1);
                }
                Fault::Hold => sim.release(b, a),
                Fault::Partition { oneway: false } => sim.repair(b, a),
                Fault::Partition { oneway: true } => sim.repair_oneway(a, b),
                Fault::Loss { .. } => {
                    sim.set_link_fail_rate(b, a, 0.0);
                    sim.repair(b, a);
                }
                _ => {}
            }
        }
        self.reapply(sim);
        let crashed = (*fault == Fault::CrashBounce).then(|| self.crashed(timed));
        let (before, cut) = self.at_start.remove(&action.index).unwrap_or_default();
        if let Some(node) = &crashed {
            let flow = Traffic::between(&before, &self.traffic.snapshot(), node);
            sim.bounce(node.as_str());
            let touched = cut + flow.writes;
            if touched > 0 {
                let what =
                    format!("{cut} connection ends cut, {} writes to or from the crashed host", flow.writes);
                self.record_on(action, self.scope(timed), touched, what);
            }
        } else if *fault == Fault::Hold {
            for (scope, count) in held {
                let what = format!("{count} messages held, released together");
                self.record_on(action, scope, count, what);
            }
        } else {
            // One act per link that carried traffic while the fault lasted: a client whose
            // link stayed quiet was not touched, whatever its neighbours saw.
            let after = self.traffic.snapshot();
            for link in links {
                let (mut writes, mut bytes) = (0, 0);
                for (a, b) in &link.pairs {
                    let flow = Traffic::on_link(&before, &after, b, a);
                    writes += flow.writes;
                    bytes += flow.bytes;
                }
                if writes > 0 {
                    let what = match *fault {
                        Fault::Latency { .. } => format!("{writes} writes ({bytes} bytes) slowed"),
                        _ => format!("{writes} writes ({bytes} bytes) on a cut or lossy link"),
                    };
                    self.record_on(action, link.scope, writes, what);
                }
            }
        }
        self.record(action, Phase::Heal, 0, "healed".to_owned());
    }

    /// Messages in flight on each of `links`, for the links that have any.
    fn in_flight(&self, sim: &turmoil::Sim<'_>, links: &[Link]) -> Vec<(Scope, u64)> {
        let mut out = Vec::new();
        for link in links {
            let mut count = 0u64;
            for (a, b) in &link.pairs {
                let (a, b) = (sim.lookup(a.as_str()), sim.lookup(b.as_str()));
                sim.links(|links| {
                    for l in links {
                        let (x, y) = l.pair();
                        if (x == a && y == b) || (x == b && y == a) {
                            count += l.count() as u64;
                        }
                    }
                });
            }
            if count > 0 {
                out.push((link.scope.clone(), count));
            }
        }
        out
    }
}
