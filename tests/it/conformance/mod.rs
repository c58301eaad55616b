//! Each dialect against its peer's own published spec (vendored in `tests/specs/`): every
//! operation walked with requests built from the spec's schemas and examples, every answer
//! validated against the schema the spec documents for its status.

mod openai;
mod openapi;
mod tei;
mod tei_cli;
mod walk;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A vendored spec file of `peer` (`tests/specs/<peer>/<name>`).
pub fn spec_file(peer: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(peer)
        .join(name)
}

/// What one request is expected to get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// 200 with the documented success body.
    Success,
    /// This status, documented for the operation, with its documented error body.
    Status(u16),
}

/// One request the walk sent, and what was wrong with its answer, if anything.
pub struct Check {
    pub operation: String,
    pub body: Option<Value>,
    pub failure: Option<String>,
}

/// Every check's failures, one line each, and a line per operation saying how many requests
/// it got; panics when any check failed.
pub fn report(peer: &str, total_operations: usize, checks: &[Check]) {
    let mut operations: Vec<&str> = checks.iter().map(|c| c.operation.as_str()).collect();
    operations.sort_unstable();
    operations.dedup();
    for operation in &operations {
        let count = checks.iter().filter(|c| c.operation == *operation).count();
        println!("{peer} {operation}: {count} requests");
        for check in checks.iter().filter(|c| c.operation == *operation) {
            if let Some(body) = &check.body {
                println!("    {}", excerpt(&body.to_string(), 120));
            }
        }
    }
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|c| {
            c.failure.as_ref().map(|f| {
                let body = c.body.as_ref().map(|b| excerpt(&b.to_string(), 160));
                format!("{} {}: {f}", c.operation, body.unwrap_or_default())
            })
        })
        .collect();
    println!(
        "{peer}: {} of {total_operations} operations covered, {} requests, {} failures",
        operations.len(),
        checks.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{peer}:\n{}", failures.join("\n"));
    assert_eq!(operations.len(), total_operations, "{peer}: every operation is walked");
}

/// The first `limit` characters of `text`, for failure messages.
pub fn excerpt(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
