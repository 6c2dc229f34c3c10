//! The one server assembly: the tutorial's services behind every hardening layer, with its
//! limits as data, served over any transport.
//!
//! `faultline serve` runs it on real TCP, the conformance suite in process, in the simulator
//! and live, the benches and the load test on loopback, and the simulator on turmoil TCP (it
//! supplies its clock, its connections, and switches the `date` header off). What users run is
//! what every check sees.
//!
//! A call passes through, outermost first:
//!
//! 1. [`framing`]: a response that ends before its first message goes out as Trailers-Only,
//!    one HEADERS frame with END_STREAM, whatever the layers inside did;
//! 2. [`deadline`]: `grpc-timeout` is enforced as DEADLINE_EXCEEDED (tonic's own server says
//!    CANCELLED);
//! 3. [`ending`]'s shutdown cut-off: at the end of the shutdown grace period, running calls end
//!    with UNAVAILABLE;
//! 4. [`budget`]: the server-wide call cap, the request-bytes budget and the message size
//!    limit, each RESOURCE_EXHAUSTED when spent;
//! 5. [`hook`]: an optional [`CallHook`] (the simulator's server-side faults and handler
//!    watch, the conformance suite's abort hook);
//! 6. the services (tonic `Routes`; an unknown method or service is UNIMPLEMENTED).
//!
//! Connections go through [`connection`]: a cap on how many are open, a deadline for the
//! HTTP/2 preface, and hyper's HTTP/2 server configured from [`Limits`]. [`tcp`] adds the
//! real-network parts: accepting, graceful shutdown, the grace period.

pub mod budget;
pub mod config;
pub mod connection;
pub mod deadline;
pub mod ending;
pub mod framing;
pub mod hook;
pub mod tcp;

mod assembly;

pub use assembly::{GrpcService, Server, tutorial_routes};
pub use config::{Limits, ServerConfig, Services};
pub use hook::{AbortHook, CallHook, HandlerLife, HookAction};
