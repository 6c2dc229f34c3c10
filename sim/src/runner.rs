//! One simulated run: build the turmoil world for a scenario and seed, run the
//! workload while the fault schedule fires, then check every property.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use faultline_services::FeatureDb;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tonic::Code;

use crate::check::{self, Violation};
use crate::model::Model;
use crate::net::{self, ClientNet, GRPC_PORT};
use crate::proxy::Proxy;
use crate::scenario::{Fault, Scenario, TimedFault};
use crate::server::{self, ServerConfig};
use crate::trace::{Event, EventKind, Trace, hash_events};
use crate::workload::{CallInput, CallRecord, Caller, InputGen};

/// Prefix of a fault event's detail when the fault heals rather than fires.
pub const HEALED: &str = "healed:";

/// The fixed epoch of every run: wall time inside the simulation never varies.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// The outcome of one (scenario, seed) run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed that reproduces this run.
    pub seed: u64,
    /// Workload calls made (probes not counted).
    pub calls: usize,
    /// Workload calls that ended non-OK.
    pub failed_calls: usize,
    /// How many times each fault fired.
    pub faults_fired: BTreeMap<String, u32>,
    /// Simulated time the run took, microseconds.
    pub sim_time_us: u64,
    /// Properties that did not hold.
    pub violations: Vec<Violation>,
    /// Stable hash of the full event trace.
    pub trace_hash: u64,
    /// The full event trace.
    #[serde(skip)]
    pub events: Vec<Event>,
    /// Every call's record.
    #[serde(skip)]
    pub records: Vec<CallRecord>,
}

impl RunReport {
    /// Every property held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// What every client host shares.
#[derive(Debug, Clone)]
struct ClientShared {
    scenario: Arc<Scenario>,
    seed: u64,
    target: String,
    inputs: InputGen,
    trace: Trace,
    records: Arc<Mutex<Vec<CallRecord>>>,
    recovery_failures: Arc<Mutex<Vec<String>>>,
}

/// Runs one scenario under one seed; deterministic in (scenario, seed).
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    let trace = Trace::default();
    let model = Model::reference();
    let scenario = Arc::new(scenario.clone());
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(Duration::from_millis(scenario.limit_ms))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(scenario.min_latency_ms))
        .max_message_latency(Duration::from_millis(scenario.max_latency_ms))
        .repair_rate(0.2)
        .enable_random_order()
        .build();

    let server_config = ServerConfig {
        db: Arc::new(FeatureDb::reference()),
        mutant: scenario.mutant,
        faults: scenario.faults.clone(),
        trace: trace.clone(),
    };
    sim.host("server", move || server::serve(server_config.clone()));

    let target = if scenario.proxy.is_empty() {
        "server".to_owned()
    } else {
        let (faults, trace) = (scenario.proxy.clone(), trace.clone());
        let proxy_for = scenario.proxy_for_ms.map(Duration::from_millis);
        sim.host("proxy", move || {
            let mut proxy = Proxy::new(format!("server:{GRPC_PORT}"), faults.clone(), seed, trace.clone());
            proxy.heal_at = proxy_for;
            async move {
                proxy.run().await?;
                Ok(())
            }
        });
        "proxy".to_owned()
    };

    let shared = ClientShared {
        scenario: scenario.clone(),
        seed,
        target: target.clone(),
        inputs: InputGen::new(&model),
        trace: trace.clone(),
        records: Arc::default(),
        recovery_failures: Arc::default(),
    };
    let clients: Vec<String> = (0..scenario.clients).map(|i| format!("client-{i}")).collect();
    for (index, name) in clients.iter().enumerate() {
        sim.client(name.as_str(), client_main(shared.clone(), index as u64, name.clone()));
    }

    let mut schedule = FaultSchedule::new(&scenario.faults);
    let error = loop {
        schedule.apply_due(&mut sim, &clients, &target, &scenario, &trace);
        match sim.step() {
            Ok(true) => break None,
            Ok(false) => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    let sim_time_us = sim.elapsed().as_micros() as u64;
    drop(sim);

    let mut records = std::mem::take(&mut *shared.records.lock().expect("records lock"));
    records.sort_by_key(|r| r.id);
    let mut recovery_failures = std::mem::take(&mut *shared.recovery_failures.lock().expect("recovery lock"));
    if let Some(error) = error {
        recovery_failures.push(format!("simulation did not complete: {error}"));
    }
    let violations = check::check(&scenario, &model, &records, &recovery_failures);
    let events = trace.take_events();
    let mut faults_fired = BTreeMap::new();
    for e in &events {
        if let EventKind::Fault { fault, detail } = &e.kind
            && !detail.starts_with(HEALED)
        {
            *faults_fired.entry(fault.clone()).or_insert(0) += 1;
        }
    }
    let workload: Vec<&CallRecord> = records.iter().filter(|r| !r.probe).collect();
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        calls: workload.len(),
        failed_calls: workload.iter().filter(|r| r.code != Code::Ok).count(),
        faults_fired,
        sim_time_us,
        violations,
        trace_hash: hash_events(&events),
        events,
        records,
    }
}

