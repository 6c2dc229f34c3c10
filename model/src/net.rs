//! tonic over turmoil: a client channel and a server incoming stream on turmoil's simulated
//! TCP, so the real service and client code run unchanged in the simulation; and a traffic
//! meter, so an injector can tell whether its fault touched any traffic.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use faultline_wire::deadline::Deadline;
use futures::Stream;
use hyper_util::rt::TokioIo;
use tokio_util::io::{InspectReader, InspectWriter};
use tonic::transport::{Channel, Endpoint};
use turmoil::net::{TcpListener, TcpStream};

use crate::fault::NetParams;
use crate::trace::{EventKind, Trace};

/// The request metadata naming a call: how the server hook and the proxy tell calls apart.
pub const CALL_ID: &str = "faultline-call";

/// The request metadata a node's server adds to a call that has a deadline: the simulated time
/// (µs) it must end by, from its `grpc-timeout` as it arrived. `Peer::request` sends the rest on.
pub const DEADLINE: &str = "faultline-deadline";

/// The port every simulated gRPC server listens on (the tutorial's).
pub const GRPC_PORT: u16 = 50051;

/// The channel simulated clients call through: tonic's, with deadlines enforced over whole
/// calls (see `faultline_wire::deadline`).
pub type SimChannel = Deadline<Channel>;

/// What crossed each (from host, to host) link, as of one moment.
pub type Snapshot = BTreeMap<(String, String), Flow>;

/// Bytes and writes that crossed each (from host, to host) link, and the connections open on
/// it. Cheap to clone; clones count together. Read between simulation steps, by injectors
/// judging whether a fault touched traffic.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    links: Arc<Mutex<Links>>,
    /// Every metered connection's two directions, by (writer's address, reader's address).
    streams: Arc<Mutex<Streams>>,
}

/// Connections' directions by (writer's address, reader's address).
type Streams = BTreeMap<(SocketAddr, SocketAddr), Arc<Direction>>;

/// One direction of one TCP connection: what its writer wrote, when, and what its reader read.
/// Bytes written and never read were lost (turmoil's TCP never retransmits, and a partition
/// drops what is in flight too), or never read by a peer that closed first.
#[derive(Debug)]
struct Direction {
    from: String,
    to: String,
    link: Arc<Counters>,
    written: AtomicU64,
    read: AtomicU64,
    /// (when, bytes written after it) of every write.
    writes: Mutex<Vec<(u64, u64)>>,
    /// Both ends are metered: a writer and a reader asked for this direction (the proxy does
    /// not meter its upstream connections).
    ends: AtomicU64,
}

impl Direction {
    fn wrote(&self, bytes: usize) {
        let after = self.written.fetch_add(bytes as u64, Ordering::SeqCst) + bytes as u64;
        let mut writes = self.writes.lock().expect("traffic lock is never poisoned");
        writes.push((crate::trace::sim_now_us(), after));
    }

    fn read(&self, bytes: usize) {
        self.read.fetch_add(bytes as u64, Ordering::SeqCst);
    }
}

/// Bytes of one direction of a connection that were written and never read: if a link fault
/// was on when the first of them was written, it broke that connection (its stream has a hole
/// that never fills).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The writer's host.
    pub from: String,
    /// The reader's host.
    pub to: String,
    /// When the first byte that never arrived was written, simulated microseconds.
    pub at_us: u64,
    /// Bytes written and never read.
    pub bytes: u64,
}

/// Every link's counters, by (from host, to host).
type Links = BTreeMap<(String, String), Arc<Counters>>;

/// One link's counters, shared by every metered connection on it (a write costs two atomic
/// additions, not a map lookup).
#[derive(Debug, Default)]
struct Counters {
    writes: AtomicU64,
    bytes: AtomicU64,
    open: AtomicU64,
}

