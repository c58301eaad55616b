//! Models that load and unload within a memory budget, through HTTP: Ollama's `keep_alive`
//! (`0`, durations, the server's `--keep-alive`), `--max-loaded-bytes` unloading the least
//! recently used idle model, models with requests in flight kept, `GET /api/ps`, `ready` and
//! `size_bytes` in `/v1/models`, and the load / unload metrics. Every vector is checked
//! against sentence-transformers' reference.

use crate::common;

use std::time::Duration;

use common::fidelity::{check_reference, PARITY};
use common::{
    max_abs_diff, offline_hub, pipeline_dir, pipeline_references, scratch_dir, Options, Reference, TestServer,
};
use embeddings::engine::EngineConfig;
use embeddings::model_store::memory_guard::WeightsSize;
use embeddings::model_store::{KeepAlive, MemorySettings, ModelStore};
use embeddings::registry::Registry;
use serde_json::{json, Value};

/// Each test uses fixtures of its own: the metrics registry is the process's, shared by the
/// tests running beside it.
fn models_file(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("{} {name}\n", pipeline_dir(name).display()))
        .collect()
}

fn weights_bytes(name: &str) -> u64 {
    WeightsSize::of(&[pipeline_dir(name).join("model.safetensors")])
        .expect("weights' headers")
        .float32
}

async fn serve(names: &[&str], memory: MemorySettings) -> TestServer {
    TestServer::start(
        &models_file(names),
        offline_hub(&scratch_dir("empty-cache")),
        Options {
            preload: false,
            memory,
            ..Options::default()
        },
    )
    .await
}

/// The fixture's first row without a prompt.
fn plain_reference(name: &str) -> Reference {
    pipeline_references(name)
        .into_iter()
        .find(|r| r.prompt_name.is_none())
        .expect("a row without a prompt")
}

/// `/api/embed` for the fixture's plain row, checked against the reference; returns the vector.
async fn ollama_embed(server: &TestServer, name: &str, keep_alive: Option<Value>) -> Vec<f32> {
    let reference = plain_reference(name);
    let mut body = json!({"model": name, "input": reference.text});
    if let Some(keep_alive) = keep_alive {
        body["keep_alive"] = keep_alive;
    }
    let (status, body) = server.post("/api/embed", &body).await;
    assert_eq!(status, 200, "{name}: {body}");
    let vector: Vec<f32> = serde_json::from_value(body["embeddings"][0].clone()).expect("a vector");
    let diff = max_abs_diff(&vector, &reference.embedding);
    assert!(diff <= PARITY, "{name}: max abs diff {diff}");
    vector
}

/// The names `/api/ps` lists, without `:latest`, sorted.
async fn running(server: &TestServer) -> Vec<String> {
    let (status, body) = server.get("/api/ps").await;
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().expect("name").trim_end_matches(":latest").to_owned())
        .collect();
    names.sort();
    names
}

/// The entry `name`'s row of `/api/ps`.
async fn ps_row(server: &TestServer, name: &str) -> Value {
    let (_, body) = server.get("/api/ps").await;
    body["models"]
        .as_array()
        .and_then(|models| models.iter().find(|m| m["name"] == format!("{name}:latest")).cloned())
        .unwrap_or_else(|| panic!("{name} not running: {body}"))
}

async fn unloads(server: &TestServer, name: &str, reason: &str) -> f64 {
    let id = pipeline_dir(name).display().to_string();
    server
        .metric_sum("embeddings_model_unloads_total", &[("model", &id), ("reason", reason)])
        .await
}

