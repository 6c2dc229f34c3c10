//! One simulated run: build the world for a scenario and seed, run the workload while the
//! injectors follow the schedule, then check every property. A panic anywhere inside the run
//! (a handler, the proxy, the harness) is caught and reported as a violation of the run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use rand::Rng;
use tonic::Code;

pub use faultline_model::report::{FaultTally, RunReport};

use crate::check::{self, Property, Violation};
use crate::fault::{Injector, Schedule};
use crate::net::{self, GRPC_PORT, Traffic};
use crate::network::NetworkInjector;
use crate::proxy::Proxy;
use crate::scenario::Scenario;
use crate::server::{self, ServerHost};
use crate::system::{CallSummary, Caller, History, Plan, System};
use crate::topology::{Dialer, Topology};
use crate::trace::{EventKind, Phase, Trace, hash_events};
use crate::world::World;

/// What every client host shares.
struct ClientShared<S: System> {
    system: Arc<S>,
    scenario: Arc<Scenario<S::Op>>,
    world: World,
    topology: Arc<Topology>,
    trace: Trace,
    traffic: Traffic,
    records: Arc<Mutex<History<S>>>,
    recovery_failures: Arc<Mutex<Vec<String>>>,
}

impl<S: System> Clone for ClientShared<S> {
    fn clone(&self) -> Self {
        Self {
            system: self.system.clone(),
            scenario: self.scenario.clone(),
            world: self.world.clone(),
            topology: self.topology.clone(),
            trace: self.trace.clone(),
            traffic: self.traffic.clone(),
            records: self.records.clone(),
            recovery_failures: self.recovery_failures.clone(),
        }
    }
}

/// Runs one scenario of `system` under one seed; deterministic in (scenario, seed).
pub fn run<S: System>(system: &Arc<S>, scenario: &Scenario<S::Op>, seed: u64) -> RunReport {
    run_stepping(system, scenario, seed, Stepping::default())
}

/// How a run moves through simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepping {
    /// Jump over steps in which no host has anything to do (what [`run`] does with the
    /// `skip-idle` feature). Without that feature there is no way to know a host is idle, and
    /// this steps every tick.
    SkipIdle,
    /// Step through every tick (what [`run`] does without the `skip-idle` feature; tests compare).
    EveryTick,
}

impl Stepping {
    /// Whether this build can skip idle time: the `skip-idle` feature, which needs the patched
    /// tokio and turmoil of `vendor/` (through `[patch.crates-io]`) and `--cfg tokio_unstable`.
    pub const CAN_SKIP: bool = cfg!(feature = "skip-idle");
}

impl Default for Stepping {
    /// [`Stepping::SkipIdle`] where the build can skip, else [`Stepping::EveryTick`].
    fn default() -> Self {
        if Self::CAN_SKIP { Self::SkipIdle } else { Self::EveryTick }
    }
}

