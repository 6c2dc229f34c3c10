//! The physical limit of the simulator's work: the same tonic clients and the
//! same server assembly exchanging the same calls, over in-memory
//! `tokio::io::duplex` pipes on the calling (single-threaded) runtime, with no
//! simulator at all — no turmoil, no steps, no latency. What a simulated run
//! costs beyond this is the simulator's own overhead.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_server::{Server, ServerConfig, Services};
use faultline_sim::System;
use faultline_sim::system::{Caller, Plan};
use faultline_sim::trace::Trace;
use faultline_tutorial::Scenario;
use faultline_tutorial::Tutorial;
use faultline_wire::deadline::Deadline;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tonic::transport::Endpoint;

/// Bytes each direction of a pipe buffers (turmoil's TCP has no smaller window in practice).
const PIPE: usize = 1 << 16;

/// Runs `scenario`'s workload — its clients, lanes, generated six-method mix, RecordRoute
/// pauses and think times, drawn as the simulator's runner draws them — against `faultline
/// serve`'s assembly (`serve_in_task`, as the simulated server host runs it) over duplex pipes,
/// on the current thread: call it inside a `tokio::task::LocalSet` on a current-thread runtime
/// whose clock is paused, as every simulated host's is (the workload's zero-length think times
/// and pauses then cost no waiting for the timer).
/// Returns the calls that ended OK. Every call is recorded as in a simulated run (a trace and a
/// history); nothing is checked.
pub async fn run(scenario: &Scenario, seed: u64) -> u64 {
    let tutorial = Tutorial::shared();
    // As the simulated server host: no `date` header (it would read the wall clock per reply).
    let server = Server::new(ServerConfig::new(Services::All).date_header(false));
    let (accept, incoming) = mpsc::unbounded_channel::<io::Result<DuplexStream>>();
    let incoming =
        futures::stream::unfold(incoming, |mut rx| async move { rx.recv().await.map(|io| (io, rx)) });
    let served = tokio::task::spawn_local(async move { server.serve_in_task(incoming).await });

    let trace = Trace::default();
    let records = Arc::new(Mutex::new(Vec::new()));
    let deadline = Duration::from_millis(scenario.deadline_ms);
    let mut lanes = Vec::new();
    for client in 0..u64::from(scenario.clients) {
        let accept = accept.clone();
        // One connection per client, made when the channel first needs it, as in the simulator.
        let connector = tower::service_fn(move |_| {
            let (client_io, server_io) = tokio::io::duplex(PIPE);
            let sent = accept.send(Ok(server_io)).map_err(|_| io::Error::other("the server has stopped"));
            async move { sent.map(|()| TokioIo::new(client_io)) }
        });
        let channel = Endpoint::from_static("http://server:50051").connect_with_connector_lazy(connector);
        let host = format!("client-{client}");
        let caller = Caller::new(tutorial.clone(), Deadline::new(channel), &host, trace.clone());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ client);
        let mut planned: Vec<Vec<(Plan<_>, Duration)>> = vec![Vec::new(); scenario.concurrency as usize];
        for k in 0..u64::from(scenario.calls_per_client) {
            let op = tutorial.generate(&mut rng);
            let pauses = tutorial.pauses(&op, scenario, &mut rng);
            let think = Duration::from_millis(rng.random_range(0..=2 * scenario.think_ms));
            let plan = Plan {
                id: client * 1_000_000 + k,
                op,
                deadline: deadline + pauses.iter().sum::<Duration>(),
                cancel_after: None,
                pauses,
                probe: false,
            };
            planned[(k % u64::from(scenario.concurrency)) as usize].push((plan, think));
        }
        for lane in planned {
            let (caller, records) = (caller.clone(), records.clone());
            lanes.push(tokio::task::spawn_local(async move {
                let mut ok = 0;
                for (plan, think) in lane {
                    tokio::time::sleep(think).await;
                    let record = caller.call(plan).await;
                    ok += u64::from(record.call.code == tonic::Code::Ok);
                    records.lock().expect("records lock").push(record);
                }
                ok
            }));
        }
    }
    drop(accept);
    let mut ok = 0;
    for lane in lanes {
        ok += lane.await.expect("a lane does not panic");
    }
    served.abort();
    ok
}
