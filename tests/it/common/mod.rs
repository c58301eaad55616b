//! Shared helpers: start the real router on a loopback port with a real model behind it.

pub mod fidelity;
pub mod process;
pub mod python;
pub mod rerank;
pub mod tei;
pub mod tiny;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use candle_core::Device;
use embeddings::auth::ApiKeys;
use embeddings::engine::EngineConfig;
use embeddings::http::router;
use embeddings::hub::HubSettings;
use embeddings::model_store::{MemorySettings, ModelStore};
use embeddings::registry::Registry;
use embeddings::server::connections::{serve, ConnectionSettings};
use embeddings::server::preload_models;
use embeddings::service::AppState;
pub use embeddings::service::Limits;
use serde_json::Value;

pub const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// A unique scratch directory under the target dir (removed by `cargo clean`).
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes a tiny random BERT and returns its directory.
pub fn tiny_model_dir() -> PathBuf {
    let dir = scratch_dir("tiny-bert");
    tiny::write_tiny_bert(&dir, 7).expect("tiny model written");
    dir
}

/// The Hugging Face cache that `scripts/fetch-test-model.py` fills with the real all-MiniLM-L6-v2.
pub fn test_hf_cache() -> PathBuf {
    let dir = std::env::var_os("EMBEDDINGS_TEST_HF_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-hf-home/hub"));
    assert!(
        dir.join("models--sentence-transformers--all-MiniLM-L6-v2").is_dir(),
        "the real all-MiniLM-L6-v2 is not in {}; run scripts/fetch-test-model.py (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// The real MiniLM's snapshot folder in the test cache.
pub fn minilm_snapshot() -> PathBuf {
    let snapshots = test_hf_cache().join("models--sentence-transformers--all-MiniLM-L6-v2/snapshots");
    std::fs::read_dir(&snapshots)
        .expect("MiniLM laid out")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.join("config.json").is_file())
        .expect("a snapshot of MiniLM")
}

/// The fixtures folder: the repository's `tests/fixtures/`, or the one `EMBEDDINGS_FIXTURES`
/// names (as the unit tests' `src/test_fixtures.rs` reads it).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("EMBEDDINGS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

/// The tiny random-weight pipelines of `st-pipelines/` (one per pooling mode, Dense, prompts
/// and architecture).
pub const TINY_PIPELINES: [&str; 7] = [
    "tiny-bert-cls",
    "tiny-bert-max-dense",
    "tiny-bert-mean-sqrt-len",
    "tiny-bert-mean-prompts",
    "tiny-mpnet-mean",
    "tiny-xlm-roberta-mean",
    "tiny-distilbert-mean",
];

/// The directory of the tiny pipeline `name`.
pub fn pipeline_dir(name: &str) -> PathBuf {
    fixtures_dir().join("st-pipelines").join(name)
}

/// The sentence-transformers vectors of the tiny pipeline `name`, every fixture row.
pub fn pipeline_references(name: &str) -> Vec<Reference> {
    let references = read_references(&fixtures_dir().join("st-pipelines").join(format!("{name}.jsonl")));
    assert!(references.len() >= 22, "{name}: expected the full fixture set");
    references
}

/// The reference vectors made with sentence-transformers for all-MiniLM-L6-v2.
pub fn reference_fixtures() -> PathBuf {
    fixtures_dir().join("minilm_reference.jsonl")
}

/// One line of a sentence-transformers reference file.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Reference {
    pub text: String,
    #[serde(default)]
    pub prompt_name: Option<String>,
    pub tokens: usize,
    pub ids: Vec<u32>,
    pub embedding: Vec<f32>,
    #[serde(default)]
    pub unnormalized: Option<Vec<f32>>,
}

/// Reads a `.jsonl` reference file.
pub fn read_references(path: &Path) -> Vec<Reference> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line"))
        .collect()
}

/// Hub settings that only ever read the test cache: offline, so a missing file fails fast.
pub fn offline_hub(cache: &Path) -> HubSettings {
    let cache = cache.to_string_lossy().into_owned();
    HubSettings::from_lookup(move |name| match name {
        "HF_HUB_CACHE" => Some(cache.clone()),
        "HF_HUB_OFFLINE" => Some("1".to_owned()),
        _ => None,
    })
}

pub struct TestServer {
    pub base: String,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
}

pub struct Options {
    pub engine: EngineConfig,
    pub limits: Limits,
    pub connections: ConnectionSettings,
    pub preload: bool,
    /// Comma-separated API keys; empty for none.
    pub api_keys: &'static str,
    pub metrics_public: bool,
    pub cors_origins: Vec<String>,
    /// The exact-repeat cache's budget. Off by default here: tests that compare a text alone
    /// with the same text in a batch must see both computed (`tests/cache.rs` turns it on).
    pub cache_bytes: usize,
    pub memory: MemorySettings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            limits: Limits::default(),
            connections: ConnectionSettings::default(),
            preload: true,
            api_keys: "",
            metrics_public: false,
            cors_origins: Vec::new(),
            cache_bytes: 0,
            memory: MemorySettings::default(),
        }
    }
}

