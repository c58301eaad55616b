//! The binary started as text-embeddings-inference is (`MODEL_ID`, `PORT`, TEI's flags), and the
//! addresses it logs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::process::{binary, ServerProcess};
use super::{scratch_dir, test_hf_cache};

/// The binary as a TEI manifest starts it, with `arguments` (flags alone mean `serve`).
pub fn tei_style(model_id: &Path, arguments: &[&str]) -> Command {
    let mut command = binary();
    command
        .args(arguments)
        .env("MODEL_ID", model_id)
        .env("PORT", "0")
        // Loopback only; Docker's HOSTNAME is not an address to bind.
        .env("EMBEDDINGS_HOST", "127.0.0.1")
        .env("HOSTNAME", "not-an-address-to-bind")
        .env("PROMETHEUS_PORT", "0")
        .env("HF_HUB_CACHE", test_hf_cache())
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(scratch_dir("tei-style"));
    command
}

/// Every address the server logs, by what it serves (`HTTP and gRPC`, `gRPC`, `metrics`).
pub fn addresses(server: &mut ServerProcess, count: usize) -> Vec<(String, String)> {
    let mut found = Vec::new();
    while found.len() < count {
        let line = server
            .wait_for("\"listening\"", Duration::from_secs(30))
            .unwrap_or_else(|| panic!("server logs its addresses: {:?}", server.seen));
        let log: Value = serde_json::from_str(&line).expect("JSON log line");
        let fields = &log["fields"];
        if let Some(address) = fields["address"].as_str() {
            found.push((fields["serves"].as_str().unwrap_or("").to_owned(), address.to_owned()));
        }
    }
    found
}

pub fn address_of<'a>(addresses: &'a [(String, String)], serves: &str) -> &'a str {
    &addresses.iter().find(|(s, _)| s == serves).expect("listed").1
}
