//! A user's own service under Faultline: named counters that only grow, kept across crashes.
//! The planted bug ([`BUG`]) keeps the totals in the server's memory, so a crash loses
//! acknowledged additions: only a crash shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use faultline_sim::rand::Rng;
use faultline_sim::rand_chacha::ChaCha8Rng;
use faultline_sim::tonic::service::Routes;
use faultline_sim::tonic::{self, Code, Request, Response, Status};
use faultline_sim::{Call, CallRecord, Property, Scenario, ServerStart, System, Violation};
use serde::{Deserialize, Serialize};

/// The generated code of `proto/counter.proto`.
pub mod proto {
    tonic::include_proto!("counter");
}

use proto::counter_client::CounterClient;
use proto::counter_server::{Counter, CounterServer};
use proto::{AddRequest, GetRequest, Total};

/// The planted bug: totals live in the server's memory, not in its durable state.
pub const BUG: &str = "volatile-totals";
/// Every acknowledged addition is in every later read; nothing is counted that was never sent.
pub const DURABLE: Property = Property::Oracle("durable");

const KEYS: [&str; 2] = ["apples", "pears"];

/// The totals, shared by every server start that keeps them.
#[derive(Debug, Clone, Default)]
pub struct Totals(Arc<Mutex<BTreeMap<String, i64>>>);

/// The service.
#[derive(Debug, Clone)]
pub struct CounterService(pub Totals);

#[tonic::async_trait]
impl Counter for CounterService {
    async fn add(&self, request: Request<AddRequest>) -> Result<Response<Total>, Status> {
        let AddRequest { key, amount } = request.into_inner();
        if amount <= 0 {
            return Err(Status::invalid_argument("amount must be positive"));
        }
        let mut totals = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        let total = totals.entry(key).or_default();
        *total += amount;
        Ok(Response::new(Total { total: *total }))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Total>, Status> {
        let totals = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Response::new(Total { total: totals.get(&request.into_inner().key).copied().unwrap_or(0) }))
    }
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    Add { key: String, amount: i64 },
    Get { key: String },
}

/// The counters, as a system under test.
#[derive(Debug, Default)]
pub struct Counters;

impl System for Counters {
    type Op = Op;
    /// The total a call returned.
    type Reply = i64;

    fn routes(&self, start: &ServerStart) -> Routes {
        let totals = if start.mutant.as_deref() == Some(BUG) { Totals::default() } else { start.durable() };
        Routes::new(CounterServer::new(CounterService(totals)))
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Op {
        let key = KEYS[rng.random_range(0..KEYS.len())].to_owned();
        if rng.random_bool(0.25) { Op::Get { key } } else { Op::Add { key, amount: rng.random_range(1..=5) } }
    }

    async fn perform(&self, op: Op, call: Call<i64>) -> Result<(), Status> {
        let mut client = CounterClient::new(call.channel());
        call.sent(format_args!("{op:?}"));
        let total = match op {
            Op::Add { key, amount } => client.add(call.request(AddRequest { key, amount })).await?,
            Op::Get { key } => client.get(call.request(GetRequest { key })).await?,
        };
        call.received(total.into_inner().total);
        Ok(())
    }

    fn probes(&self) -> Vec<Op> {
        vec![Op::Get { key: KEYS[0].to_owned() }]
    }

    fn check_history(&self, history: &[CallRecord<Op, i64>]) -> Vec<Violation> {
        check(history)
    }

    fn validate(&self, scenario: &Scenario<Op>) -> Result<(), String> {
        match scenario.mutant.as_deref() {
            None | Some(BUG) => Ok(()),
            Some(other) => Err(format!("unknown mutant `{other}` (the counters know `{BUG}`)")),
        }
    }
}

/// The oracle, from what a counter promises: a total a call returns is at least every addition
/// acknowledged before that call began (plus its own), and at most every addition begun
/// before it ended.
pub fn check(history: &[CallRecord<Op, i64>]) -> Vec<Violation> {
    let mut out = Vec::new();
    for read in history {
        let (Some(&total), Op::Add { key, .. } | Op::Get { key }) = (read.replies.first(), &read.op) else {
            continue;
        };
        let (mut low, mut high) = (0, 0);
        for add in history {
            let Op::Add { key: k, amount } = &add.op else { continue };
            if k != key {
                continue;
            }
            let acknowledged = add.call.code == Code::Ok && !add.replies.is_empty();
            if add.call.id == read.call.id || (acknowledged && add.call.end_us <= read.call.start_us) {
                low += amount;
            }
            if add.call.start_us <= read.call.end_us {
                high += amount;
            }
        }
        if total < low || total > high {
            out.push(Violation {
                property: DURABLE,
                call: Some(read.call.id),
                detail: format!(
                    "`{key}` read {total}, but acknowledged additions make at least {low} and at most {high}"
                ),
            });
        }
    }
    out
}
