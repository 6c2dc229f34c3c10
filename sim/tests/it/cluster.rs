//! Clusters: nodes that call each other over the simulated network. A relay of three greeters —
//! node `a` answers by asking node `b`, node `c` answers itself — shows that a fault between two
//! nodes explains the client failures it causes (the calls that hopped over its link) and only
//! those, and that the hop must carry the call's id for it to count.

use std::sync::Arc;
use std::time::Duration;

use faultline_proto::helloworld::greeter_client::GreeterClient;
use faultline_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use faultline_proto::helloworld::{HelloReply, HelloRequest};
use faultline_sim::check::check;
use faultline_sim::fault::{CLIENTS, Fault, TimedFault};
use faultline_sim::system::{CallRecord, CallSummary};
use faultline_sim::trace::{Event, EventKind, FaultEvent, Phase, Scope};
use faultline_sim::{
    Call, CallContext, Peer, Property, RunReport, Scenario, ServerStart, System, World, run,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};

/// A greeting through the cluster: asked of node `via`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Hello {
    via: String,
    name: String,
}

/// Three greeters; `a` relays to `b`. `stamp: false` relays without the call's id, as a node that
/// builds its own requests would.
struct Relay {
    stamp: bool,
}

#[derive(Clone)]
struct Node {
    name: String,
    next: Option<Peer>,
    stamp: bool,
}

impl Node {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let Some(peer) = &self.next else {
            let message = format!("{} greets {}", self.name, request.get_ref().name);
            return Ok(Response::new(HelloReply { message }));
        };
        let forward = HelloRequest { name: request.get_ref().name.clone() };
        let mut forward =
            if self.stamp { peer.request(request.metadata(), forward) } else { Request::new(forward) };
        forward.set_timeout(Duration::from_millis(400));
        let reply = GreeterClient::new(peer.channel())
            .say_hello(forward)
            .await
            .map_err(|s| Status::unavailable(format!("{} did not answer: {}", peer.name(), s.message())))?;
        Ok(Response::new(HelloReply { message: format!("{} via {}", reply.into_inner().message, self.name) }))
    }
}

#[tonic::async_trait]
impl Greeter for Node {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.hello(request).await
    }

    async fn say_hello_again(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.hello(request).await
    }
}

impl System for Relay {
    type Op = Hello;
    type Reply = String;

