//! Compiles the tutorial's protos with `protox` (pure Rust, no `protoc`) and
//! generates prost messages plus tonic clients and servers from the result.

use std::path::PathBuf;

use prost::Message;

const PROTOS: [&str; 2] = ["helloworld.proto", "route_guide.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for tools that decode messages by name (transcripts, JSON views).
    std::fs::write(out_dir.join("descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
