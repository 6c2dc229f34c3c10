//! The Rust server under test: `faultline serve all --conformance-hook`, the one server
//! assembly with the abort hook, on the transport's clock.
//!
//! The hook is how the suite makes a server answer with a status of its choosing (the
//! special-characters case): a call whose metadata has `faultline-abort-code` (a code number)
//! and `faultline-abort-message-bin` (UTF-8) gets that status before any handler runs, as from
//! `ci/recorder/conformance_server.py`.

use std::sync::Arc;

use faultline_server::{AbortHook, Server, ServerConfig, Services};
use faultline_services::{Clock, Mutant};

pub use faultline_server::hook::{ABORT_CODE, ABORT_MESSAGE};

/// The server the suite replays against, timing RecordRoute with `clock`.
pub fn under_test(clock: Arc<dyn Clock>, mutant: Option<Mutant>) -> Server {
    Server::new(config(clock, mutant))
}

/// What [`under_test`] is built from, for transports that change it (the simulator turns the
/// wall-clock `date` header off).
pub fn config(clock: Arc<dyn Clock>, mutant: Option<Mutant>) -> ServerConfig {
    ServerConfig::new(Services::All).clock(clock).mutant(mutant).hook(Arc::new(AbortHook))
}