/// What crossed one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// Write calls that carried bytes.
    pub writes: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Traffic {
    fn link(&self, from: &str, to: &str) -> Arc<Counters> {
        let mut links = self.links.lock().expect("traffic lock is never poisoned");
        links.entry((from.to_owned(), to.to_owned())).or_default().clone()
    }

    /// The counters of the link from `from` to `to`, for a writer that counts without the
    /// connection being metered (the proxy's writer tasks).
    pub fn meter(&self, from: &str, to: &str) -> LinkMeter {
        LinkMeter(self.link(from, to), None)
    }

    /// The meter of one connection's direction from `from` (host, address) to `to`: the link's
    /// counters, and the connection's own, which [`Traffic::losses`] reads.
    pub fn stream_meter(&self, from: (&str, SocketAddr), to: (&str, SocketAddr)) -> LinkMeter {
        let direction = self.direction(from, to);
        direction.ends.fetch_or(1, Ordering::SeqCst);
        LinkMeter(direction.link.clone(), Some(direction))
    }

    /// Counts what the reader `to` of the direction from `from` reads.
    pub fn read_meter(&self, from: (&str, SocketAddr), to: (&str, SocketAddr)) -> ReadMeter {
        let direction = self.direction(from, to);
        direction.ends.fetch_or(2, Ordering::SeqCst);
        ReadMeter(direction)
    }

    fn direction(&self, from: (&str, SocketAddr), to: (&str, SocketAddr)) -> Arc<Direction> {
        let link = self.link(from.0, to.0);
        let mut streams = self.streams.lock().expect("traffic lock is never poisoned");
        streams
            .entry((from.1, to.1))
            .or_insert_with(|| {
                Arc::new(Direction {
                    from: from.0.to_owned(),
                    to: to.0.to_owned(),
                    link,
                    written: AtomicU64::new(0),
                    read: AtomicU64::new(0),
                    writes: Mutex::new(Vec::new()),
                    ends: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Every direction of a connection that ended with bytes written and never read, by when
    /// the first of them was written. Read at the end of a run (bytes still in flight then
    /// count too; whoever reads this decides which losses a fault explains).
    pub fn losses(&self) -> Vec<Loss> {
        let streams = self.streams.lock().expect("traffic lock is never poisoned");
        let mut out: Vec<Loss> = streams
            .values()
            .filter(|d| d.ends.load(Ordering::SeqCst) == 3)
            .filter_map(|d| {
                let (written, read) = (d.written.load(Ordering::SeqCst), d.read.load(Ordering::SeqCst));
                let writes = d.writes.lock().expect("traffic lock is never poisoned");
                let first = writes.partition_point(|(_, after)| *after <= read);
                let &(at_us, _) = writes.get(first)?;
                Some(Loss { from: d.from.clone(), to: d.to.clone(), at_us, bytes: written - read })
            })
            .collect();
        out.sort_by(|a, b| (a.at_us, &a.from, &a.to).cmp(&(b.at_us, &b.from, &b.to)));
        out
    }

    /// Connections open now with one end on `host`, as its own or its peers' metered ends count
    /// them.
    pub fn open_with(&self, host: &str) -> u64 {
        let links = self.links.lock().expect("traffic lock is never poisoned");
        links
            .iter()
            .filter(|((a, b), _)| a == host || b == host)
            .map(|(_, c)| c.open.load(Ordering::SeqCst))
            .sum()
    }

    /// Everything so far, by link.
    pub fn snapshot(&self) -> Snapshot {
        let links = self.links.lock().expect("traffic lock is never poisoned");
        links
            .iter()
            .map(|(link, c)| {
                (
                    link.clone(),
                    Flow { writes: c.writes.load(Ordering::SeqCst), bytes: c.bytes.load(Ordering::SeqCst) },
                )
            })
            .collect()
    }

    /// What crossed the link between `a` and `b` (either way) between two snapshots.
    pub fn on_link(before: &Snapshot, after: &Snapshot, a: &str, b: &str) -> Flow {
        Self::crossed(before, after, |(x, y)| (x == a && y == b) || (x == b && y == a))
    }

    /// What crossed links touching `host` (either way) between two snapshots.
    pub fn between(before: &Snapshot, after: &Snapshot, host: &str) -> Flow {
        Self::crossed(before, after, |(a, b)| a == host || b == host)
    }

    /// What crossed the links `keep` picks between two snapshots.
    fn crossed(before: &Snapshot, after: &Snapshot, keep: impl Fn(&(String, String)) -> bool) -> Flow {
        let mut total = Flow::default();
        for (link, flow) in after.iter().filter(|(link, _)| keep(link)) {
            let was = before.get(link).copied().unwrap_or_default();
            total.writes += flow.writes - was.writes;
            total.bytes += flow.bytes - was.bytes;
        }
        total
    }
}

/// A handle on one link's counters, and on one connection's direction if it is metered.
#[derive(Debug, Clone)]
pub struct LinkMeter(Arc<Counters>, Option<Arc<Direction>>);

impl LinkMeter {
    /// Counts a write of `bytes`.
    pub fn wrote(&self, bytes: usize) {
        self.0.wrote(bytes);
        if let Some(direction) = &self.1 {
            direction.wrote(bytes);
        }
    }
}

/// Counts what one connection's reader reads.
#[derive(Debug, Clone)]
pub struct ReadMeter(Arc<Direction>);

impl ReadMeter {
    /// Counts a read of `bytes`.
    pub fn read(&self, bytes: usize) {
        self.0.read(bytes);
    }
}

impl Counters {
    fn wrote(&self, bytes: usize) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes as u64, Ordering::SeqCst);
    }
}

/// A turmoil TCP stream whose writes and reads are counted in a [`Traffic`] meter, and which
/// counts as open there while it lives.
pub type Metered = InspectReader<InspectWriter<TcpStream, Inspect>, Inspect>;

type Inspect = Box<dyn FnMut(&[u8]) + Send>;

/// `stream`, from host `from` to host `to`, metered.
pub fn metered(stream: TcpStream, from: &str, to: &str, traffic: &Traffic) -> Metered {
    let open = OpenLink::new(traffic.link(from, to));
    let addrs = stream.local_addr().and_then(|local| Ok((local, stream.peer_addr()?)));
    let (out, into) = match addrs {
        Ok((local, peer)) => (
            Some(traffic.stream_meter((from, local), (to, peer))),
            Some(traffic.read_meter((to, peer), (from, local))),
        ),
        Err(_) => (None, None),
    };
    let write: Inspect = Box::new(move |bytes: &[u8]| match &out {
        Some(meter) => meter.wrote(bytes.len()),
        None => open.0.wrote(bytes.len()),
    });
    let read: Inspect = Box::new(move |bytes: &[u8]| {
        if let Some(meter) = &into {
            meter.read(bytes.len());
        }
    });
    InspectReader::new(InspectWriter::new(stream, write), read)
}

/// One open connection's end on its link: counted open until dropped.
struct OpenLink(Arc<Counters>);

impl OpenLink {
    fn new(counters: Arc<Counters>) -> Self {
        counters.open.fetch_add(1, Ordering::SeqCst);
        Self(counters)
    }
}

impl Drop for OpenLink {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The simulated host a peer address belongs to.
pub fn host_of(addr: std::net::SocketAddr) -> String {
    turmoil::reverse_lookup(addr.ip()).unwrap_or_else(|| addr.ip().to_string())
}

/// Accepted connections of a turmoil listener on host `me`, metered.
pub fn incoming(
    listener: TcpListener,
    me: &str,
    traffic: &Traffic,
) -> impl Stream<Item = io::Result<Metered>> {
    let (me, traffic) = (me.to_owned(), traffic.clone());
    async_stream::stream! {
        loop {
            yield listener.accept().await.map(|(stream, peer)| metered(stream, &me, &host_of(peer), &traffic));
        }
    }
}

/// Binds the gRPC port on the current simulated host.
pub async fn bind_grpc() -> io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", GRPC_PORT)).await
}

/// Runs futures inside one task of a host rather than as tasks of their own: what a host that
/// may crash hands its background work and its outgoing channels' tasks to, so that a crash
/// drops them in the order of [`Tasks`] — fixed — rather than tokio's, which follows task ids
/// (a counter of the whole process, so of the runs before).
#[derive(Debug, Clone)]
pub struct InTask(tokio::sync::mpsc::UnboundedSender<futures::future::BoxFuture<'static, ()>>);

impl InTask {
    /// An executor and the futures it collects, to be driven by [`Tasks::run`].
    pub fn new() -> (Self, Tasks) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Self(sender), Tasks(receiver))
    }

    /// Runs `future` in the task that drives [`Tasks`].
    pub fn spawn(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        // The receiver lives as long as the host's task; after that nothing runs anyway.
        let _ = self.0.send(Box::pin(future));
    }
}

impl<F: std::future::Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for InTask {
    fn execute(&self, future: F) {
        self.spawn(future);
    }
}

/// The futures handed to an [`InTask`].
#[derive(Debug)]
pub struct Tasks(tokio::sync::mpsc::UnboundedReceiver<futures::future::BoxFuture<'static, ()>>);

impl Tasks {
    /// Drives every future handed over, until every [`InTask`] is gone and all have ended.
    pub async fn run(mut self) {
        use futures::StreamExt;
        let mut running = futures::stream::FuturesUnordered::new();
        loop {
            tokio::select! {
                biased;
                Some(()) = running.next(), if !running.is_empty() => {}
                next = self.0.recv() => match next {
                    Some(future) => running.push(future),
                    None => break,
                },
            }
        }
        while running.next().await.is_some() {}
    }
}

/// A lazily connecting channel from the current host (`from`) to `target` (`"server:50051"`)
/// over turmoil TCP, with `net`'s connect timeout and HTTP/2 keepalive (turmoil's TCP never
/// retransmits a lost segment: keepalive is what finds a dead connection).
pub fn channel(from: &str, target: &str, net: &NetParams, trace: &Trace, traffic: &Traffic) -> SimChannel {
    channel_in(from, target, net, trace, traffic, None)
}

/// [`channel`], its tasks run by `executor` (tokio's `spawn` without one).
pub fn channel_in(
    from: &str,
    target: &str,
    net: &NetParams,
    trace: &Trace,
    traffic: &Traffic,
    executor: Option<InTask>,
) -> SimChannel {
    let (from, target, trace, traffic) = (from.to_owned(), target.to_owned(), trace.clone(), traffic.clone());
    let host = target.split(':').next().unwrap_or_default().to_owned();
    let mut endpoint =
        Endpoint::from_shared(format!("http://{target}")).expect("simulated targets are valid URIs");
    if let Some(executor) = executor {
        endpoint = endpoint.executor(executor);
    }
    let channel = endpoint
        .connect_timeout(net.connect_timeout)
        .http2_keep_alive_interval(net.keepalive_interval)
        .keep_alive_timeout(net.keepalive_timeout)
        .keep_alive_while_idle(true)
        .connect_with_connector_lazy(tower::service_fn(move |_uri| {
            let (from, target, host, trace, traffic) =
                (from.clone(), target.clone(), host.clone(), trace.clone(), traffic.clone());
            async move {
                // An attempt tonic gives up on (its connect timeout drops this future) failed too.
                let mut attempt =
                    Attempt { trace, from, to: host, since_us: crate::trace::sim_now_us(), ok: None };
                let result = TcpStream::connect(target.as_str()).await;
                attempt.ok = Some(result.is_ok());
                result.map(|stream| TokioIo::new(metered(stream, &attempt.from, &attempt.to, &traffic)))
            }
        }));
    Deadline::new(channel)
}

/// One connection attempt of a client: recorded as a `Connect` event when it ends, however it
/// ends (done, or dropped by a connect timeout).
struct Attempt {
    trace: Trace,
    from: String,
    to: String,
    since_us: u64,
    ok: Option<bool>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let kind =
            EventKind::Connect { to: self.to.clone(), ok: self.ok == Some(true), since_us: self.since_us };
        self.trace.record(&self.from, kind);
    }
}
