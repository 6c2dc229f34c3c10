//! End-to-end tests of the `faultline` binary: real processes, real TCP.

mod serve_client;
mod support;
mod sweep;
