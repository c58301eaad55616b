//! A listed model that cannot be made ready answers in each dialect with the status its fault
//! deserves: files missing or damaged 424 and weights over the memory budget 507, neither with
//! `Retry-After` (a retry cannot help), and a fault that may pass (a download cut short) 503 with
//! it. The message names the model once, then the file and the fault, on one line; `/health`
//! lists the models whose last load failed until one succeeds.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::common::{self, offline_hub, pipeline_dir, pipeline_references, scratch_dir, Options, TestServer};
use crate::download::{online_hub, stand_in_hub, Fault, Hub, MODEL, REPO};
use embeddings::model_store::MemorySettings;

/// A copy of the tiny pipeline with `model.safetensors` replaced (`None`: removed).
fn copy_with_weights(weights: Option<&[u8]>) -> std::path::PathBuf {
    let copy = common::altered_copy(MODEL, "config.json", |text| text);
    let file = copy.join("model.safetensors");
    match weights {
        Some(bytes) => std::fs::write(&file, bytes).expect("written"),
        None => std::fs::remove_file(&file).expect("removed"),
    }
    copy
}

async fn serve_local(dir: &Path) -> TestServer {
    let options = Options {
        preload: false,
        ..Options::default()
    };
    TestServer::start(
        &format!("{} tiny\n", dir.display()),
        offline_hub(&scratch_dir("empty-cache")),
        options,
    )
    .await
}

/// Serves the stand-in hub's model, not yet in the cache: neither the start nor its check
/// reads it, the first request downloads and loads it.
async fn serve_from_the_hub(fault: Fault, memory: MemorySettings) -> (TestServer, Arc<Hub>) {
    let (endpoint, hub) = stand_in_hub(fault).await;
    let options = Options {
        preload: false,
        memory,
        ..Options::default()
    };
    let server = TestServer::start(
        &format!("{REPO} tiny\n"),
        online_hub(&endpoint, &scratch_dir("download-cache")),
        options,
    )
    .await;
    (server, hub)
}

/// Posts to OpenAI's route: the status, `Retry-After`, and the error's message.
async fn embed(server: &TestServer, model: &str) -> (u16, Option<String>, Value) {
    let response = server
        .client
        .post(server.url("/v1/embeddings"))
        .json(&json!({"model": model, "input": "hello"}))
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    (status, retry_after, response.json().await.expect("JSON body"))
}

fn assert_one_line_naming_the_model_once(message: &str, model: &str) {
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        message.starts_with(&format!("The model {model} could not be loaded: ")),
        "{message}"
    );
    assert_eq!(message.matches(model).count(), 1, "the model named once: {message}");
}

async fn failed_models(server: &TestServer) -> Value {
    let (status, health) = server.get("/health").await;
    assert!(status == 200 || status == 503, "{health}");
    health["failed_models"].clone()
}

#[tokio::test]
async fn corrupt_weights_are_424_without_retry_after_in_every_dialect() {
    let dir = copy_with_weights(Some(b"\x08\x00\x00\x00\x00\x00\x00\x00not json"));
    let server = serve_local(&dir).await;
    let (status, retry_after, body) = embed(&server, "tiny").await;
    assert_eq!(status, 424, "{body}");
    assert_eq!(retry_after, None);
    let message = body["error"]["message"].as_str().expect("message");
    assert_one_line_naming_the_model_once(message, "tiny");
    assert!(
        message.contains("model.safetensors: ") && message.contains("not a whole safetensors file"),
        "names the file and the fault: {message}"
    );
    assert!(
        !message.contains(&dir.display().to_string()),
        "no path, the model once: {message}"
    );
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(body["error"]["code"], "model_load_failed");

    let (status, tei) = server.post("/embed", &json!({"inputs": "hello"})).await;
    assert_eq!((status, tei["error_type"].as_str()), (424, Some("Backend")), "{tei}");
    let (status, ollama) = server
        .post("/api/embed", &json!({"model": "tiny", "input": "hello"}))
        .await;
    assert_eq!(status, 424, "{ollama}");
    assert!(ollama["error"]
        .as_str()
        .is_some_and(|m| m.contains("model.safetensors")));

    let failed = failed_models(&server).await;
    assert_eq!(failed[0]["model"], "tiny", "{failed}");
    assert_eq!(failed[0]["transient"], false);
    assert!(failed[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("model.safetensors")));
    // The access log and the request metric name the model the client asked for.
    let id = dir.display().to_string();
    let refused = server
        .metric_sum(
            "embeddings_http_requests_total",
            &[("model", id.as_str()), ("status", "424")],
        )
        .await;
    assert_eq!(refused, 3.0);
}

#[tokio::test]
async fn a_missing_weights_file_is_424_naming_it() {
    let dir = copy_with_weights(None);
    let server = serve_local(&dir).await;
    let (status, retry_after, body) = embed(&server, "tiny").await;
    assert_eq!((status, retry_after), (424, None), "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("is missing model.safetensors"), "{message}");
    assert!(message.starts_with("The model tiny could not be loaded: "), "{message}");
    assert!(!message.contains('\n'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_over_the_memory_budget_are_507_without_retry_after() {
    let budget = MemorySettings {
        max_loaded_bytes: Some(4096),
        ..MemorySettings::default()
    };
    let (server, _) = serve_from_the_hub(Fault::None, budget).await;
    let (status, retry_after, body) = embed(&server, REPO).await;
    assert_eq!((status, retry_after), (507, None), "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert_one_line_naming_the_model_once(message, REPO);
    assert!(message.contains("4096"), "names the budget: {message}");
    assert_eq!(body["error"]["code"], "model_too_large");
    let failed = failed_models(&server).await;
    assert_eq!(failed[0]["transient"], false, "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_short_is_503_with_retry_after_and_the_retry_serves() {
    let (server, hub) = serve_from_the_hub(Fault::EndShort, MemorySettings::default()).await;
    let (status, retry_after, body) = embed(&server, "tiny").await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "a fault that may pass says when to retry");
    let message = body["error"]["message"].as_str().expect("message");
    assert_one_line_naming_the_model_once(message, REPO);
    assert!(
        message.contains("model.safetensors") && message.contains("try again"),
        "{message}"
    );
    let failed = failed_models(&server).await;
    assert_eq!(failed[0]["transient"], true, "{failed}");

    let (status, _, body) = embed(&server, "tiny").await;
    assert_eq!(status, 200, "the retry downloads it whole: {body}");
    assert_eq!(hub.weight_transfers.load(std::sync::atomic::Ordering::SeqCst), 2);
    let reference = &pipeline_references(MODEL)[0];
    let (_, body) = server.embed(json!({"model": "tiny", "input": reference.text})).await;
    assert!(common::max_abs_diff(&common::vectors(&body)[0], &reference.embedding) <= 2e-5);
    assert_eq!(
        failed_models(&server).await,
        Value::Null,
        "a load that succeeds clears it"
    );
    assert!(pipeline_dir(MODEL).is_dir());
}
