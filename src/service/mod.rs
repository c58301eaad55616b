//! The operations every transport shares, with no HTTP or gRPC type in them: resolving a model
//! a client names ([`models`]), reading inputs and options ([`input`]), embedding ([`embed`],
//! sparse vectors included), scoring ([`score`]: rerank, score, predict), tokens ([`tokens`]),
//! how a model's pipeline is described ([`pipeline`]) and the server's defaults ([`info`]), the exact-repeat cache ([`cache`]) and a
//! vector's int8 / binary forms ([`quantize`]); what one request did, for the access log and
//! the timing headers ([`record`]); one error type ([`error`]) that each transport shapes; and
//! the state the server shares between requests.

pub mod cache;
pub mod embed;
pub mod error;
pub mod info;
pub mod input;
pub mod models;
pub mod pipeline;
pub mod quantize;
pub mod record;
pub mod score;
pub mod tokens;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::ApiKeys;
use crate::model_store::ModelStore;
use cache::EmbeddingCache;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most tokens one request may ask for, after truncation (400 beyond).
    pub max_request_tokens: usize,
    /// A body may take this long, plus the time its size takes at the minimum rate (408 beyond).
    pub body_read_timeout: Duration,
    pub body_min_bytes_per_second: u64,
    /// Whole-request deadline; queued work of a request past it is cancelled (503).
    pub request_timeout: Duration,
    /// Most documents (or pairs, or texts to classify) in one scoring request (400 beyond).
    pub max_rerank_documents: usize,
    /// Most inputs in one embedding request (413 beyond; TEI's `--max-client-batch-size`).
    pub max_inputs: usize,
    /// Whether an over-long input is truncated when the request does not say (TEI's
    /// `--auto-truncate`); `false` makes it an error.
    pub auto_truncate: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_request_tokens: 131_072,
            body_read_timeout: Duration::from_secs(10),
            body_min_bytes_per_second: 64 * 1024,
            request_timeout: Duration::from_secs(60),
            max_rerank_documents: 1000,
            max_inputs: input::MAX_INPUTS,
            auto_truncate: true,
        }
    }
}

/// Started as TEI is (`--model-id`): what TEI's answers need beyond the registry. OpenAI's
/// route then answers as TEI's does (any `model`, TEI's error body).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeiDropIn {
    /// `--model-id` as given; `/info` shows it beside the served name.
    pub model_id: String,
    /// `--served-model-name`, else `--model-id` as given: TEI's name for the model in `/info`
    /// and in `/v1/embeddings` answers (the models list keeps the registry's names).
    pub served_model_name: String,
    /// `--tokenization-workers`, which `/info` shows (texts are tokenized on the runtime's
    /// blocking threads whatever it says).
    pub tokenization_workers: Option<usize>,
}

pub struct AppState {
    pub store: ModelStore,
    pub limits: Limits,
    /// Set when started as TEI.
    pub tei_drop_in: Option<TeiDropIn>,
    pub keys: ApiKeys,
    /// `/metrics` without a key even when keys are set.
    pub metrics_public: bool,
    /// Origins browsers may call from (`*` for any); no CORS headers when empty.
    pub cors_origins: Vec<String>,
    /// The exact-repeat cache of text vectors ([`crate::service::cache`]).
    pub cache: EmbeddingCache,
    ready: AtomicBool,
    draining: AtomicBool,
    /// Whether the server takes traffic ([`AppState::accepting`]), for those who wait on it.
    accepting: tokio::sync::watch::Sender<bool>,
    pub(crate) started_at: u64,
}

/// The cache's budget unless `--cache-bytes` says otherwise: modest next to any model's weights.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl AppState {
    pub fn new(store: ModelStore, limits: Limits) -> Self {
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        crate::metrics::install();
        Self {
            store,
            limits,
            tei_drop_in: None,
            keys: ApiKeys::none(),
            metrics_public: false,
            cors_origins: Vec::new(),
            cache: EmbeddingCache::new(DEFAULT_CACHE_BYTES),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            accepting: tokio::sync::watch::Sender::new(false),
            started_at,
        }
    }

    /// An exact-repeat cache of `bytes` (0: off).
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache = EmbeddingCache::new(bytes);
        self
    }

    /// Requires one of `keys` on every route but the health probes.
    pub fn with_keys(mut self, keys: ApiKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Marks the models loaded at start as ready; `/health` answers 200 from then on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
        self.accepting.send_replace(self.accepting());
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Shutdown has begun: readiness fails so load balancers stop sending, while in-flight
    /// requests are still answered.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.accepting.send_replace(false);
    }

    /// Follows [`AppState::accepting`] as it changes; closes when the state is dropped.
    pub fn watch_accepting(&self) -> tokio::sync::watch::Receiver<bool> {
        self.accepting.subscribe()
    }

    pub fn accepting(&self) -> bool {
        self.is_ready() && !self.is_draining()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}
