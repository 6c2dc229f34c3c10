//! What a server is built from: which services, on which clock, under which limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use faultline_services::{Clock, FeatureDb, Mutant, SystemClock};
use tonic::service::Routes;

use crate::hook::CallHook;

/// Every limit the server enforces. tonic's and hyper's own defaults are never relied on
/// (several are unlimited); these are the values `faultline serve` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once; one past the cap is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Most concurrent calls (HTTP/2 streams) on one connection; a client queues the rest.
    pub max_concurrent_streams: u32,
    /// Largest request message in bytes; a bigger one fails its call with RESOURCE_EXHAUSTED.
    pub max_message_size: usize,
    /// Most calls running at once, over all connections (RESOURCE_EXHAUSTED past it).
    pub max_calls: usize,
    /// Most request bytes running calls may hold, all calls together (RESOURCE_EXHAUSTED).
    pub max_inflight_bytes: usize,
    /// How long a new connection gets to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Time between HTTP/2 PINGs on each connection, to find dead or stalled peers.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before its connection is closed.
    pub keepalive_timeout: Duration,
    /// How long in-flight calls get to finish after a shutdown signal (real TCP only).
    pub shutdown_grace: Duration,
    /// Streams a connection may provoke the server into resetting before it is closed (hyper's
    /// own default, which tonic overrides with "unlimited"; CVE-2025-8671, "MadeYouReset").
    pub max_local_error_resets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_concurrent_streams: 1024,
            max_message_size: 4 << 20,
            max_calls: 16_384,
            max_inflight_bytes: 256 << 20,
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
            max_local_error_resets: 1024,
        }
    }
}

/// Which of the tutorial's services a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Services {
    /// `helloworld.Greeter` only.
    Greeter,
    /// `routeguide.RouteGuide` only.
    RouteGuide,
    /// Both, on one port.
    #[default]
    All,
}

impl Services {
    /// Whether `helloworld.Greeter` is served.
    pub fn greeter(self) -> bool {
        matches!(self, Services::Greeter | Services::All)
    }

    /// Whether `routeguide.RouteGuide` is served.
    pub fn route_guide(self) -> bool {
        matches!(self, Services::RouteGuide | Services::All)
    }
}

/// Everything a [`crate::Server`] is built from.
#[derive(Clone)]
pub struct ServerConfig {
    /// Which services.
    pub services: Services,
    /// The limits.
    pub limits: Limits,
    /// RouteGuide's feature database (shared across restarts of a simulated host).
    pub db: Arc<FeatureDb>,
    /// The clock RecordRoute times `elapsed_time` with.
    pub clock: Arc<dyn Clock>,
    /// A deliberately buggy service variant (mutant tests, the canary).
    pub mutant: Option<Mutant>,
    /// Whether responses carry hyper's `date` header (wall time: the simulator turns it off).
    pub date_header: bool,
    /// Asked about every call before its handler runs.
    pub hook: Option<Arc<dyn CallHook>>,
    /// Services of one's own instead of the tutorial's (`services`, `db`, `clock` and `mutant`
    /// are then unused): any tonic service gets the same layers.
    pub routes: Option<Routes>,
}

impl ServerConfig {
    /// Both services on the machine's clock with the default limits: `faultline serve all`.
    pub fn new(services: Services) -> Self {
        Self {
            services,
            limits: Limits::default(),
            db: Arc::new(FeatureDb::reference()),
            clock: Arc::new(SystemClock::new()),
            mutant: None,
            date_header: true,
            hook: None,
            routes: None,
        }
    }

    /// Any tonic service(s) behind every layer, with the default limits: what the simulator
    /// serves for a user's system.
    ///
    /// ```
    /// use faultline_server::{Server, ServerConfig};
    /// # use faultline_services::Greeter;
    /// let mut routes = tonic::service::Routes::builder();
    /// routes.add_service(Greeter.into_service());
    /// let server = Server::new(ServerConfig::custom(routes.routes()));
    /// # let _ = server;
    /// ```
    pub fn custom(routes: Routes) -> Self {
        Self { routes: Some(routes), ..Self::new(Services::All) }
    }

    /// The same with other limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same on another clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same over another database.
    pub fn db(mut self, db: Arc<FeatureDb>) -> Self {
        self.db = db;
        self
    }

    /// The same with a deliberate bug switched on.
    pub fn mutant(mut self, mutant: Option<Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// The same with or without hyper's `date` header.
    pub fn date_header(mut self, on: bool) -> Self {
        self.date_header = on;
        self
    }

    /// The same with a hook asked about every call.
    pub fn hook(mut self, hook: Arc<dyn CallHook>) -> Self {
        self.hook = Some(hook);
        self
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("services", &self.services)
            .field("limits", &self.limits)
            .field("mutant", &self.mutant)
            .field("date_header", &self.date_header)
            .field("hook", &self.hook.is_some())
            .field("custom_routes", &self.routes.is_some())
            .finish_non_exhaustive()
    }
}
