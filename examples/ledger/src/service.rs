//! The ledger server: accounts and their balances, and a journal of the transfers applied. Its
//! state lives in a [`Book`] that outlives crashes (the durable part of a server).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use tonic::{Request, Response, Status};

use crate::proto::ledger_server::{self, LedgerServer};
use crate::proto::{Account, BalanceReply, BalanceRequest, TransferReply, TransferRequest};

/// The accounts every ledger opens with, and what each holds at first.
pub const ACCOUNTS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Each account's opening balance.
pub const OPENING: i64 = 100;

/// What the ledger keeps: balances, the journal, the transfer ids already applied.
#[derive(Debug)]
struct Books {
    balances: BTreeMap<String, i64>,
    journal: Vec<String>,
    applied: BTreeSet<String>,
}

/// The ledger's durable state, shared by every server start of one run.
#[derive(Debug, Clone)]
pub struct Book(Arc<Mutex<Books>>);

impl Default for Book {
    fn default() -> Self {
        let balances = ACCOUNTS.iter().map(|a| ((*a).to_owned(), OPENING)).collect();
        Self(Arc::new(Mutex::new(Books { balances, journal: Vec::new(), applied: BTreeSet::new() })))
    }
}

/// The ledger service over a book.
#[derive(Debug, Clone)]
pub struct LedgerService {
    book: Book,
    /// Whether a transfer's id is honoured as an idempotency key (the fix). Without it, a
    /// transfer retried after its reply was lost is applied twice (the bug).
    idempotent: bool,
}

impl LedgerService {
    /// A ledger over `book`; `idempotent: false` is the buggy one.
    pub fn new(book: Book, idempotent: bool) -> Self {
        Self { book, idempotent }
    }

    /// This ledger as a tonic service.
    pub fn into_service(self) -> LedgerServer<Self> {
        LedgerServer::new(self)
    }
}

#[tonic::async_trait]
impl ledger_server::Ledger for LedgerService {
    async fn transfer(&self, request: Request<TransferRequest>) -> Result<Response<TransferReply>, Status> {
        let t = request.into_inner();
        let known = |a: &str| ACCOUNTS.contains(&a);
        if !known(&t.from) || !known(&t.to) || t.amount <= 0 {
            return Err(Status::invalid_argument("unknown account or non-positive amount"));
        }
        let mut books = self.book.0.lock().unwrap_or_else(PoisonError::into_inner);
        if self.idempotent && books.applied.contains(&t.id) {
            return Ok(Response::new(TransferReply {}));
        }
        *books.balances.entry(t.from).or_default() -= t.amount;
        *books.balances.entry(t.to).or_default() += t.amount;
        books.journal.push(t.id.clone());
        books.applied.insert(t.id);
        Ok(Response::new(TransferReply {}))
    }

    async fn balance(&self, _: Request<BalanceRequest>) -> Result<Response<BalanceReply>, Status> {
        let books = self.book.0.lock().unwrap_or_else(PoisonError::into_inner);
        let accounts = books
            .balances
            .iter()
            .map(|(name, balance)| Account { name: name.clone(), balance: *balance })
            .collect();
        Ok(Response::new(BalanceReply { accounts, journal: books.journal.clone() }))
    }
}
