//! Structured fuzzing, on stable Rust, of the parsers that face untrusted bytes: HTTP/2 frames
//! ([`frames`]), HPACK header blocks ([`hpack`]), gRPC's length prefix ([`grpc`]), transcript
//! lines ([`transcript`]) and scenario files ([`scenario`]).
//!
//! Each module generates valid inputs (which must round-trip), mutates them as broken or
//! hostile peers would ([`mutation`]: bit flips, truncation, splices, length fields set to
//! 2^32-1) and states the properties a decoder must keep on any input as `check_*` functions:
//! no panic, memory bounded by the input ([`alloc`] counts it), and the same result however a
//! streaming decoder's input is cut. The proptest suite in `tests/it` drives them; `ci/fuzz.sh`
//! runs it with many more cases.

pub mod alloc;
pub mod frames;
pub mod grpc;
pub mod hpack;
pub mod mutation;
pub mod scenario;
pub mod transcript;
