//! Integration tests of the conformance suite: the committed grpcio transcripts against the
//! Rust server and client, in process and inside the simulator; mutants; bad data; known
//! failures; the framing aspect against a deliberately broken server; `--target` over real TCP.

mod data;
mod framing;
mod known;
mod mutants;
mod rules;
mod suite;
mod support;
mod target;