/// [`run`], moving through time as `stepping` says: both give the same run.
pub fn run_stepping<S: System>(
    system: &Arc<S>,
    scenario: &Scenario<S::Op>,
    seed: u64,
    stepping: Stepping,
) -> RunReport {
    let trace = Trace::default();
    let world = World::new(scenario, seed);
    let topology = Topology::of(system.nodes(), scenario);
    let shared = ClientShared {
        system: system.clone(),
        scenario: Arc::new(scenario.clone()),
        world: world.clone(),
        topology: Arc::new(topology),
        trace: trace.clone(),
        traffic: Traffic::default(),
        records: Arc::default(),
        recovery_failures: Arc::default(),
    };
    let (outcome, panics) = catching_panics(|| simulate(&shared, stepping));
    let (error, sim_time_us) = outcome.unwrap_or((None, trace.now_us()));

    let mut records = std::mem::take(&mut *shared.records.lock().unwrap_or_else(PoisonError::into_inner));
    records.sort_by_key(|r| r.call.id);
    let liveness =
        std::mem::take(&mut *shared.recovery_failures.lock().unwrap_or_else(PoisonError::into_inner));
    for (message, location) in &panics {
        trace.record_at(
            trace.now_us(),
            "sim",
            EventKind::Panic { message: message.clone(), location: location.clone() },
        );
    }
    for loss in shared.traffic.losses() {
        let kind =
            EventKind::Lost { from: loss.from, to: loss.to, lost_at_us: loss.at_us, bytes: loss.bytes };
        trace.record_at(sim_time_us, crate::network::HOST, kind);
    }
    let events = trace.take_events();
    let windows = check::windows(scenario, &events, &world.net, &shared.topology);
    // The oracle is the user's code too: a panic in it is a finding of this seed, not a crash
    // of the sweep.
    let (checked, oracle_panics) = catching_panics(|| {
        check::check_against(&**system, scenario, &records, &events, &world.net, &windows, sim_time_us)
    });
    let mut violations = checked.unwrap_or_default();
    for (message, location) in oracle_panics {
        let detail = format!("the checks panicked at {location}: {message}");
        violations.push(Violation { property: Property::Panic, call: None, detail });
    }
    if let Some(error) = error {
        let detail = format!("the simulation did not complete: {error}");
        violations.push(Violation { property: Property::Deadline, call: None, detail });
    }
    violations.extend(liveness.into_iter().map(|detail| Violation {
        property: Property::Recovery,
        call: None,
        detail,
    }));
    violations.extend(panics.into_iter().map(|(message, location)| Violation {
        property: Property::Panic,
        call: None,
        detail: format!("panicked at {location}: {message}"),
    }));

    let grace = world.net.grace().as_micros() as u64;
    let excusable_us = check::excusable_us(&windows, grace, sim_time_us);
    let mut faults: BTreeMap<String, FaultTally> =
        scenario.faults.iter().map(|f| (f.fault.name().to_owned(), FaultTally::default())).collect();
    // A network fault acts once per window, on every link it met (one event per link).
    let mut network_acts = std::collections::BTreeSet::new();
    for e in &events {
        if let EventKind::Fault(f) = &e.kind
            && f.phase == Phase::Acted
        {
            let tally = faults.entry(f.fault.to_owned()).or_default();
            let network =
                scenario.faults.get(f.index).is_some_and(|t| t.fault.injector() == Injector::Network);
            if !network || network_acts.insert((f.index, e.at_us)) {
                tally.acted += 1;
            }
            tally.touched += f.touched;
        }
    }
    let records: Vec<CallSummary> = records.into_iter().map(|r| r.call).collect();
    let workload: Vec<&CallSummary> = records.iter().filter(|r| !r.probe).collect();
    let mut codes = BTreeMap::new();
    for r in workload.iter().filter(|r| r.code != Code::Ok) {
        *codes.entry(faultline_wire::code_name(r.code).to_owned()).or_default() += 1;
    }
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        expect: scenario.expect,
        caught_by: scenario.caught_by.clone(),
        calls: workload.len(),
        failed_calls: workload.iter().filter(|r| r.code != Code::Ok).count(),
        faults,
        codes,
        sim_time_us,
        excusable_us,
        violations,
        trace_hash: hash_events(&events),
        events,
        records,
    }
}

