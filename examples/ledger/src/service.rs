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

/// Where a ledger keeps the transfer ids it has applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// In the book, with the balances: they survive crashes (the fix).
    Durable,
    /// In the server's memory: a crash forgets them, so a transfer retried across a restart is
    /// applied twice (a bug only crashes reveal).
    Volatile,
    /// Nowhere: a transfer retried after its reply was lost is applied twice (the bug).
    None,
}

/// The ledger service over a book.
#[derive(Debug, Clone)]
pub struct LedgerService {
    book: Book,
    keys: Keys,
    /// The ids this server start has applied, for [`Keys::Volatile`].
    memory: Arc<Mutex<BTreeSet<String>>>,
}

impl LedgerService {
    /// A ledger over `book`, keeping its idempotency keys as `keys` says.
    pub fn new(book: Book, keys: Keys) -> Self {
        Self { book, keys, memory: Arc::default() }
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
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = match self.keys {
            Keys::Durable => books.applied.contains(&t.id),
            Keys::Volatile => !memory.insert(t.id.clone()),
            Keys::None => false,
        };
        if seen {
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
