//! gRPC and HTTP/2 as bytes on the wire, written once for every crate that looks at them:
//! the server's request budget and message limit, the simulator's fault proxy, the conformance
//! replays and the hostile-peer tests.
//!
//! - [`grpc`]: the gRPC length prefix (RFC-less but fixed: 1 flag byte, 4-byte big-endian
//!   length, then the message), as a [`grpc::Scanner`] that follows message boundaries without
//!   buffering and a [`grpc::Deframer`] that cuts whole messages out.
//! - [`frame`]: HTTP/2 frames (RFC 9113 §4.1): the 9-byte header, building frames, cutting a
//!   byte stream into them.
//! - [`deadline`]: `grpc-timeout`, and a client layer that enforces it over a whole call.
//! - [`hpack`]: HPACK (RFC 7541), enough to follow a peer's encoder: a full decoder and a
//!   literal-only encoder (the proxy's header mirrors, the buggy server).
//! - [`tap`]: a transport wrapper that records the HTTP/2 frames a peer sent.
//! - [`code_name`]: a status code's canonical name (`DEADLINE_EXCEEDED`).
//! - [`RawCodec`]: a tonic codec of undecoded message bytes, for calls with no generated types.

mod code;
pub mod deadline;
pub mod frame;
pub mod grpc;
pub mod hpack;
mod raw_codec;
pub mod tap;

pub use code::code_name;
pub use raw_codec::RawCodec;
