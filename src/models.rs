//! Loaded models: each allow-listed model is loaded at most once (even when several requests
//! ask for it at the same moment) and then shared by every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::engine::{Engine, EngineConfig};
use crate::hub::{fetch_model, HubSettings, ModelFiles};
use crate::registry::{ModelSpec, Registry};
use crate::runner::{self, EmbeddingModel};
use crate::tokenize::{TextTokenizer, TokenizeError};

/// A model ready to serve: its tokenizer and the engine that runs its forward passes.
pub struct LoadedModel {
    pub id: String,
    pub dimension: usize,
    pub max_tokens: usize,
    pub vocab_size: usize,
    pub device: &'static str,
    tokenizer: TextTokenizer,
    pub engine: Engine,
}

impl LoadedModel {
    /// Tokenizes texts with the model's truncation. Blocking (CPU-bound): run it off the reactor.
    pub fn tokenize(&self, texts: Vec<String>) -> Result<Vec<Vec<u32>>, TokenizeError> {
        self.tokenizer.encode_batch(texts)
    }

    /// Truncates client-supplied token ids the way text is truncated.
    pub fn truncate_ids(&self, ids: Vec<u32>) -> Vec<u32> {
        self.tokenizer.truncate_ids(ids)
    }
}

#[derive(Debug, Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

/// The truncation length: sentence-transformers' `max_seq_length` when the model has one,
/// else the smaller of the tokenizer's and the model's maxima; never past the position table.
pub fn max_tokens_for(files: &ModelFiles, max_position_embeddings: usize) -> anyhow::Result<usize> {
    fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
    let sentence = match &files.sentence_config {
        Some(path) => read::<SentenceConfig>(path)?.max_seq_length,
        None => None,
    };
    let tokenizer = match &files.tokenizer_config {
        // Tokenizers without a limit store a huge sentinel (1e30); ignore anything implausible.
        Some(path) => read::<TokenizerConfig>(path)?
            .model_max_length
            .filter(|n| (1.0..1e9).contains(n))
            .map(|n| n as usize),
        None => None,
    };
    let chosen = sentence
        .or(tokenizer)
        .map_or(max_position_embeddings, |n| n.min(max_position_embeddings));
    anyhow::ensure!(chosen >= 1, "the model allows no tokens");
    Ok(chosen)
}

/// Fetches (when needed), loads and starts one model. Blocking.
pub fn load_model(
    spec: &ModelSpec,
    hub: &HubSettings,
    device: &Device,
    engine_config: EngineConfig,
    progress: bool,
) -> anyhow::Result<LoadedModel> {
    let started = std::time::Instant::now();
    let files = fetch_model(spec, hub, progress)?;
    let fail = |e: anyhow::Error| anyhow::anyhow!("model {}: {e}", spec.id);
    let model = EmbeddingModel::load(&files.config, &files.weights, device).map_err(fail)?;
    let config = model.config().clone();
    let max_tokens = max_tokens_for(&files, config.max_position_embeddings).map_err(fail)?;
    let tokenizer = TextTokenizer::from_file(&files.tokenizer, max_tokens).map_err(|e| fail(e.into()))?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(fail(anyhow::anyhow!(
            "the tokenizer's vocabulary ({}) is larger than the model's ({})",
            tokenizer.vocab_size(),
            config.vocab_size
        )));
    }
    let device_name = runner::device::describe(model.device());
    let engine = Engine::start(Arc::new(model), engine_config).map_err(|e| fail(e.into()))?;
    tracing::info!(
        model = %spec.id,
        dimension = config.hidden_size,
        max_tokens,
        device = device_name,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model loaded"
    );
    Ok(LoadedModel {
        id: spec.id.clone(),
        dimension: config.hidden_size,
        max_tokens,
        vocab_size: config.vocab_size,
        device: device_name,
        tokenizer,
        engine,
    })
}

/// Every allow-listed model's slot; a slot is filled on first use or by preloading.
pub struct ModelStore {
    registry: Registry,
    hub: HubSettings,
    device: Device,
    engine_config: EngineConfig,
    slots: HashMap<String, OnceCell<Arc<LoadedModel>>>,
}

impl ModelStore {
    pub fn new(registry: Registry, hub: HubSettings, device: Device, engine_config: EngineConfig) -> Self {
        let slots = registry
            .specs()
            .iter()
            .map(|s| (s.id.clone(), OnceCell::new()))
            .collect();
        Self {
            registry,
            hub,
            device,
            engine_config,
            slots,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The model if it is already loaded.
    pub fn loaded(&self, id: &str) -> Option<Arc<LoadedModel>> {
        self.slots.get(id)?.get().cloned()
    }

    /// The loaded model, loading it now if nobody has yet. Concurrent callers share one load;
    /// a failed load leaves the slot empty so a later call can try again.
    pub async fn get(&self, spec: &ModelSpec) -> anyhow::Result<Arc<LoadedModel>> {
        let slot = self
            .slots
            .get(&spec.id)
            .ok_or_else(|| anyhow::anyhow!("model {} is not in the models file", spec.id))?;
        slot.get_or_try_init(|| async {
            let (spec, hub, device, engine_config) =
                (spec.clone(), self.hub.clone(), self.device.clone(), self.engine_config);
            let loaded = tokio::task::spawn_blocking(move || load_model(&spec, &hub, &device, engine_config, false))
                .await
                .map_err(|e| anyhow::anyhow!("loading panicked: {e}"))??;
            Ok(Arc::new(loaded))
        })
        .await
        .cloned()
    }
}
