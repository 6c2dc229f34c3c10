//! The transcripts inside the simulator: the same replay and player over turmoil TCP, on the
//! `smoke` scenario's network (its latency range, random delivery order, seeded), so the
//! simulation and the conformance suite agree on what a correct call is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_services::Mutant;
use faultline_sim::World;
use faultline_sim::net::{self, GRPC_PORT, Traffic};
use faultline_sim::server::SimClock;
use faultline_sim::trace::Trace;
use tokio::sync::mpsc;

use crate::known::Direction;
use crate::play::{Played, play_server_side};
use crate::replay::{blank, replay_client_side};
use crate::rules::Rules;
use crate::suite::client_observation;
use crate::transcript::{Call, CallStatus, StatusSource};
use crate::{client, server};

/// The scenario whose network the transcripts run on.
pub const SCENARIO: &str = "smoke";

/// Runs every call in `direction` in one simulation; returns one observation per call, in order.
/// Deterministic in (calls, seed).
pub fn run(
    direction: Direction,
    calls: &[Call],
    rules: &Rules,
    seed: u64,
    mutant: Option<Mutant>,
) -> Vec<Call> {
    let mut smoke = faultline_tutorial::find(SCENARIO).expect("the catalogue has a smoke scenario");
    smoke.limit_ms = Duration::from_secs(3_600).as_millis() as u64;
    let world = World::new(&smoke, seed);
    let mut sim = world.sim();
    let traffic = Traffic::default();
    let observed: Arc<Mutex<Vec<Call>>> = Arc::default();
    let calls: Arc<Vec<Call>> = Arc::new(calls.to_vec());
    let rules = Arc::new(rules.clone());
    let target = format!("server:{GRPC_PORT}");

    match direction {
        Direction::RustServer | Direction::Drift | Direction::Target => {
            sim.host("server", move || async move {
                let listener = net::bind_grpc().await?;
                let config = server::config(Arc::new(SimClock::new()), mutant).date_header(false);
                let server = faultline_server::Server::new(config);
                server.serve_in_task(net::incoming(listener, "server", &Traffic::default())).await?;
                Ok(())
            });
            let (calls, rules, observed) = (calls.clone(), rules.clone(), observed.clone());
            sim.client("client", async move {
                for call in calls.iter() {
                    let seen = match turmoil::net::TcpStream::connect(target.as_str()).await {
                        Ok(stream) => replay_client_side(stream, call, &rules).await,
                        Err(e) => unreachable_call(call, &e.to_string()),
                    };
                    observed.lock().expect("observed lock").push(seen);
                }
                Ok(())
            });
        }
        Direction::RustClient => {
            // The player answers connections in call order; the client waits for each play to
            // finish before the next call, so connection k is call k.
            let (played_tx, played_rx) = mpsc::unbounded_channel::<Played>();
            let played_rx = Arc::new(tokio::sync::Mutex::new(played_rx));
            let (server_calls, server_rules) = (calls.clone(), rules.clone());
            sim.host("server", move || {
                let (calls, rules, played_tx) =
                    (server_calls.clone(), server_rules.clone(), played_tx.clone());
                async move {
                    let listener = net::bind_grpc().await?;
                    for call in calls.iter() {
                        let (stream, _) = listener.accept().await?;
                        let played = play_server_side(stream, call, &rules).await;
                        let _ = played_tx.send(played);
                    }
                    Ok(())
                }
            });
            let (calls, rules, observed) = (calls.clone(), rules.clone(), observed.clone());
            sim.client("client", async move {
                for call in calls.iter() {
                    let channel = net::channel("client", &target, &world.net, &Trace::default(), &traffic);
                    let outcome = client::run(channel, call, &rules).await;
                    let played = played_rx.lock().await.recv().await.unwrap_or_default();
                    observed.lock().expect("observed lock").push(client_observation(call, played, outcome));
                }
                Ok(())
            });
        }
    }
    if let Err(e) = sim.run() {
        let mut seen = observed.lock().expect("observed lock");
        let done = seen.len();
        for call in &calls[done..] {
            seen.push(unreachable_call(call, &format!("simulation ended: {e}")));
        }
    }
    std::mem::take(&mut *observed.lock().expect("observed lock"))
}

fn unreachable_call(call: &Call, why: &str) -> Call {
    let mut observed = blank(call);
    observed.status = CallStatus::new(tonic::Code::Unavailable, why, StatusSource::Client);
    observed
}
