//! The store's nodes. Node [`PRIMARY`] holds the store in memory and answers every client
//! operation; the backups keep a copy on disk (durable across crashes) and forward the client
//! operations they are asked to the primary. A write is applied to a copy of the store, stamped
//! (the primary's start, a number never used twice in it), sent whole to both backups, and only
//! then made visible and acknowledged. A backup keeps the highest stamp it was given. A primary
//! that restarted, or whose write may have reached one backup and not the other, first
//! recovers the newest state the backups hold and gives it to both. Every node-to-node request
//! carries the client's call id ([`Peer::request`]), so a fault on a link between nodes is
//! blamed only for the calls that crossed it.
//!
//! The bug ([`Ack::Early`]): the primary acknowledges a write as soon as it has applied it, and
//! replicates it in the background a flush interval later. Nothing shows it until the primary
//! crashes before the backups have the write: the restarted primary recovers a state without it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use faultline_sim::Peer;
use faultline_sim::net::InTask;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::proto::kv_client::KvClient;
use crate::proto::kv_server::{self, KvServer};
use crate::proto::replica_client::ReplicaClient;
use crate::proto::replica_server::{self, ReplicaServer};
use crate::proto::{
    Applied, CasReply, CasRequest, Entry, FetchRequest, GetReply, GetRequest, PutReply, PutRequest, State,
};

/// The node that answers clients.
pub const PRIMARY: &str = "a";
/// The nodes that keep copies.
pub const BACKUPS: [&str; 2] = ["b", "c"];
/// How long a node waits for a backup.
const REPLICA_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a backup waits for the primary to answer a client's operation it forwarded.
const FORWARD_TIMEOUT: Duration = Duration::from_millis(400);
/// How long the buggy primary holds an acknowledged write before replicating it (a flush
/// interval), and how often it retries.
const FLUSH: Duration = Duration::from_millis(100);

/// The whole store as of one write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    /// The write's stamp: the primary's start (its incarnation), and its number in that start.
    pub stamp: (u32, u64),
    /// Every key written, with its value (a key never written reads 0).
    pub entries: BTreeMap<String, i64>,
}

impl Store {
    fn from_state(state: State) -> Self {
        let entries = state.entries.into_iter().map(|e| (e.key, e.value)).collect();
        Self { stamp: (state.epoch, state.seq), entries }
    }

    fn to_state(&self) -> State {
        let entries =
            self.entries.iter().map(|(key, value)| Entry { key: key.clone(), value: *value }).collect();
        State { epoch: self.stamp.0, seq: self.stamp.1, entries }
    }

    fn read(&self, key: &str) -> i64 {
        self.entries.get(key).copied().unwrap_or(0)
    }
}

/// A backup's copy: on its disk, so it survives the backup's crashes.
#[derive(Debug, Clone, Default)]
pub struct Disk(Arc<Mutex<Store>>);

/// When the primary acknowledges a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Once both backups hold it (the fix).
    Replicated,
    /// Once the primary has applied it; the backups get it in the background, a flush interval
    /// later (the bug).
    Early,
}

/// The primary's state: the store in memory (`None` until recovered), the stamps it has used,
/// and a lock that orders writes and recovery.
#[derive(Debug)]
struct Primary {
    store: Mutex<Option<Store>>,
    epoch: u32,
    /// The last write number this start used (a failed write's too).
    used: std::sync::atomic::AtomicU64,
    writing: tokio::sync::Mutex<()>,
    backups: Vec<Peer>,
    ack: Ack,
    /// Runs background work on the node (the bug's replication), as `ServerStart::spawner`
    /// does: a crash drops it with the node, in a fixed order (`tokio::spawn`'s would not be).
    background: InTask,
}

/// One node's `Kv` service: the primary's, or a backup's that forwards to it.
#[derive(Debug, Clone)]
pub struct KvNode {
    role: Role,
}

#[derive(Debug, Clone)]
enum Role {
    Primary(Arc<Primary>),
    Backup { primary: Peer },
}

