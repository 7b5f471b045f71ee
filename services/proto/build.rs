//! Generates the Rust code and the file descriptor set for every `.proto`
//! under `proto/`, with protox (no system `protoc`).

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&files)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("hub_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // `prost::Name` on every message lets the strict codec find a
    // message's descriptor.
    let mut prost_config = prost_build::Config::new();
    prost_config.enable_type_names();
    tonic_prost_build::configure()
        // Messages that carry personal data get a redacting Debug (see
        // `redact.rs`), so that a stray `{:?}` can never log a BSN or a name.
        .skip_debug([
            ".hub.wens.v1",
            ".hub.reintegration.v1",
            ".hub.processor.v1",
            ".hub.dossier.v1",
        ])
        // Requests with fields the schema does not define are refused, not
        // silently shortened (see `codec.rs`).
        .codec_path("crate::codec::StrictCodec")
        .compile_fds_with_config(compiler.file_descriptor_set(), prost_config)?;
    Ok(())
}
