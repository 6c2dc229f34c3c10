//! A replicated key-value store under Faultline: a cluster of three tonic nodes that call each
//! other. Clients put, get and compare-and-set two keys through any node; node `a`, the
//! primary, replicates every write to backups `b` and `c` before it answers; the oracle checks
//! that the whole history is linearizable.
//!
//! The bug ([`BUG`], `--with-bug`): the primary answers a write before the backups have it. No
//! fault of the network alone shows it, nor a clean run; a crash of the primary while writes
//! are on their way (a partition between it and the backups makes that wide) loses writes
//! already acknowledged.
//!
//! [`service`] is the store itself, [`model`] its operations and oracle; this file is the rest:
//! what a user writes to put a cluster under Faultline.

pub mod model;
pub mod service;

/// The generated code of `proto/kv.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("kv");
}

use faultline_sim::{Call, CallRecord, Scenario, ServerStart, System, Violation, catalogue};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tonic::Status;
use tonic::service::Routes;

pub use crate::model::{KEYS, LINEARIZABLE, Op, Reply};
use crate::proto::kv_client::KvClient;
use crate::proto::{CasRequest, GetRequest, PutRequest};
use crate::service::{Ack, BACKUPS, Backup, Disk, KvNode, PRIMARY};

/// The bug, by the name scenario files give it: the primary acknowledges a write before the
/// backups have it.
pub const BUG: &str = "early-ack";

/// The nodes, the primary first.
pub const NODES: [&str; 3] = [PRIMARY, BACKUPS[0], BACKUPS[1]];

/// Operations for property search: any node, two keys (a handful of operations then meet on
/// one), small values (so compare-and-set sometimes swaps).
pub fn ops() -> impl Strategy<Value = Op> {
    let via = 0..NODES.len() as u8;
    let key = 0..2u8;
    prop_oneof![
        2 => (via.clone(), key.clone(), 1..=20i64).prop_map(|(via, key, value)| Op::Put { via, key, value }),
        2 => (via.clone(), key.clone()).prop_map(|(via, key)| Op::Get { via, key }),
        1 => (via, key, 0..=20i64, 1..=20i64)
            .prop_map(|(via, key, expect, value)| Op::Cas { via, key, expect, value }),
    ]
}

/// The store, as a system under test.
#[derive(Debug, Default)]
pub struct Kv;

impl System for Kv {
    type Op = Op;
    type Reply = Reply;

    fn nodes(&self) -> Vec<String> {
        NODES.map(String::from).to_vec()
    }

    fn routes(&self, start: &ServerStart) -> Routes {
        if start.node == PRIMARY {
            let ack = if start.mutant.as_deref() == Some(BUG) { Ack::Early } else { Ack::Replicated };
            let backups = BACKUPS.iter().map(|b| start.peer(b)).collect();
            return Routes::new(KvNode::primary(backups, ack, start.incarnation, start.spawner()));
        }
        Routes::new(KvNode::backup(start.peer(PRIMARY))).add_service(Backup::new(start.durable::<Disk>()))
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Op {
        let via = rng.random_range(0..NODES.len() as u8);
        let key = rng.random_range(0..KEYS.len() as u8);
        match rng.random_range(0..5) {
            0 | 1 => Op::Put { via, key, value: rng.random_range(1..=20) },
            2 | 3 => Op::Get { via, key },
            _ => Op::Cas { via, key, expect: rng.random_range(0..=20), value: rng.random_range(1..=20) },
        }
    }

    async fn perform(&self, op: Op, call: Call<Reply>) -> Result<(), Status> {
        let node = NODES[usize::from(op.via()) % NODES.len()];
        let mut kv = KvClient::new(call.channel_to(node));
        let key = op.key().to_owned();
        call.sent(format_args!("{op:?}"));
        let reply = match op {
            Op::Put { value, .. } => {
                kv.put(call.request(PutRequest { key, value })).await?;
                Reply::Done
            }
            Op::Get { .. } => {
                Reply::Value(kv.get(call.request(GetRequest { key })).await?.into_inner().value)
            }
            Op::Cas { expect, value, .. } => {
                let request = call.request(CasRequest { key, expect, value });
                Reply::Swapped(kv.cas(request).await?.into_inner().swapped)
            }
        };
        call.received(reply);
        Ok(())
    }

    fn probes(&self) -> Vec<Op> {
        (0..KEYS.len() as u8).map(|key| Op::Get { via: 0, key }).collect()
    }

    fn check_history(&self, history: &[CallRecord<Op, Reply>]) -> Vec<Violation> {
        model::check(history)
    }

    /// The fault catalogue but its two volume scenarios (checking the linearizability of
    /// 10,000 operations is beyond the oracle's budget), and the cluster scenarios.
    fn catalogue(&self) -> Vec<Scenario<Op>> {
        let mut all: Vec<Scenario<Op>> =
            catalogue::faults().into_iter().filter(|s| !s.name.starts_with("soak")).collect();
        all.extend(catalogue::cluster(&self.nodes()));
        all
    }

    fn validate(&self, scenario: &Scenario<Op>) -> Result<(), String> {
        match scenario.mutant.as_deref() {
            None | Some(BUG) => Ok(()),
            Some(other) => Err(format!("unknown mutant `{other}` (the store knows `{BUG}`)")),
        }
    }
}
