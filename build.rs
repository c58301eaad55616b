//! Two jobs:
//! - the gRPC API: `proto/tei.proto` compiled by protox (a Rust protobuf compiler, so no
//!   `protoc` binary is needed anywhere) into tonic's server code, and its file descriptor set
//!   kept for the reflection service;
//! - with the `mkl` feature, a stand-in for the `hgemm_` symbol that Debian's MKL lacks
//!   (see build/hgemm_standin.c), passed as an object file, not an archive, so the linker always
//!   includes it regardless of library order.

use prost::Message;

fn main() {
    println!("cargo:rerun-if-changed=build/hgemm_standin.c");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto/tei.proto");
    if let Err(error) = compile_grpc_api() {
        panic!("proto/tei.proto: {error}");
    }
    if std::env::var_os("CARGO_FEATURE_MKL").is_some() {
        link_hgemm_standin();
    }
}

fn compile_grpc_api() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["proto/tei.proto"], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("tei_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

fn link_hgemm_standin() {
    let objects = cc::Build::new()
        .file("build/hgemm_standin.c")
        .warnings(true)
        .compile_intermediates();
    for object in objects {
        println!("cargo:rustc-link-arg={}", object.display());
    }
}