    fn nodes(&self) -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    fn routes(&self, start: &ServerStart) -> Routes {
        let next = (start.node == "a").then(|| start.peer("b"));
        Routes::new(GreeterServer::new(Node { name: start.node.clone(), next, stamp: self.stamp }))
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Hello {
        let via = if rng.random_bool(0.5) { "a" } else { "c" };
        Hello { via: via.to_owned(), name: format!("n{}", rng.random_range(0..100)) }
    }

    async fn perform(&self, op: Hello, call: Call<String>) -> Result<(), Status> {
        call.sent(&op.name);
        let request = call.request(HelloRequest { name: op.name });
        let reply = GreeterClient::new(call.channel_to(&op.via)).say_hello(request).await?;
        call.received(reply.into_inner().message);
        Ok(())
    }

    fn check_call(
        &self,
        record: &CallRecord<Hello, String>,
        _: &CallContext<'_>,
        fail: &mut dyn FnMut(Property, String),
    ) {
        let want = match record.op.via.as_str() {
            "a" => format!("b greets {} via a", record.op.name),
            _ => format!("c greets {}", record.op.name),
        };
        if record.replies.iter().any(|r| *r != want) {
            fail(Property::Oracle("greeting"), format!("{:?}, not {want:?}", record.replies));
        }
    }
}

/// Busy clients, with `fault` on from 0.3 s for 0.6 s.
fn scenario(fault: TimedFault) -> Scenario<Hello> {
    Scenario::new("relay")
        .clients(2)
        .calls_per_client(60)
        .concurrency(2)
        .think(Duration::from_millis(10))
        .timed(fault)
}

fn runs(system: Relay, scenario: &Scenario<Hello>) -> Vec<RunReport> {
    let system = Arc::new(system);
    (0..4).map(|seed| run(&system, scenario, seed)).collect()
}

/// The failed calls of a run, by the node the client asked.
fn failed_via(report: &RunReport, via: &str) -> usize {
    let asked = |id: u64| {
        report.events.iter().any(|e| {
            e.kind == EventKind::Hop { call: id, to: via.to_owned() } && e.host.starts_with("client")
        })
    };
    report.records.iter().filter(|r| r.code != Code::Ok && asked(r.id)).count()
}

#[test]
fn a_partition_between_two_nodes_explains_the_relayed_failures_and_only_those_fail() {
    let partition = TimedFault::new(300, 600, Fault::Partition { oneway: false }).between(&["a"], &["b"]);
    let mut relayed = 0;
    for report in runs(Relay { stamp: true }, &scenario(partition)) {
        assert!(report.passed(), "seed {}: {:?}", report.seed, report.violations);
        relayed += failed_via(&report, "a");
        assert_eq!(failed_via(&report, "c"), 0, "seed {}: a call to c failed", report.seed);
        // Node a's hops to b carry the client's call ids.
        assert!(
            report
                .events
                .iter()
                .any(|e| e.host == "a" && matches!(&e.kind, EventKind::Hop { to, .. } if to == "b"))
        );
    }
    assert!(relayed > 0, "the partition failed no relayed call: the test shows nothing");
}

#[test]
fn a_hop_without_the_call_id_leaves_its_failures_unexplained() {
    let partition = TimedFault::new(300, 600, Fault::Partition { oneway: false }).between(&["a"], &["b"]);
    let reports = runs(Relay { stamp: false }, &scenario(partition));
    let failed: Vec<_> = reports.iter().flat_map(|r| &r.violations).collect();
    assert!(!failed.is_empty(), "relayed failures without a hop were excused");
    for v in failed {
        assert_eq!(v.property, Property::Status, "{v:?}");
        assert!(v.detail.contains("on another path") || v.detail.contains("no fault"), "{}", v.detail);
    }
}

#[test]
fn a_crash_of_the_relayed_node_explains_the_relayed_failures() {
    let crash = TimedFault::new(300, 400, Fault::CrashBounce).on("b");
    let mut relayed = 0;
    for report in runs(Relay { stamp: true }, &scenario(crash)) {
        assert!(report.passed(), "seed {}: {:?}", report.seed, report.violations);
        assert_eq!(failed_via(&report, "c"), 0, "seed {}", report.seed);
        relayed += failed_via(&report, "a");
        assert!(report.events.iter().any(|e| e.host == "b" && matches!(e.kind, EventKind::Host { .. })));
    }
    assert!(relayed > 0, "the crash failed no relayed call");
}

#[test]
fn a_proxy_fault_on_one_node_acts_on_its_connections_only() {
    let reset = TimedFault::new(0, 60_000, Fault::ConnectionReset { after_bytes: 600 }).on("b");
    let mut relayed = 0;
    for report in runs(Relay { stamp: true }, &scenario(reset)) {
        assert!(report.passed(), "seed {}: {:?}", report.seed, report.violations);
        assert_eq!(failed_via(&report, "c"), 0, "seed {}", report.seed);
        relayed += failed_via(&report, "a");
        let acted: Vec<&str> = report
            .events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Fault(f) if f.phase == Phase::Acted))
            .map(|e| e.host.as_str())
            .collect();
        assert!(!acted.is_empty() && acted.iter().all(|h| *h == "proxy-b"), "{acted:?}");
    }
    assert!(relayed > 0, "the resets failed no relayed call");
}

#[test]
fn a_client_link_fault_in_a_cluster_names_its_links() {
    let partition = TimedFault::new(300, 600, Fault::Partition { oneway: false }).between(&[CLIENTS], &["c"]);
    let mut cut = 0;
    for report in runs(Relay { stamp: true }, &scenario(partition)) {
        assert!(report.passed(), "seed {}: {:?}", report.seed, report.violations);
        assert_eq!(failed_via(&report, "a"), 0, "seed {}", report.seed);
        cut += failed_via(&report, "c");
        let scopes: Vec<String> = report
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Fault(f) if f.phase == Phase::Acted => Some(f.scope.to_string()),
                _ => None,
            })
            .collect();
        assert!(
            scopes.iter().all(|s| s.ends_with("<-> client-0") || s.ends_with("<-> client-1")),
            "{scopes:?}"
        );
    }
    assert!(cut > 0, "the partition failed no call to c");
}

/// The checker alone: an act on the link between `a` and `b` excuses a call whose path crossed
/// it, with any code a node may turn its peer's failure into, and no call that stayed away.
#[test]
fn an_act_between_two_nodes_excuses_only_the_calls_that_crossed_it() {
    const S: u64 = 1_000_000;
    let scenario = scenario(TimedFault::new(1_000, 1_000, Fault::Hold).between(&["a"], &["b"]));
    let fault = |at_us, phase, scope| Event {
        at_us,
        host: "sim".into(),
        kind: EventKind::Fault(FaultEvent {
            fault: "hold",
            index: 0,
            phase,
            touched: 3,
            scope,
            detail: String::new(),
        }),
    };
    let hop = |call, from: &str, to: &str| Event {
        at_us: S,
        host: from.into(),
        kind: EventKind::Hop { call, to: to.into() },
    };
    let events = vec![
        fault(S, Phase::Start, Scope::ClientLinks),
        hop(1, "client-0", "a"),
        hop(1, "a", "b"),
        hop(2, "client-0", "c"),
        fault(2 * S, Phase::Acted, Scope::between("a", "b")),
        fault(2 * S, Phase::Heal, Scope::ClientLinks),
    ];
    let record = |id, code| CallRecord {
        call: CallSummary {
            id,
            client: "client-0".into(),
            method: "Hello".into(),
            sent: 1,
            received: 0,
            code,
            message: String::new(),
            start_us: S,
            end_us: S + 500_000,
            deadline_us: 2 * S,
            half_close_us: None,
            cancelled_by_client: false,
            probe: false,
        },
        op: Hello { via: "a".into(), name: "n".into() },
        replies: Vec::new(),
    };
    let net = World::new(&scenario, 0).net;
    let records = [record(1, Code::Unavailable), record(2, Code::Unavailable)];
    let violations = check(&Relay { stamp: true }, &scenario, &records, &events, &net, 3 * S);
    let blamed: Vec<Option<u64>> = violations.iter().map(|v| v.call).collect();
    assert_eq!(blamed, vec![Some(2)], "{violations:?}");
    assert!(violations[0].detail.contains("on another path"), "{}", violations[0].detail);
}

