//! Compiles `proto/wa/core.proto` with protox (pure Rust), so building needs
//! no system `protoc`.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/wa/core.proto"];
    let includes = ["proto"];
    let fds = protox::compile(protos, includes)?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("core_fds.bin");
    std::fs::write(&out, fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .skip_protoc_run()
        .file_descriptor_set_path(&out)
        // Media chunks are handed on as they come, without a copy.
        .bytes(".wa.core.v1.MediaChunk.data")
        .bytes(".wa.core.v1.Photo.data")
        .compile_protos(&protos, &includes)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