/// One workload call, planned before the run from the client's seed.
#[derive(Debug, Clone)]
struct PlannedCall {
    id: u64,
    input: CallInput,
    cancel: Option<Duration>,
    /// Pause before the call.
    think: Duration,
}

/// A client host: its share of the workload over `concurrency` tasks on one
/// channel, then, once every fault has healed, a probe that must succeed.
async fn client_main(shared: ClientShared, index: u64, host: String) -> turmoil::Result {
    let scenario = &shared.scenario;
    let mut rng = ChaCha8Rng::seed_from_u64(shared.seed);
    rng.set_stream(index + 1);
    let target = format!("{}:{GRPC_PORT}", shared.target);
    let channel = net::channel(&host, &target, ClientNet::default(), shared.trace.clone());
    let caller = Caller::new(channel, &host, shared.trace.clone());
    let deadline = Duration::from_millis(scenario.deadline_ms);

    let mut lanes: Vec<Vec<PlannedCall>> = vec![Vec::new(); scenario.concurrency as usize];
    let scripted: Vec<CallInput> =
        scenario.calls.iter().filter(|c| u64::from(c.client) == index).map(|c| c.input.clone()).collect();
    let count =
        if scenario.calls.is_empty() { u64::from(scenario.calls_per_client) } else { scripted.len() as u64 };
    for k in 0..count {
        let input = match scripted.get(k as usize) {
            Some(input) => input.clone(),
            None => shared.inputs.input(&mut rng),
        };
        let cancel = (rng.random_bool(scenario.cancel_rate))
            .then(|| Duration::from_millis(rng.random_range(0..scenario.deadline_ms)));
        let think = Duration::from_millis(rng.random_range(0..=2 * scenario.think_ms));
        let call = PlannedCall { id: index * 1_000_000 + k, input, cancel, think };
        lanes[(k % u64::from(scenario.concurrency)) as usize].push(call);
    }
    let mut tasks = Vec::new();
    for lane in lanes {
        let (caller, records) = (caller.clone(), shared.records.clone());
        tasks.push(tokio::spawn(async move {
            for call in lane {
                tokio::time::sleep(call.think).await;
                let record = caller.call(call.id, call.input, deadline, call.cancel, false).await;
                records.lock().expect("records lock").push(record);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }

    // Liveness: after the last fault heals, a call must succeed within the bound.
    let heal = Duration::from_millis(scenario.heal_ms());
    let elapsed = turmoil::sim_elapsed().unwrap_or_default();
    if elapsed < heal {
        tokio::time::sleep(heal - elapsed).await;
    }
    let give_up = heal + Duration::from_millis(scenario.recovery_ms);
    for attempt in 0u64.. {
        let id = index * 1_000_000 + 900_000 + attempt;
        let probe = CallInput::SayHello { name: format!("probe {attempt}") };
        let record = caller.call(id, probe, Duration::from_secs(1), None, true).await;
        let ok = record.code == Code::Ok;
        shared.records.lock().expect("records lock").push(record);
        if ok {
            break;
        }
        if turmoil::sim_elapsed().unwrap_or_default() >= give_up {
            shared.recovery_failures.lock().expect("recovery lock").push(format!(
                "{host}: no successful call within {}ms after faults healed",
                scenario.recovery_ms
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Start and heal actions of the timed faults, in time order.
struct FaultSchedule {
    actions: Vec<(u64, bool, usize, TimedFault)>,
    next: usize,
}

impl FaultSchedule {
    fn new(faults: &[TimedFault]) -> Self {
        let mut actions: Vec<(u64, bool, usize, TimedFault)> = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            actions.push((f.at_ms, true, i, f.clone()));
            actions.push((f.at_ms + f.for_ms, false, i, f.clone()));
        }
        // Heals before starts at the same instant; ties broken by declaration order.
        actions.sort_by_key(|(at, start, i, _)| (*at, *start, *i));
        Self { actions, next: 0 }
    }

    fn apply_due(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        clients: &[String],
        target: &str,
        scenario: &Scenario,
        trace: &Trace,
    ) {
        let now_us = sim.elapsed().as_micros() as u64;
        while let Some((at_ms, start, _, timed)) = self.actions.get(self.next) {
            if at_ms * 1000 > now_us {
                break;
            }
            let (start, fault) = (*start, timed.fault.clone());
            self.next += 1;
            let detail = apply(sim, clients, target, scenario, &fault, start);
            if let Some(detail) = detail {
                let detail = if start { detail } else { format!("{HEALED} {detail}") };
                trace.record_at(now_us, "sim", EventKind::Fault { fault: fault.name().to_owned(), detail });
            }
        }
    }
}

/// Starts or heals one fault; returns what it did, for the trace (server-side
/// faults are applied by the server itself and return `None`).
fn apply(
    sim: &mut turmoil::Sim<'_>,
    clients: &[String],
    target: &str,
    scenario: &Scenario,
    fault: &Fault,
    start: bool,
) -> Option<String> {
    let base =
        (Duration::from_millis(scenario.min_latency_ms), Duration::from_millis(scenario.max_latency_ms));
    for client in clients {
        let c = client.as_str();
        match (fault, start) {
            (Fault::Latency { latency_ms, jitter_ms }, true) => {
                sim.set_link_latency(c, target, Duration::from_millis(*latency_ms));
                sim.set_link_max_message_latency(c, target, Duration::from_millis(latency_ms + jitter_ms));
            }
            (Fault::Latency { .. }, false) => {
                sim.set_link_latency(c, target, base.0);
                sim.set_link_max_message_latency(c, target, base.1);
            }
            (Fault::Hold, true) => sim.hold(c, target),
            (Fault::Hold, false) => sim.release(c, target),
            (Fault::Partition { oneway: false }, true) => sim.partition(c, target),
            (Fault::Partition { oneway: true }, true) => sim.partition_oneway(target, c),
            (Fault::Partition { oneway }, false) => {
                if *oneway {
                    sim.repair_oneway(target, c)
                } else {
                    sim.repair(c, target)
                }
            }
            (Fault::Loss { rate }, true) => sim.set_link_fail_rate(c, target, *rate),
            (Fault::Loss { .. }, false) => {
                sim.set_link_fail_rate(c, target, 0.0);
                sim.repair(c, target);
            }
            _ => {}
        }
    }
    match (fault, start) {
        (Fault::CrashBounce, true) => sim.crash("server"),
        (Fault::CrashBounce, false) => sim.bounce("server"),
        (Fault::SlowHandler { .. } | Fault::TrailersOnly { .. }, _) => return None,
        _ => {}
    }
    Some(match fault {
        Fault::Latency { latency_ms, jitter_ms } => {
            format!("client links {latency_ms}ms +{jitter_ms}ms jitter")
        }
        Fault::Hold => "client links held".to_owned(),
        Fault::Partition { oneway: false } => "clients <-/-> server".to_owned(),
        Fault::Partition { oneway: true } => "server -/-> clients".to_owned(),
        Fault::CrashBounce => "server host".to_owned(),
        Fault::Loss { rate } => format!("client links lose messages, p={rate}"),
        Fault::SlowHandler { .. } | Fault::TrailersOnly { .. } => unreachable!("returned above"),
    })
}