/// Polls `/api/ps` (at most `limit`) until `name` is gone; whether it went.
async fn gone_within(server: &TestServer, name: &str, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if !running(server).await.iter().any(|n| n == name) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn keep_alive_zero_unloads_once_answered_and_the_next_request_loads_it_again() {
    let name = "tiny-bert-cls";
    let server = serve(&[name], MemorySettings::default()).await;
    assert!(running(&server).await.is_empty(), "nothing preloaded");
    let (_, card) = server.get(&format!("/v1/models/{name}")).await;
    assert_eq!(card["ready"], false);
    assert_eq!(
        card["size_bytes"],
        weights_bytes(name),
        "known from the files before loading"
    );

    let kept = ollama_embed(&server, name, None).await;
    assert_eq!(running(&server).await, [name]);
    let row = ps_row(&server, name).await;
    assert_eq!(row["size"], weights_bytes(name));
    assert_eq!(row["size_vram"], 0);
    let forever =
        chrono::DateTime::parse_from_rfc3339(row["expires_at"].as_str().expect("expires_at")).expect("RFC 3339");
    assert!(
        forever.timestamp() > chrono::Utc::now().timestamp() + 100 * 365 * 86_400,
        "kept forever: {row}"
    );
    let (_, card) = server.get(&format!("/v1/models/{name}")).await;
    assert_eq!(card["ready"], true);

    let unloaded = ollama_embed(&server, name, Some(json!(0))).await;
    assert_eq!(unloaded, kept);
    assert!(
        running(&server).await.is_empty(),
        "keep_alive 0 unloads when the answer is sent"
    );
    let (_, card) = server.get(&format!("/v1/models/{name}")).await;
    assert_eq!(
        (card["ready"].clone(), card["size_bytes"].clone()),
        (json!(false), json!(weights_bytes(name)))
    );
    assert_eq!(unloads(&server, name, "expired").await, 1.0);

    let reloaded = ollama_embed(&server, name, None).await;
    assert_eq!(reloaded, kept, "the reloaded model gives the same vector, bit for bit");
    assert_eq!(running(&server).await, [name]);
}

#[tokio::test]
async fn an_idle_model_is_unloaded_when_its_keep_alive_runs_out() {
    let (short, default) = ("tiny-distilbert-mean", "tiny-mpnet-mean");
    let memory = MemorySettings {
        keep_alive: KeepAlive::For(Duration::from_millis(600)),
        ..MemorySettings::default()
    };
    let server = serve(&[short, default], memory).await;
    ollama_embed(&server, short, Some(json!("1s"))).await;
    let row = ps_row(&server, short).await;
    let expires =
        chrono::DateTime::parse_from_rfc3339(row["expires_at"].as_str().expect("expires_at")).expect("RFC 3339");
    let ahead = expires.signed_duration_since(chrono::Utc::now()).num_milliseconds();
    assert!((0..=1_000).contains(&ahead), "expires in {ahead} ms: {row}");
    // The server's --keep-alive for a request that names none, through another dialect.
    check_reference(&server, default, &plain_reference(default)).await;
    assert!(
        gone_within(&server, default, Duration::from_secs(10)).await,
        "{default} expired"
    );
    assert!(
        gone_within(&server, short, Duration::from_secs(10)).await,
        "{short} expired"
    );
    assert_eq!(unloads(&server, short, "expired").await, 1.0);
    assert_eq!(unloads(&server, default, "expired").await, 1.0);
}

#[tokio::test]
async fn the_budget_unloads_the_least_recently_used_idle_model() {
    let [a, b, c] = ["tiny-gte-cls", "tiny-nomic-bert-mean", "tiny-xlm-roberta-mean"];
    let budget = weights_bytes(a) + weights_bytes(b) + weights_bytes(c) - 1;
    let memory = MemorySettings {
        max_loaded_bytes: Some(budget),
        ..MemorySettings::default()
    };
    let server = serve(&[a, b, c], memory).await;
    ollama_embed(&server, a, None).await;
    ollama_embed(&server, b, None).await;
    ollama_embed(&server, a, None).await;
    assert_eq!(running(&server).await, sorted([a, b]));
    ollama_embed(&server, c, None).await;
    assert_eq!(
        running(&server).await,
        sorted([a, c]),
        "{b} was the least recently used"
    );
    assert_eq!(unloads(&server, b, "budget").await, 1.0);
    ollama_embed(&server, b, None).await;
    assert_eq!(running(&server).await, sorted([b, c]), "then {a}");
    assert_eq!(unloads(&server, a, "budget").await, 1.0);
    assert!(server.state.store.loaded_bytes() <= budget);
}

fn sorted<const N: usize>(names: [&str; N]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// Two models that cannot both be loaded, asked for at once by several clients: every answer
/// is right, and the loaded bytes never pass the budget.
#[tokio::test]
async fn models_taking_turns_within_the_budget_answer_every_request_correctly() {
    let [a, b] = ["tiny-bert-max-dense", "tiny-modernbert-cls"];
    let budget = weights_bytes(a).max(weights_bytes(b));
    let memory = MemorySettings {
        max_loaded_bytes: Some(budget),
        ..MemorySettings::default()
    };
    let server = std::sync::Arc::new(serve(&[a, b], memory).await);
    let references: Vec<(&str, Vec<Reference>)> = vec![(a, pipeline_references(a)), (b, pipeline_references(b))];
    let mut clients = Vec::new();
    for client in 0..6 {
        let (server, references) = (std::sync::Arc::clone(&server), references.clone());
        clients.push(tokio::spawn(async move {
            for round in 0..6 {
                let (name, rows) = &references[(client + round) % 2];
                let rows: Vec<&Reference> = rows.iter().filter(|r| r.prompt_name.is_none()).take(8).collect();
                let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
                let (status, body) = server
                    .post("/v1/embeddings", &json!({"model": name, "input": texts}))
                    .await;
                assert_eq!(status, 200, "{name}: {body}");
                for (row, vector) in rows.iter().zip(common::vectors(&body)) {
                    assert!(
                        max_abs_diff(&vector, &row.embedding) <= PARITY,
                        "{name}: {:?}",
                        row.text
                    );
                }
                assert!(server.state.store.loaded_bytes() <= budget);
            }
        }));
    }
    for client in clients {
        tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .expect("every client finishes")
            .expect("client task");
    }
    assert_eq!(running(&server).await.len(), 1, "one fits at a time");
    assert!(unloads(&server, a, "budget").await + unloads(&server, b, "budget").await >= 1.0);
}

#[tokio::test]
async fn a_model_larger_than_the_budget_stops_the_start_in_one_line() {
    let name = "tiny-qwen3-lasttoken";
    let registry = Registry::parse(&models_file(&[name]), std::path::Path::new("/")).expect("parses");
    let memory = MemorySettings {
        max_loaded_bytes: Some(weights_bytes(name) - 1),
        ..MemorySettings::default()
    };
    let store = ModelStore::new(
        registry,
        offline_hub(&scratch_dir("empty-cache")),
        candle_core::Device::Cpu,
        EngineConfig::default(),
        memory,
    );
    let error = format!("{:#}", store.err().expect("refused"));
    assert!(error.contains("--max-loaded-bytes") && error.contains(name), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

#[tokio::test]
async fn a_keep_alive_that_is_not_a_duration_is_a_400_in_ollamas_shape() {
    let name = "tiny-gemma3-mean-dense";
    let server = serve(&[name], MemorySettings::default()).await;
    for wrong in [json!("soon"), json!(true), json!("5 minutes")] {
        let (status, body) = server
            .post("/api/embed", &json!({"model": name, "input": "x", "keep_alive": wrong}))
            .await;
        assert_eq!(status, 400, "{body}");
        let message = body["error"].as_str().expect("Ollama's error shape");
        assert!(message.contains("keep_alive"), "{message}");
    }
    assert!(running(&server).await.is_empty(), "refused before loading");
}

/// The heap pages of this process (weights, batches), from /proc.
#[cfg(target_os = "linux")]
fn anonymous_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon");
    kb * 1024
}

/// An unloaded model's memory goes back to the system (glibc keeps freed pages unless asked),
/// so the next model does not come on top of it. Run as its own process to measure it alone.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_unloaded_models_memory_is_given_back() {
    use common::process::{binary, ServerProcess};
    let models = scratch_dir("memory-given-back").join("models.txt");
    std::fs::write(&models, format!("{} minilm\n", common::MINILM)).expect("models file");
    let weights = WeightsSize::of(&[common::minilm_snapshot().join("model.safetensors")])
        .expect("headers")
        .float32;
    let mut command = binary();
    command
        .args([
            "serve",
            "--port",
            "0",
            "--device",
            "cpu",
            "--preload",
            "none",
            "--models-file",
        ])
        .arg(&models)
        .env("HF_HUB_CACHE", common::test_hf_cache())
        .env("HF_HUB_OFFLINE", "1");
    let mut process = ServerProcess::start(command);
    let base = format!("http://{}", process.address());
    let pid = process.child.id();
    let client = reqwest::Client::new();
    let embed = |keep_alive: i64| {
        let body = json!({"model": "minilm", "input": "hello", "keep_alive": keep_alive});
        client.post(format!("{base}/api/embed")).json(&body).send()
    };
    // Several cycles: glibc keeps freed blocks in its arenas unless trimmed (30 MB of MiniLM's
    // 91 MB after the first unload here, more once its mmap threshold has risen).
    let idle = anonymous_rss(pid);
    for cycle in 1..=3 {
        assert_eq!(embed(-1).await.expect("sent").status(), 200);
        let loaded = anonymous_rss(pid);
        assert!(
            loaded > idle + weights,
            "cycle {cycle}: the weights are resident: {loaded} bytes"
        );
        assert_eq!(embed(0).await.expect("sent").status(), 200);
        let mut after = anonymous_rss(pid);
        for _ in 0..100 {
            if after <= idle + weights / 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            after = anonymous_rss(pid);
        }
        assert!(
            after <= idle + weights / 4,
            "cycle {cycle}: {idle} bytes idle, {loaded} loaded, {after} after the unload ({weights} of weights)"
        );
    }
}