impl TestServer {
    /// Serves the models of `models_file` (its text) on 127.0.0.1 with an ephemeral port.
    pub async fn start(models_file: &str, hub: HubSettings, options: Options) -> Self {
        let registry = Registry::parse(models_file, Path::new("/")).expect("models file parses");
        let store = ModelStore::new(registry.clone(), hub, Device::Cpu, options.engine, options.memory)
            .expect("allow-list checks");
        let keys = ApiKeys::new(options.api_keys, None).expect("keys");
        let mut state = AppState::new(store, options.limits)
            .with_keys(keys)
            .with_cache_bytes(options.cache_bytes);
        state.metrics_public = options.metrics_public;
        state.cors_origins = options.cors_origins;
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        // HTTP and gRPC on one port, told apart by content type, as `embeddings serve` does.
        let grpc = embeddings::grpc::router(Arc::clone(&state)).expect("gRPC services");
        let app = embeddings::grpc::beside(router(Arc::clone(&state)), grpc);
        let connections = options.connections;
        tokio::spawn(async move {
            let _ = serve(listener, app, connections, std::future::pending()).await;
        });
        if options.preload {
            preload_models(Arc::clone(&state), registry.specs().to_vec(), false)
                .await
                .expect("models load");
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        Self { base, state, client }
    }

    /// The tiny model, listed under the id `tiny` (a local path) with alias `tiny-alias`.
    pub async fn tiny(options: Options) -> Self {
        let dir = tiny_model_dir();
        let file = format!("{} tiny tiny-alias\n", dir.display());
        Self::start(&file, offline_hub(&scratch_dir("empty-cache")), options).await
    }

    pub async fn minilm() -> Self {
        Self::start(
            &format!("{MINILM} minilm\n"),
            offline_hub(&test_hf_cache()),
            Options::default(),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON to /v1/embeddings and returns the status and parsed body.
    pub async fn embed(&self, body: Value) -> (u16, Value) {
        self.post("/v1/embeddings", &body).await
    }

    /// POSTs JSON to `path` and returns the status and parsed body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, &body.to_string()).await
    }

    /// POSTs `body` as JSON text (valid or not) to `path`.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.expect("JSON body");
        (status, json)
    }

    /// `/metrics` as text (the server has no keys, or public metrics).
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text")
    }

    /// The sum of the series of metric `name` that carry every label of `labels` (the metrics
    /// registry is the process's, shared by the tests running beside it: give each test
    /// entries of its own).
    pub async fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|l| l.starts_with(name))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(key, value)| l.contains(&format!("{key}=\"{value}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// GETs `path` and returns the status and parsed body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON body"))
    }
}

/// The vectors of a successful float response, by index.
pub fn vectors(body: &Value) -> Vec<Vec<f32>> {
    body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|item| {
            item["embedding"]
                .as_array()
                .expect("float embedding")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Asserts each vector is within 2e-5 (float32 parity) of its reference, pairing them in order.
pub fn assert_near_references<'a>(
    vectors: &[Vec<f32>],
    references: impl IntoIterator<Item = &'a Reference>,
    what: &str,
) {
    for (got, reference) in vectors.iter().zip(references) {
        let diff = max_abs_diff(got, &reference.embedding);
        assert!(diff <= 2e-5, "{what} {:?}: max abs diff {diff}", reference.text);
    }
}

/// Asserts an OpenAI-shaped error with the given status.
pub fn assert_openai_error(status: u16, body: &Value, expected_status: u16) {
    assert_eq!(status, expected_status, "{body}");
    let error = &body["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error.get("param").is_some() && error.get("code").is_some(), "{body}");
}

/// Copies a tiny model into a scratch folder, changing one file.
pub fn altered_copy(name: &str, file: &str, change: impl Fn(String) -> String) -> PathBuf {
    altered_copy_of(&pipeline_dir(name), file, change)
}

/// Copies the model in `source` into a scratch folder, changing one file.
pub fn altered_copy_of(source: &Path, file: &str, change: impl Fn(String) -> String) -> PathBuf {
    let name = source.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let target = scratch_dir(name);
    for entry in walk(source) {
        let relative = entry.strip_prefix(source).expect("inside");
        let destination = target.join(relative);
        std::fs::create_dir_all(destination.parent().expect("parent")).expect("folder");
        std::fs::copy(&entry, &destination).expect("copied");
    }
    let path = target.join(file);
    let text = std::fs::read_to_string(&path).expect("readable");
    std::fs::write(&path, change(text)).expect("written");
    target
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("listable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

pub fn start_error(models_file: &str) -> String {
    let registry = Registry::parse(models_file, Path::new("/")).expect("parses");
    let hub = offline_hub(&scratch_dir("empty-cache"));
    match ModelStore::new(
        registry,
        hub,
        Device::Cpu,
        EngineConfig::default(),
        MemorySettings::default(),
    ) {
        Ok(_) => panic!("{models_file}: the allow-list check passed"),
        Err(e) => format!("{e:#}"),
    }
}

/// Starting with the tiny pipeline `name` whose config.json has `from` replaced by `to` fails
/// in one line naming the model and `key`.
pub fn assert_refused_at_start(name: &str, from: &str, to: &str, key: &str) {
    let copy = altered_copy(name, "config.json", |t| {
        assert!(t.contains(from), "{name}'s config.json has no {from}");
        t.replace(from, to)
    });
    assert_refused(&copy, "", key);
}

/// Starting with the model in `dir` (its models-file line carrying `line_options`) fails in one
/// line naming the model and `key`.
pub fn assert_refused(dir: &Path, line_options: &str, key: &str) {
    let error = start_error(&format!("{} tiny {line_options}\n", dir.display()));
    assert!(error.contains(key), "{error}");
    assert!(error.contains(&dir.display().to_string()), "names the model: {error}");
    assert!(!error.contains('\n'), "one line: {error}");
}
