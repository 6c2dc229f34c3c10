//! Generated code for the gRPC tutorial's two services.
//!
//! This crate only generates: `helloworld.proto` and `route_guide.proto` are
//! the tutorial's files verbatim, so package names and field numbers match
//! the reference Python implementation on the wire.

/// `helloworld.Greeter` messages, client and server.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

/// `routeguide.RouteGuide` messages, client and server.
pub mod routeguide {
    tonic::include_proto!("routeguide");
}

/// Encoded `FileDescriptorSet` of both protos.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