/// Builds the world's hosts and steps it until every client is done and every handler has had
/// the grace to end; returns the simulator's error, if any, and the simulated time.
fn simulate<S: System>(shared: &ClientShared<S>, stepping: Stepping) -> (Option<String>, u64) {
    let (scenario, world, trace) = (&shared.scenario, &shared.world, &shared.trace);
    let schedule = Schedule::new(&scenario.faults);
    let mut sim = world.sim();
    let indexed = |injector| -> Vec<_> {
        scenario.faults.iter().cloned().enumerate().filter(|(_, f)| f.fault.injector() == injector).collect()
    };
    let handlers = Arc::new(AtomicUsize::new(0));
    let topology = &shared.topology;
    for name in topology.servers() {
        let peers = topology
            .is_cluster()
            .then(|| Dialer::new(&name, topology.clone(), world.net, trace, &shared.traffic));
        let host = ServerHost {
            host: name.clone(),
            peers,
            system: shared.system.clone(),
            mutant: scenario.mutant.clone(),
            disk: Arc::default(),
            starts: Arc::default(),
            faults: indexed(Injector::Server).into_iter().filter(|(_, f)| f.at_node(&name)).collect(),
            trace: trace.clone(),
            traffic: shared.traffic.clone(),
            world: world.clone(),
            handlers: handlers.clone(),
        };
        sim.host(name.as_str(), move || server::serve(host.clone()));
        if topology.proxied {
            let proxy = Proxy {
                host: topology.proxy_of(&name),
                upstream: format!("{name}:{GRPC_PORT}"),
                faults: indexed(Injector::Proxy).into_iter().filter(|(_, f)| f.at_node(&name)).collect(),
                world: world.clone(),
                trace: trace.clone(),
                traffic: shared.traffic.clone(),
            };
            sim.host(proxy.host.clone(), move || {
                let proxy = proxy.clone();
                async move {
                    proxy.run().await?;
                    Ok(())
                }
            });
        }
    }
    for (index, name) in topology.clients.iter().enumerate() {
        sim.client(name.as_str(), client_main(shared.clone(), index as u64, name.clone()));
    }
    let mut network =
        NetworkInjector::new(&schedule, topology.clone(), world.latency, &shared.traffic, trace);
    let tick = world.net.tick;
    let error = loop {
        match advance(&mut sim, &mut network, trace, stepping, tick, None) {
            Ok(Some(true)) => break None,
            Ok(_) => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    // Clients are done; handlers still running get the grace to notice their calls ended.
    let linger = now(&sim) + world.net.grace().as_micros() as u64;
    while error.is_none() && now(&sim) < linger && handlers.load(Ordering::SeqCst) > 0 {
        if advance(&mut sim, &mut network, trace, stepping, tick, Some(linger)).is_err() {
            break;
        }
    }
    let at = now(&sim);
    trace.set_now(at);
    drop(sim);
    (error, at)
}

/// Simulated time, microseconds.
fn now(sim: &turmoil::Sim<'_>) -> u64 {
    sim.elapsed().as_micros() as u64
}

/// One move of the step loop: the trace's clock set and the injector's due starts and heals
/// applied, then (skipping) a jump over idle steps, up to the injector's next action and `cap`,
/// or else one step. `Ok(None)`: it jumped; `Ok(Some(done))`: it stepped, and whether every
/// client is done.
fn advance(
    sim: &mut turmoil::Sim<'_>,
    network: &mut NetworkInjector,
    trace: &Trace,
    stepping: Stepping,
    tick: Duration,
    cap: Option<u64>,
) -> turmoil::Result<Option<bool>> {
    let at = now(sim);
    trace.set_now(at);
    network.apply_due(sim, at);
    if stepping == Stepping::SkipIdle {
        let next = match (network.next_due_us(), cap) {
            (Some(due), Some(cap)) => Some(due.min(cap)),
            (due, cap) => due.or(cap),
        };
        // Landed later: what is due then is applied before the next step.
        if skip_idle(sim, at, next, tick)? > 0 {
            return Ok(None);
        }
    }
    sim.step().map(Some)
}

/// Jumps over the steps from `now_us` in which no host has anything to do (turmoil, patched:
/// no task ready, no timer falling due, no message due), up to the step at which the injector's
/// next start or heal (`next_us`) is applied: the run is the same as stepping through them.
/// Returns the steps skipped.
#[cfg(feature = "skip-idle")]
fn skip_idle(
    sim: &mut turmoil::Sim<'_>,
    now_us: u64,
    next_us: Option<u64>,
    tick: Duration,
) -> turmoil::Result<u32> {
    let tick_us = (tick.as_micros() as u64).max(1);
    // Stepping applies an action due at `next_us` before the first step starting at or after it.
    let max = next_us.map_or(u64::from(u32::MAX), |due| due.saturating_sub(now_us).div_ceil(tick_us));
    let steps = sim.idle_steps(u32::try_from(max).unwrap_or(u32::MAX));
    sim.skip_steps(steps)?;
    Ok(steps)
}

/// Without the `skip-idle` feature nothing tells a host is idle: nothing is skipped.
#[cfg(not(feature = "skip-idle"))]
fn skip_idle(_: &mut turmoil::Sim<'_>, _: u64, _: Option<u64>, _: Duration) -> turmoil::Result<u32> {
    Ok(0)
}

thread_local! {
    /// The panics of the run in progress on this thread (`None`: no run in progress).
    static PANICS: RefCell<Option<Vec<(String, String)>>> = const { RefCell::new(None) };
}

/// Runs `f`, catching its panics and every panic that happens inside it (also those a runtime
/// catches in a task), with their messages and locations; none reaches the default hook.
fn catching_panics<T>(f: impl FnOnce() -> T) -> (Option<T>, Vec<(String, String)>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let caught = PANICS.with(|panics| match panics.borrow_mut().as_mut() {
                Some(list) => {
                    list.push((
                        panic_message(info),
                        info.location().map_or_else(String::new, ToString::to_string),
                    ));
                    true
                }
                None => false,
            });
            if !caught {
                default(info);
            }
        }));
    });
    PANICS.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(f)).ok();
    let panics = PANICS.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (outcome, panics)
}

