//! What a proxied connection reports: the faults that acted on its traffic and the bytes it
//! could not follow. The simulator records them in the run's trace; `faultline proxy` prints
//! them as JSON lines.

use serde::Serialize;

use faultline_model::trace::{EventKind, FaultEvent, Phase, Scope, Trace};

/// One fault acting on a connection's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acted {
    /// The fault's name (`rst-stream`, `goaway`, ...).
    pub fault: &'static str,
    /// Which fault of the plan (its index in the scenario, or its id in a live proxy).
    pub index: usize,
    /// The connection, numbered from 0 in accept order.
    pub conn: u64,
    /// The stream it acted on, for a fault that acts on one.
    pub stream: Option<u32>,
    /// The stream's call, when its request carried `faultline-call` metadata.
    pub call: Option<u64>,
    /// The stream's method (its `:path`), when the proxy follows requests.
    pub method: Option<String>,
    /// How much traffic it touched, in the fault's own unit (streams reset, frames that
    /// overtook others, ...).
    pub touched: u64,
    /// What it did, for a person.
    pub what: String,
}

/// Where a proxied connection reports.
pub trait Observer: Send + Sync + 'static {
    /// A fault acted.
    fn acted(&self, acted: Acted);
    /// Connection `conn` met bytes the proxy cannot follow and is being closed.
    fn protocol_error(&self, conn: u64, detail: String);
}

/// The simulator's observer of one connection: fault events on the proxy host, scoped to the
/// stream's call when known and to the client's connection otherwise.
#[derive(Debug)]
pub struct TraceObserver {
    /// Where events go.
    pub trace: Trace,
    /// The proxy's host name.
    pub host: String,
    /// The client host at the other end.
    pub client: String,
}

impl Observer for TraceObserver {
    fn acted(&self, acted: Acted) {
        let scope = match acted.call {
            Some(call) => Scope::Call { call },
            None => Scope::Connection { client: self.client.clone(), conn: acted.conn },
        };
        let event = FaultEvent {
            fault: acted.fault,
            index: acted.index,
            phase: Phase::Acted,
            touched: acted.touched,
            scope,
            detail: format!("conn {}: {}", acted.conn, acted.what),
        };
        self.trace.record(&self.host, EventKind::Fault(event));
    }

    fn protocol_error(&self, conn: u64, detail: String) {
        self.trace.record(&self.host, EventKind::ProtocolError { detail: format!("conn {conn}: {detail}") });
    }
}