/// A backup's `Replica` service over its disk.
#[derive(Debug, Clone)]
pub struct Backup {
    disk: Disk,
}

impl Backup {
    /// The service over `disk`.
    pub fn new(disk: Disk) -> ReplicaServer<Self> {
        ReplicaServer::new(Self { disk })
    }
}

impl KvNode {
    /// The primary at its `incarnation`-th start, with peers to the backups (at the first
    /// start there is nothing to recover).
    pub fn primary(backups: Vec<Peer>, ack: Ack, incarnation: u32, background: InTask) -> KvServer<Self> {
        let store = Mutex::new((incarnation == 0).then(Store::default));
        let used = std::sync::atomic::AtomicU64::new(0);
        let writing = tokio::sync::Mutex::new(());
        let primary = Primary { store, epoch: incarnation, used, writing, backups, ack, background };
        KvServer::new(Self { role: Role::Primary(Arc::new(primary)) })
    }

    /// A backup, forwarding client operations to `primary`.
    pub fn backup(primary: Peer) -> KvServer<Self> {
        KvServer::new(Self { role: Role::Backup { primary } })
    }
}

/// A failed node-to-node call, as the node reports it to its own caller.
fn unreachable(peer: &Peer, status: &Status) -> Status {
    Status::unavailable(format!(
        "node {} did not answer: {:?} {}",
        peer.name(),
        status.code(),
        status.message()
    ))
}

