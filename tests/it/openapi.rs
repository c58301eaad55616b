//! The OpenAPI document: served at /openapi.json, naming every route the router serves, and
//! held to by the running server under schemathesis (a fixed seed and example budget): no 5xx,
//! no response that breaks the documented schema or content type.
//!
//! schemathesis comes from the Python environment of `EMBEDDINGS_TEST_PYTHON` (scripts/test.sh
//! installs tests/requirements.txt there); `EMBEDDINGS_SKIP_CLIENT_LIBRARIES=1` skips it.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::tiny::write_tiny_bert;
use common::{fixtures_dir, offline_hub, scratch_dir, Options, TestServer};
use embeddings::http::routes::ROUTES;
use serde_json::json;

/// Tiny models under the names the document's examples use: an embedding model, a reranker, a
/// classifier and a sparse model.
async fn server() -> TestServer {
    let dir = fixtures_dir().join("st-pipelines/tiny-bert-mean-prompts");
    let other = scratch_dir("second-model");
    write_tiny_bert(&other, 3).expect("tiny model");
    let rerank = fixtures_dir().join("rerank");
    TestServer::start(
        &format!(
            "{} all-MiniLM-L6-v2 all-minilm\n{} second\n{} bge-reranker-v2-m3\n{} classifier\n{} splade-v3\n",
            dir.display(),
            other.display(),
            rerank.join("tiny-xlmr-reranker").display(),
            rerank.join("tiny-bert-classifier").display(),
            rerank.join("tiny-splade").display(),
        ),
        offline_hub(&scratch_dir("empty-cache")),
        Options::default(),
    )
    .await
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let server = server().await;
    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    assert_eq!(
        paths
            .values()
            .map(|p| p.as_object().map_or(0, |m| m.len()))
            .sum::<usize>(),
        ROUTES.len()
    );
    for (method, path) in ROUTES.iter().map(|r| (r.verb.name(), r.documented)) {
        let url = path.replace("{id}", "all-MiniLM-L6-v2");
        let response = match method {
            "get" => server.client.get(server.url(&url)).send().await,
            _ => server.client.post(server.url(&url)).json(&json!({})).send().await,
        }
        .expect("sent");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        assert!(
            !body.contains("unknown_url"),
            "{method} {path} is documented but not routed: {body}"
        );
    }
}

fn schemathesis() -> Option<PathBuf> {
    if std::env::var_os("EMBEDDINGS_SKIP_CLIENT_LIBRARIES").is_some() {
        return None;
    }
    let python = std::env::var("EMBEDDINGS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let path = PathBuf::from(python).with_file_name("schemathesis");
    assert!(
        path.is_file(),
        "{} is missing: install tests/requirements.txt for EMBEDDINGS_TEST_PYTHON",
        path.display()
    );
    Some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("skipped: EMBEDDINGS_SKIP_CLIENT_LIBRARIES is set");
        return;
    };
    let server = server().await;
    let schema = server.url("/openapi.json");
    let reports = scratch_dir("schemathesis");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&schemathesis)
            .args(["run", &schema])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance",
                "--max-examples",
                "25",
                "--seed",
                "20261202",
                "--no-shrink",
                // Every run generates the same cases: no examples replayed from earlier runs.
                "--generation-database",
                "none",
                "--suppress-health-check",
                "filter_too_much,too_slow,data_too_large",
                "--report-dir",
            ])
            .arg(&reports)
            // Its caches land in the scratch folder, not in the checkout.
            .current_dir(&reports)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: String = stdout
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(output.status.success(), "schemathesis failed:\n{summary}\n{stderr}");
    assert!(stdout.contains("No issues found"), "{summary}");
    let generated = stdout
        .lines()
        .find(|l| l.contains("generated,"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    assert!(generated >= 500, "only {generated} cases ran:\n{summary}");
    eprintln!("schemathesis: {generated} cases, no issues");
}
