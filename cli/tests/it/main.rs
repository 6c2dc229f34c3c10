//! End-to-end tests of the `faultline` binary: real processes, real TCP.

mod bad_transcripts;
mod buggy;
mod conformance;
mod framing;
mod hostile;
mod merge;
mod proxy;
mod serve_client;
mod support;
mod sweep;
mod wire;