impl Primary {
    fn current(&self) -> Option<Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Requests to each backup for the call `incoming` belongs to (recording the hops now: a
    /// call that waits for the write lock waits on these links too).
    fn requests(&self, incoming: &MetadataMap) -> Vec<(Peer, Request<()>)> {
        self.backups.iter().map(|p| (p.clone(), p.request(incoming, ()))).collect()
    }

    /// After a restart: the newest state either backup holds, given to both, then served.
    /// Call with the write lock held.
    async fn recover(&self, requests: &[(Peer, Request<()>)]) -> Result<Store, Status> {
        if let Some(store) = self.current() {
            return Ok(store);
        }
        let mut newest = Store::default();
        for (peer, request) in requests {
            let mut fetch =
                Request::from_parts(request.metadata().clone(), Default::default(), FetchRequest {});
            fetch.set_timeout(REPLICA_TIMEOUT);
            let state =
                ReplicaClient::new(peer.channel()).fetch(fetch).await.map_err(|s| unreachable(peer, &s))?;
            let store = Store::from_state(state.into_inner());
            if store.stamp > newest.stamp {
                newest = store;
            }
        }
        replicate(&newest, requests).await?;
        *self.store.lock().unwrap_or_else(PoisonError::into_inner) = Some(newest.clone());
        Ok(newest)
    }

    /// Applies a write (`None`: a compare-and-set that did not match, nothing to write).
    async fn write(
        &self,
        incoming: &MetadataMap,
        change: impl FnOnce(&Store) -> Option<(String, i64)>,
    ) -> Result<bool, Status> {
        // The call waits on the backups if it replicates, or recovers first.
        let waits = self.ack == Ack::Replicated || self.current().is_none();
        let requests = if waits { self.requests(incoming) } else { Vec::new() };
        let _writing = self.writing.lock().await;
        let store = self.recover(&requests).await?;
        let Some((key, value)) = change(&store) else { return Ok(false) };
        let mut next = store;
        next.entries.insert(key, value);
        let seq = self.used.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        next.stamp = (self.epoch, seq);
        match self.ack {
            Ack::Replicated => {
                // A backup may have taken the write even if its answer was lost: until the
                // backups are asked again, the store is unknown.
                if let Err(status) = replicate(&next, &requests).await {
                    *self.store.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    return Err(status);
                }
                *self.store.lock().unwrap_or_else(PoisonError::into_inner) = Some(next);
            }
            Ack::Early => {
                *self.store.lock().unwrap_or_else(PoisonError::into_inner) = Some(next.clone());
                // After the answer: no call waits for this, so it carries no call's id.
                let backups = self.backups.clone();
                self.background.spawn(async move {
                    for peer in backups {
                        tokio::time::sleep(FLUSH).await;
                        while apply(&peer, &Request::new(()), &next).await.is_err() {
                            tokio::time::sleep(FLUSH).await;
                        }
                    }
                });
            }
        }
        Ok(true)
    }

    async fn read(&self, incoming: &MetadataMap, key: &str) -> Result<i64, Status> {
        if let Some(store) = self.current() {
            return Ok(store.read(key));
        }
        let requests = self.requests(incoming);
        let _writing = self.writing.lock().await;
        Ok(self.recover(&requests).await?.read(key))
    }
}

/// Gives `store` to one backup.
async fn apply(peer: &Peer, request: &Request<()>, store: &Store) -> Result<(), Status> {
    let mut apply = Request::from_parts(request.metadata().clone(), Default::default(), store.to_state());
    apply.set_timeout(REPLICA_TIMEOUT);
    ReplicaClient::new(peer.channel()).apply(apply).await.map_err(|s| unreachable(peer, &s))?;
    Ok(())
}

/// Gives `store` to every backup, in turn; fails if one does not take it.
async fn replicate(store: &Store, requests: &[(Peer, Request<()>)]) -> Result<(), Status> {
    for (peer, request) in requests {
        apply(peer, request, store).await?;
    }
    Ok(())
}

/// A forwarded request: the client's message, carrying its call id, with the forward timeout.
fn forward<T>(primary: &Peer, incoming: &MetadataMap, message: T) -> Request<T> {
    let mut request = primary.request(incoming, message);
    request.set_timeout(FORWARD_TIMEOUT);
    request
}

#[tonic::async_trait]
impl kv_server::Kv for KvNode {
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutReply>, Status> {
        match &self.role {
            Role::Backup { primary } => {
                let forwarded = forward(primary, request.metadata(), request.get_ref().clone());
                KvClient::new(primary.channel()).put(forwarded).await.map_err(|s| unreachable(primary, &s))
            }
            Role::Primary(node) => {
                let PutRequest { key, value } = request.get_ref().clone();
                node.write(request.metadata(), |_| Some((key, value))).await?;
                Ok(Response::new(PutReply {}))
            }
        }
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        match &self.role {
            Role::Backup { primary } => {
                let forwarded = forward(primary, request.metadata(), request.get_ref().clone());
                KvClient::new(primary.channel()).get(forwarded).await.map_err(|s| unreachable(primary, &s))
            }
            Role::Primary(node) => {
                let value = node.read(request.metadata(), &request.get_ref().key).await?;
                Ok(Response::new(GetReply { value }))
            }
        }
    }

    async fn cas(&self, request: Request<CasRequest>) -> Result<Response<CasReply>, Status> {
        match &self.role {
            Role::Backup { primary } => {
                let forwarded = forward(primary, request.metadata(), request.get_ref().clone());
                KvClient::new(primary.channel()).cas(forwarded).await.map_err(|s| unreachable(primary, &s))
            }
            Role::Primary(node) => {
                let CasRequest { key, expect, value } = request.get_ref().clone();
                let change = |store: &Store| (store.read(&key) == expect).then(|| (key.clone(), value));
                let swapped = node.write(request.metadata(), change).await?;
                Ok(Response::new(CasReply { swapped }))
            }
        }
    }
}

#[tonic::async_trait]
impl replica_server::Replica for Backup {
    async fn apply(&self, request: Request<State>) -> Result<Response<Applied>, Status> {
        let store = Store::from_state(request.into_inner());
        let mut held = self.disk.0.lock().unwrap_or_else(PoisonError::into_inner);
        if store.stamp > held.stamp {
            *held = store;
        }
        Ok(Response::new(Applied {}))
    }

    async fn fetch(&self, _: Request<FetchRequest>) -> Result<Response<State>, Status> {
        Ok(Response::new(self.disk.0.lock().unwrap_or_else(PoisonError::into_inner).to_state()))
    }
}
