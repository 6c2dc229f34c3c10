//! Buggy servers for gRPC clients: a raw h2c server that answers each call with one precise
//! misbehaviour (RST_STREAM after headers, during and after data; GOAWAY mid-call; a missing
//! `grpc-status`; Trailers-Only, whole and split; a truncated message; a length prefix over the
//! limit; a wrong content-type; HTTP 503; no message), tonic's client played against it, and
//! the comparison with grpcio's recorded reactions and with what gRPC's documents say.
//!
//! - `case`: the cases and what the specification allows for each.
//! - `script`: the frames each case writes.
//! - `server`: the server (`faultline buggy-server`).
//! - `probe`: tonic's client, one case at a time.
//! - `compare`: tonic against grpcio's record (`grpcio.jsonl`) and the listed differences
//!   (`differences.toml`).

pub mod case;
pub mod compare;
pub mod probe;
pub mod script;
pub mod server;

pub use case::{Case, Method};
pub use compare::{Comparison, compare};
pub use probe::{Outcome, probe};

/// Plays every case on every method with tonic's client against the server at `addr`.
pub async fn probe_all(addr: &str) -> Result<Vec<Outcome>, String> {
    let mut outcomes = Vec::new();
    for case in Case::ALL {
        for method in Method::ALL {
            outcomes.push(probe(addr, case, method).await?);
        }
    }
    Ok(outcomes)
}