fn panic_message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_owned())
}

/// A client host: its share of the workload over `concurrency` lanes on one channel, then,
/// once every fault has healed, every probe of the system, each of which must get through.
async fn client_main<S: System>(shared: ClientShared<S>, index: u64, host: String) -> turmoil::Result {
    let (scenario, system) = (&shared.scenario, &shared.system);
    let mut rng = shared.world.rng(&host, 0);
    let (world, trace, traffic) = (&shared.world, &shared.trace, &shared.traffic);
    let caller = if shared.topology.is_cluster() {
        let dialer = Dialer::new(&host, shared.topology.clone(), world.net, trace, traffic);
        Caller::cluster(system.clone(), dialer, trace.clone())
    } else {
        let target = format!("{}:{GRPC_PORT}", shared.topology.dial_host(server::HOST));
        let channel = net::channel(&host, &target, &world.net, trace, traffic);
        Caller::new(system.clone(), channel, &host, trace.clone())
    };
    let deadline = Duration::from_millis(scenario.deadline_ms);

    let mut lanes: Vec<Vec<(Plan<S::Op>, Duration)>> = vec![Vec::new(); scenario.concurrency as usize];
    let scripted: Vec<S::Op> =
        scenario.calls.iter().filter(|c| u64::from(c.client) == index).map(|c| c.op.clone()).collect();
    let count =
        if scenario.calls.is_empty() { u64::from(scenario.calls_per_client) } else { scripted.len() as u64 };
    for k in 0..count {
        let op = match scripted.get(k as usize) {
            Some(op) => op.clone(),
            None => system.generate(&mut rng),
        };
        let pauses = system.pauses(&op, scenario, &mut rng);
        let cancel_after = (rng.random_bool(scenario.cancel_rate))
            .then(|| Duration::from_millis(rng.random_range(0..scenario.deadline_ms)));
        let think = Duration::from_millis(rng.random_range(0..=2 * scenario.think_ms));
        let call_deadline = deadline + pauses.iter().sum::<Duration>();
        let plan = Plan {
            id: index * 1_000_000 + k,
            op,
            deadline: call_deadline,
            cancel_after,
            pauses,
            probe: false,
        };
        lanes[(k % u64::from(scenario.concurrency)) as usize].push((plan, think));
    }
    let mut tasks = Vec::new();
    for lane in lanes {
        let (caller, records) = (caller.clone(), shared.records.clone());
        tasks.push(tokio::spawn(async move {
            for (plan, think) in lane {
                tokio::time::sleep(think).await;
                let record = caller.call(plan).await;
                records.lock().unwrap_or_else(PoisonError::into_inner).push(record);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }

    // Recovery: after the last fault heals, every probe must get through within the bound.
    let probes = system.probes();
    if scenario.faults.is_empty() || probes.is_empty() {
        return Ok(());
    }
    let heal = Duration::from_millis(scenario.heal_ms());
    let elapsed = turmoil::sim_elapsed().unwrap_or_default();
    if elapsed < heal {
        tokio::time::sleep(heal - elapsed).await;
    }
    let give_up = heal + Duration::from_millis(scenario.recovery_ms);
    let probe_deadline = deadline.max(Duration::from_secs(1));
    for (m, op) in probes.into_iter().enumerate() {
        for attempt in 0u64.. {
            let id = index * 1_000_000 + 900_000 + m as u64 * 1_000 + attempt;
            let plan = Plan {
                id,
                op: op.clone(),
                deadline: probe_deadline,
                cancel_after: None,
                pauses: Vec::new(),
                probe: true,
            };
            let record = caller.call(plan).await;
            let ok = record.call.code == Code::Ok;
            shared.records.lock().unwrap_or_else(PoisonError::into_inner).push(record);
            if ok {
                break;
            }
            if turmoil::sim_elapsed().unwrap_or_default() >= give_up {
                shared.recovery_failures.lock().unwrap_or_else(PoisonError::into_inner).push(format!(
                    "{host}: no successful {} within {}ms after the last fault healed",
                    system.name(&op),
                    scenario.recovery_ms
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}