/// Deadline propagation. Node `a` waits, then asks `b` with `Peer::request` and sets no timeout
/// of its own; `b` answers with the deadline its server took from the `grpc-timeout` it was sent.
/// `drop_deadline` forwards without it, as a node that builds its timeout-free request would.
struct Propagate {
    drop_deadline: bool,
}

/// How long node `a` works before it asks `b`: far longer than the network's latency, so a
/// forwarded timeout that was not shortened by it shows.
const WORK: Duration = Duration::from_millis(300);

#[derive(Clone)]
struct Asker {
    next: Option<Peer>,
    drop_deadline: bool,
}

#[tonic::async_trait]
impl Greeter for Asker {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let Some(peer) = &self.next else {
            let by = request.metadata().get(faultline_sim::net::DEADLINE).and_then(|v| v.to_str().ok());
            return Ok(Response::new(HelloReply { message: by.unwrap_or("none").to_owned() }));
        };
        tokio::time::sleep(WORK).await;
        let mut forward = peer.request(request.metadata(), request.get_ref().clone());
        if self.drop_deadline {
            forward.metadata_mut().remove("grpc-timeout");
        }
        GreeterClient::new(peer.channel()).say_hello(forward).await
    }

    async fn say_hello_again(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.say_hello(request).await
    }
}

impl System for Propagate {
    type Op = String;
    type Reply = String;

    fn nodes(&self) -> Vec<String> {
        ["a", "b"].map(String::from).to_vec()
    }

    fn routes(&self, start: &ServerStart) -> Routes {
        let next = (start.node == "a").then(|| start.peer("b"));
        Routes::new(GreeterServer::new(Asker { next, drop_deadline: self.drop_deadline }))
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> String {
        format!("n{}", rng.random_range(0..100))
    }

    async fn perform(&self, name: String, call: Call<String>) -> Result<(), Status> {
        call.sent(&name);
        let reply = GreeterClient::new(call.channel()).say_hello(call.request(HelloRequest { name })).await?;
        call.received(reply.into_inner().message);
        Ok(())
    }

    /// `b` must end the call by the client's deadline, give or take the time the requests took to
    /// travel (a relative timeout starts when it arrives).
    fn check_call(
        &self,
        record: &CallRecord<String, String>,
        context: &CallContext<'_>,
        fail: &mut dyn FnMut(Property, String),
    ) {
        let client = record.call.start_us + record.call.deadline_us;
        // Two hops, and a tick of the simulated clock.
        let slack = 2 * context.net.max_latency.as_micros() as u64 + context.net.tick.as_micros() as u64;
        for reply in &record.replies {
            match reply.parse::<u64>() {
                Ok(by) if (client..=client + slack).contains(&by) => {}
                _ => fail(
                    Property::Oracle("deadline propagated"),
                    format!("b was to end the call by {reply}, the client by {client}"),
                ),
            }
        }
    }
}

#[test]
fn a_peer_request_carries_what_is_left_of_the_clients_deadline() {
    let scenario =
        Scenario::new("propagate").clients(2).calls_per_client(10).deadline(Duration::from_secs(2));
    let system = Arc::new(Propagate { drop_deadline: false });
    for seed in 0..2 {
        let report = run(&system, &scenario, seed);
        assert!(report.passed(), "seed {seed}: {:?}", report.violations);
        assert_eq!(report.failed_calls, 0, "seed {seed}");
        assert_eq!(report.calls, 20);
    }
    // The oracle sees a deadline that was not passed on.
    let system = Arc::new(Propagate { drop_deadline: true });
    let report = run(&system, &scenario, 0);
    assert_eq!(report.violations.len(), 20, "{:?}", report.violations);
    assert!(report.violations.iter().all(|v| v.detail.contains("by none")), "{:?}", report.violations);
}
