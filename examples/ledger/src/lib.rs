//! A small gRPC ledger under Faultline: the user side of the harness, for a service that is
//! not the tutorial's. Its retrying client meets a real bug only faults reveal — a transfer
//! retried after a lost reply is applied twice — unless the server honours the transfer's id
//! as an idempotency key, which it does unless the scenario names the mutant [`BUG`].
//!
//! [`service`] is the service itself, [`model`] its operations and oracle; this file is all the
//! rest: the whole of what a user writes to put a service under Faultline.

pub mod model;
pub mod service;

/// The generated code of `proto/ledger.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("ledger");
}

use std::time::Duration;

use faultline_sim::{Call, CallRecord, Scenario, ServerStart, System, Violation};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tonic::service::Routes;
use tonic::{Code, Status};

pub use crate::model::{Op, Reply, account, transfer_id};
use crate::proto::ledger_client::LedgerClient;
use crate::proto::{BalanceRequest, TransferRequest};
use crate::service::{Book, Keys, LedgerService};

/// The bug, by the name scenario files give it: transfer ids are not idempotency keys.
pub const BUG: &str = "no-idempotency-key";

/// A bug only crashes reveal: the idempotency keys live in the server's memory, not in the
/// book, so a transfer retried across a restart is applied twice (`--mutant volatile-keys`).
pub const VOLATILE_KEYS: &str = "volatile-keys";

/// How long the client waits before retrying a transfer that failed UNAVAILABLE.
const BACKOFF: Duration = Duration::from_millis(50);

/// Operations for property search.
pub fn ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u8, 0..4u8, 1..=20i64).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        1 => Just(Op::Balance),
    ]
}

/// The ledger, as a system under test.
#[derive(Debug, Default)]
pub struct Ledger;

impl System for Ledger {
    type Op = Op;
    type Reply = Reply;

    fn routes(&self, start: &ServerStart) -> Routes {
        let keys = match start.mutant.as_deref() {
            Some(BUG) => Keys::None,
            Some(VOLATILE_KEYS) => Keys::Volatile,
            _ => Keys::Durable,
        };
        Routes::new(LedgerService::new(start.durable::<Book>(), keys).into_service())
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Op {
        if rng.random_bool(0.2) {
            return Op::Balance;
        }
        Op::Transfer {
            from: rng.random_range(0..4),
            to: rng.random_range(0..4),
            amount: rng.random_range(1..=20),
        }
    }

    async fn perform(&self, op: Op, call: Call<Reply>) -> Result<(), Status> {
        let mut ledger = LedgerClient::new(call.channel());
        match op {
            Op::Transfer { from, to, amount } => {
                let id = transfer_id(call.id());
                let request = TransferRequest { id, from: account(from), to: account(to), amount };
                call.sent(format_args!("{request:?}"));
                // The client retries, with the same id, while its deadline allows: on UNAVAILABLE,
                // and on UNKNOWN, which is how a server crashing mid-call reaches tonic (the id
                // makes a transfer whose outcome is unknown safe to send again).
                while let Err(status) = ledger.transfer(call.request(request.clone())).await {
                    let retry = matches!(status.code(), Code::Unavailable | Code::Unknown);
                    if !retry || call.remaining() <= BACKOFF {
                        return Err(status);
                    }
                    tokio::time::sleep(BACKOFF).await;
                }
                call.received(Reply::Transferred);
            }
            Op::Balance => {
                call.sent("BalanceRequest");
                let books = ledger.balance(call.request(BalanceRequest {})).await?.into_inner();
                let balances = books.accounts.into_iter().map(|a| (a.name, a.balance)).collect();
                call.received(Reply::Books { balances, journal: books.journal });
            }
        }
        Ok(())
    }

    fn probes(&self) -> Vec<Op> {
        vec![Op::Balance]
    }

    fn check_history(&self, history: &[CallRecord<Op, Reply>]) -> Vec<Violation> {
        model::check(history)
    }

    fn validate(&self, scenario: &Scenario<Op>) -> Result<(), String> {
        match scenario.mutant.as_deref() {
            None | Some(BUG | VOLATILE_KEYS) => Ok(()),
            Some(other) => {
                Err(format!("unknown mutant `{other}` (the ledger knows `{BUG}`, `{VOLATILE_KEYS}`)"))
            }
        }
    }
}
