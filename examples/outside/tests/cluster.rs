//! The counters as a cluster of two nodes, written as a user writes one: node `front` forwards
//! every call to node `store`, which keeps the totals. Faults between them, and crashes of the
//! store, are excused for the calls that crossed them; the planted bug (volatile totals) is
//! caught by a crash of the store and by nothing that leaves it up.

use faultline_sim::catalogue;
use faultline_sim::tonic::service::Routes;
use faultline_sim::tonic::{self, Request, Response, Status};
use faultline_sim::{Call, CallRecord, Harness, Peer, Scenario, ServerStart, System, Violation};
use outside_counter::proto::counter_client::CounterClient;
use outside_counter::proto::counter_server::{Counter, CounterServer};
use outside_counter::proto::{AddRequest, GetRequest, Total};
use outside_counter::{BUG, CounterService, Counters, DURABLE, Op, Totals};

/// The front node: every call forwarded to the store, carrying the client's call id.
struct Front(Peer);

#[tonic::async_trait]
impl Counter for Front {
    async fn add(&self, request: Request<AddRequest>) -> Result<Response<Total>, Status> {
        let forward = self.0.request(request.metadata(), request.get_ref().clone());
        CounterClient::new(self.0.channel()).add(forward).await
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Total>, Status> {
        let forward = self.0.request(request.metadata(), request.get_ref().clone());
        CounterClient::new(self.0.channel()).get(forward).await
    }
}

/// The counters behind a front node.
struct Fronted;

impl System for Fronted {
    type Op = Op;
    type Reply = i64;

    fn nodes(&self) -> Vec<String> {
        vec!["front".to_owned(), "store".to_owned()]
    }

    fn routes(&self, start: &ServerStart) -> Routes {
        if start.node == "front" {
            return Routes::new(CounterServer::new(Front(start.peer("store"))));
        }
        let totals = if start.mutant.as_deref() == Some(BUG) { Totals::default() } else { start.durable() };
        Routes::new(CounterServer::new(CounterService(totals)))
    }

    fn generate(&self, rng: &mut faultline_sim::rand_chacha::ChaCha8Rng) -> Op {
        Counters.generate(rng)
    }

    async fn perform(&self, op: Op, call: Call<i64>) -> Result<(), Status> {
        Counters.perform(op, call).await
    }

    fn probes(&self) -> Vec<Op> {
        Counters.probes()
    }

    fn check_history(&self, history: &[CallRecord<Op, i64>]) -> Vec<Violation> {
        Counters.check_history(history)
    }

    fn validate(&self, scenario: &Scenario<Op>) -> Result<(), String> {
        Counters.validate(scenario)
    }
}

fn cluster() -> Vec<Scenario<Op>> {
    catalogue::cluster(&Fronted.nodes())
}

#[test]
fn faults_between_the_nodes_are_excused_for_the_calls_that_crossed_them() {
    Harness::new(Fronted).scenarios(cluster()).seeds(0..2).check();
}

#[test]
fn volatile_totals_are_caught_by_a_crash_of_the_store_only() {
    let buggy = cluster().into_iter().map(|s| s.mutant(BUG));
    let findings = Harness::new(Fronted).scenarios(buggy).seeds(0..2).run().unwrap();
    let caught: Vec<&str> = findings.iter().map(|f| f.scenario.as_str()).collect();
    assert!(caught.contains(&"node-crash"), "caught only by {caught:?}");
    for f in &findings {
        let scenario = cluster().into_iter().find(|s| s.name == f.scenario).unwrap();
        let crashes_store = scenario.faults.iter().any(|t| t.fault.name() == "crash-bounce" && t.at_node("store"));
        assert!(crashes_store, "{}", f.text);
        assert!(f.report.violations.iter().any(|v| v.property == DURABLE), "{}", f.text);
    }
}
