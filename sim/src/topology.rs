//! A run's hosts and who dials whom: the single server or a cluster's nodes, the proxies in
//! front of them, the clients; and the channels a client or a node opens to a node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::fault::{CLIENTS, NetParams, TimedFault};
use crate::net::{self, GRPC_PORT, InTask, SimChannel, Traffic};
use crate::trace::Trace;

/// The hosts of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// A cluster's nodes, in the system's order; empty: the single server, host
    /// [`crate::server::HOST`].
    pub nodes: Vec<String>,
    /// Whether every connection to a server goes through its proxy (the scenario has proxy
    /// faults).
    pub proxied: bool,
    /// The client hosts.
    pub clients: Vec<String>,
}

impl Topology {
    /// The hosts of a run of `scenario` on a system with these `nodes` (`System::nodes`).
    pub fn of<O>(nodes: Vec<String>, scenario: &crate::scenario::Scenario<O>) -> Self {
        let clients = (0..scenario.clients).map(|i| format!("client-{i}")).collect();
        Self { nodes, proxied: scenario.uses_proxy(), clients }
    }

    /// Whether the system is a cluster of named nodes.
    pub fn is_cluster(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// The server hosts: the cluster's nodes, or the single server.
    pub fn servers(&self) -> Vec<String> {
        if self.is_cluster() { self.nodes.clone() } else { vec![crate::server::HOST.to_owned()] }
    }

    /// The node clients call by default ([`crate::Call::channel`]): the first.
    pub fn first(&self) -> String {
        self.servers().swap_remove(0)
    }

    /// The proxy in front of server `node`.
    pub fn proxy_of(&self, node: &str) -> String {
        if self.is_cluster() {
            format!("{}-{node}", crate::proxy::HOST)
        } else {
            crate::proxy::HOST.to_owned()
        }
    }

    /// The host a connection to server `node` dials: its proxy, or the node itself.
    pub fn dial_host(&self, node: &str) -> String {
        if self.proxied { self.proxy_of(node) } else { node.to_owned() }
    }

    /// The client or node a host stands for: a proxy stands for its server.
    pub fn logical<'a>(&'a self, host: &'a str) -> &'a str {
        if !self.proxied {
            return host;
        }
        self.servers()
            .iter()
            .position(|n| self.proxy_of(n) == host)
            .map_or(host, |i| if self.is_cluster() { &self.nodes[i] } else { crate::server::HOST })
    }

    /// Whether `host` is one of the servers.
    pub fn is_server(&self, host: &str) -> bool {
        if self.is_cluster() { self.nodes.iter().any(|n| n == host) } else { host == crate::server::HOST }
    }

    /// The hosts a side of a fault's `between` names, [`CLIENTS`] expanded.
    fn side(&self, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for name in names {
            let hosts = if name == CLIENTS { self.clients.clone() } else { vec![name.clone()] };
            for host in hosts {
                if !out.contains(&host) {
                    out.push(host);
                }
            }
        }
        out
    }

    /// The links a network fault acts on: those of its `between`, or else every server's link
    /// to every client.
    pub fn links(&self, fault: &TimedFault) -> Vec<Link> {
        let [first, second] = match &fault.between {
            Some([a, b]) => [self.side(a), self.side(b)],
            None => [self.servers(), self.clients.clone()],
        };
        let mut out = Vec::new();
        for x in &first {
            for y in second.iter().filter(|y| *y != x) {
                let mut pairs = Vec::new();
                if self.is_server(y) {
                    pairs.push((x.clone(), self.dial_host(y)));
                }
                // Between two nodes without proxies both directions are the one turmoil link.
                let back = (self.dial_host(x), y.clone());
                if self.is_server(x) && !pairs.contains(&back) {
                    pairs.push(back);
                }
                if !pairs.is_empty() {
                    out.push(Link { first: x.clone(), second: y.clone(), pairs });
                }
            }
        }
        out
    }

    /// Every physical peer of server `node`'s host: what its crash cuts.
    pub fn peers_of(&self, node: &str) -> Vec<String> {
        if self.proxied {
            return vec![self.proxy_of(node)];
        }
        let others = self.nodes.iter().filter(|n| *n != node).cloned();
        self.clients.iter().cloned().chain(others).collect()
    }

    /// Why `scenario` cannot run on a system with these `nodes` (`System::nodes`), if it
    /// cannot: a fault placed on a host that is not there.
    pub fn misplaced<O>(nodes: &[String], scenario: &crate::scenario::Scenario<O>) -> Option<String> {
        let topology = Topology::of(nodes.to_vec(), scenario);
        scenario.faults.iter().find_map(|f| topology.invalid(f).map(|why| format!("fault `{f}`: {why}")))
    }

    /// Why `fault` cannot run on these hosts, if it cannot: it names a host that is not here.
    pub fn invalid(&self, fault: &TimedFault) -> Option<String> {
        if !self.is_cluster() && (fault.node.is_some() || fault.between.is_some()) {
            return Some(
                "`node` and `between` place faults in a cluster; this system has one server".to_owned(),
            );
        }
        let known =
            |name: &str| self.is_server(name) || self.clients.iter().any(|c| c == name) || name == CLIENTS;
        if let Some(node) = fault.node.as_deref()
            && !self.is_server(node)
        {
            return Some(format!("`{node}` is not a node of this system ({})", self.servers().join(", ")));
        }
        if let Some(name) = fault.between.iter().flatten().flatten().find(|n| !known(n)) {
            return Some(format!(
                "`{name}` is neither a node ({}) nor a client, nor `{CLIENTS}`",
                self.servers().join(", ")
            ));
        }
        None
    }
}

/// A link a network fault acts on: a host of its first side, one of its second, and
/// the physical host pairs that carry their traffic, each oriented from the first side to the
/// second (a proxy carries its node's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The host on the fault's first side.
    pub first: String,
    /// The host on its second side.
    pub second: String,
    /// (first-side host, second-side host) pairs of turmoil hosts.
    pub pairs: Vec<(String, String)>,
}

/// Opens a host's channels to the servers, one per server, lazily, and keeps them.
#[derive(Debug, Clone)]
pub struct Dialer {
    from: Arc<str>,
    topology: Arc<Topology>,
    net: NetParams,
    trace: Trace,
    traffic: Traffic,
    executor: Option<InTask>,
    open: Arc<Mutex<BTreeMap<String, SimChannel>>>,
}

impl Dialer {
    /// The dialer of host `from`.
    pub fn new(
        from: &str,
        topology: Arc<Topology>,
        net: NetParams,
        trace: &Trace,
        traffic: &Traffic,
    ) -> Self {
        Self {
            from: from.into(),
            topology,
            net,
            trace: trace.clone(),
            traffic: traffic.clone(),
            executor: None,
            open: Arc::default(),
        }
    }

    /// The same dialer with no channel open yet, its channels' tasks run by `executor`: a
    /// server start's (a crash closed the old ones with the runtime that drove them).
    pub fn fresh(&self, executor: InTask) -> Self {
        Self { open: Arc::default(), executor: Some(executor), ..self.clone() }
    }

    /// Where its hosts record.
    pub fn trace(&self) -> Trace {
        self.trace.clone()
    }

    /// The host it dials from.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The hosts.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The channel to server `node` (through its proxy when there is one).
    pub fn channel(&self, node: &str) -> SimChannel {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.entry(node.to_owned())
            .or_insert_with(|| {
                let target = format!("{}:{GRPC_PORT}", self.topology.dial_host(node));
                let executor = self.executor.clone();
                net::channel_in(&self.from, &target, &self.net, &self.trace, &self.traffic, executor)
            })
            .clone()
    }
}
