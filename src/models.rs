//! Loaded models: each allow-listed model's weights are loaded at most once (even when several
//! requests or several entries of the models file ask for them at the same moment) and then
//! shared by every request.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::Device;
use tokio::sync::OnceCell;

use crate::engine::{Engine, EngineConfig};
use crate::hub::{Access, HubSettings, Snapshot};
use crate::memory_guard::{self, Headroom, WeightsSize};
use crate::registry::{ModelSpec, Registry};
use crate::runner::{self, EmbeddingModel};
use crate::snapshot::{EntryServing, ModelDescription, WeightFiles};
use crate::tokenize::{TextTokenizer, TokenPiece, TokenizeError, Truncation};

/// A model ready to serve: its pipeline, its tokenizer and the engine that runs its forward
/// passes.
pub struct LoadedModel {
    pub description: ModelDescription,
    pub vocab_size: usize,
    pub device: &'static str,
    tokenizer: TextTokenizer,
    pub engine: Engine,
}

impl LoadedModel {
    /// Tokenizes texts (behind `prompt`), truncated to the model's limit as asked. Blocking
    /// (CPU-bound): run it off the reactor.
    pub fn tokenize(
        &self,
        texts: Vec<String>,
        prompt: Option<&str>,
        truncation: Truncation,
    ) -> Result<Vec<Vec<u32>>, TokenizeError> {
        self.tokenizer.encode_batch(texts, prompt, truncation)
    }

    /// One text's tokens with their offsets, untruncated. Blocking.
    pub fn pieces(
        &self,
        text: &str,
        prompt: Option<&str>,
        special_tokens: bool,
    ) -> Result<Vec<TokenPiece>, TokenizeError> {
        self.tokenizer.pieces(text, prompt, special_tokens)
    }

    /// The prompt's token count as pooling with `include_prompt: false` leaves it out.
    pub fn prompt_length(&self, prompt: &str) -> Result<usize, TokenizeError> {
        self.tokenizer.prompt_length(prompt)
    }

    /// The special tokens framing every text (`[CLS]` and `[SEP]`: 2).
    pub fn frame_tokens(&self) -> usize {
        self.tokenizer.frame_len()
    }

    /// Checks client-supplied ids are a tokenization by this model's tokenizer.
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), String> {
        self.tokenizer.check_ids(ids, self.vocab_size)
    }

    /// Truncates client-supplied token ids the way text is truncated.
    pub fn truncate_ids(&self, ids: Vec<u32>, truncation: Truncation) -> Vec<u32> {
        self.tokenizer.truncate_ids(ids, truncation)
    }
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
    let fail = |e: anyhow::Error| anyhow::anyhow!("model {}: {e}", spec.id);
    let snapshot = Snapshot::new(spec, hub, Access::Download { progress });
    let description = ModelDescription::read(&snapshot).map_err(fail)?;
    let files = WeightFiles::fetch(&snapshot).map_err(fail)?;
    let size = WeightsSize::of(&files.weights).map_err(fail)?;
    if let Some(headroom) = Headroom::now() {
        memory_guard::check(size, spec.precision(), headroom).map_err(|e| fail(anyhow::anyhow!(e)))?;
    }
    let model = EmbeddingModel::load(
        description.architecture.as_ref(),
        &files.weights,
        &description.head,
        device,
        spec.precision(),
    )
    .map_err(fail)?;
    let tokenizer = TextTokenizer::from_file(&files.tokenizer, description.max_tokens, description.lowercase)
        .map_err(|e| fail(e.into()))?;
    let vocab_size = description.shape().vocab_size;
    if tokenizer.vocab_size() > vocab_size {
        return Err(fail(anyhow::anyhow!(
            "the tokenizer's vocabulary ({}) is larger than the model's ({vocab_size})",
            tokenizer.vocab_size(),
        )));
    }
    let device_name = runner::device::describe(model.device());
    let engine = Engine::start(Arc::new(model), engine_config, &spec.id).map_err(|e| fail(e.into()))?;
    tracing::info!(
        model = %spec.id,
        architecture = %description.shape().model_type,
        pooling = %description.pooling.describe(),
        dimension = description.dimension(),
        max_tokens = description.max_tokens,
        device = device_name,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model loaded"
    );
    Ok(LoadedModel {
        description,
        vocab_size,
        device: device_name,
        tokenizer,
        engine,
    })
}

/// What an entry of the models file serves, known from the files before the weights load.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub description: ModelDescription,
    pub serving: EntryServing,
}

/// Every allow-listed model's slot, one per set of weights; a slot is filled on first use or
/// by preloading.
pub struct ModelStore {
    registry: Registry,
    hub: HubSettings,
    device: Device,
    engine_config: EngineConfig,
    slots: HashMap<String, OnceCell<Arc<LoadedModel>>>,
    /// Per entry id, for entries whose files were in the cache at start.
    checked: HashMap<String, EntryInfo>,
}

impl ModelStore {
    /// Checks every entry whose files are already on disk (architecture, modules, options), so
    /// that a listed model that can never load stops the start instead of failing a request.
    /// Reads small files only; blocking.
    pub fn new(
        registry: Registry,
        hub: HubSettings,
        device: Device,
        engine_config: EngineConfig,
    ) -> anyhow::Result<Self> {
        let cpu_bf16 = runner::packed::cpu_supports_bf16();
        for spec in registry.specs() {
            if let Some(reason) = spec.precision().unsupported_on(&device, cpu_bf16) {
                anyhow::bail!("model {}: {reason}", spec.id);
            }
        }
        let mut checked = HashMap::new();
        for spec in registry.specs() {
            crate::metrics::model_listed(&spec.id);
            let snapshot = Snapshot::new(spec, &hub, Access::CacheOnly);
            if !snapshot.is_local() {
                tracing::info!(model = %spec.id, "not in the cache yet: checked when first loaded");
                continue;
            }
            let description =
                ModelDescription::read(&snapshot).map_err(|e| anyhow::anyhow!("model {}: {e}", spec.id))?;
            let serving = description
                .serving(&spec.options)
                .map_err(|e| anyhow::anyhow!("model {}: {e}", spec.id))?;
            checked.insert(spec.id.clone(), EntryInfo { description, serving });
        }
        let slots = registry
            .specs()
            .iter()
            .map(|s| (s.weights_key(), OnceCell::new()))
            .collect();
        Ok(Self {
            registry,
            hub,
            device,
            engine_config,
            slots,
            checked,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The kernels `precision` runs on this store's device ([`runner::kernels`]).
    pub fn kernels(&self, precision: runner::Precision) -> String {
        runner::kernels(&self.device, precision)
    }

    pub fn engine_config(&self) -> EngineConfig {
        self.engine_config
    }

    /// The entry's weights files (one, or each shard), when they are on disk.
    pub fn weights_files(&self, spec: &ModelSpec) -> Option<Vec<std::path::PathBuf>> {
        WeightFiles::fetch(&Snapshot::new(spec, &self.hub, Access::CacheOnly))
            .ok()
            .map(|files| files.weights)
    }

    /// The model behind `spec` if it is already loaded.
    pub fn loaded(&self, spec: &ModelSpec) -> Option<Arc<LoadedModel>> {
        self.slots.get(&spec.weights_key())?.get().cloned()
    }

    /// What `spec` serves, from the start-up check or the loaded model; `None` while neither
    /// has read its files.
    pub fn info(&self, spec: &ModelSpec) -> Option<EntryInfo> {
        if let Some(info) = self.checked.get(&spec.id) {
            return Some(info.clone());
        }
        let description = self.loaded(spec)?.description.clone();
        let serving = description.serving(&spec.options).ok()?;
        Some(EntryInfo { description, serving })
    }

    /// The loaded model and how `spec` serves it, loading it now if nobody has yet. Concurrent
    /// callers share one load; a failed load leaves the slot empty so a later call can try again.
    pub async fn get(&self, spec: &ModelSpec) -> anyhow::Result<(Arc<LoadedModel>, EntryServing)> {
        let slot = self
            .slots
            .get(&spec.weights_key())
            .ok_or_else(|| anyhow::anyhow!("model {} is not in the models file", spec.id))?;
        let model = slot
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let (loading, hub, device, engine_config) =
                    (spec.clone(), self.hub.clone(), self.device.clone(), self.engine_config);
                let loaded =
                    tokio::task::spawn_blocking(move || load_model(&loading, &hub, &device, engine_config, false))
                        .await
                        .map_err(|e| anyhow::anyhow!("loading panicked: {e}"))??;
                // Every entry of these weights is ready now, not only the one that asked.
                let key = spec.weights_key();
                for entry in self.registry.specs().iter().filter(|s| s.weights_key() == key) {
                    crate::metrics::model_loaded(&entry.id, started.elapsed());
                }
                Ok::<_, anyhow::Error>(Arc::new(loaded))
            })
            .await?
            .clone();
        let serving = model
            .description
            .serving(&spec.options)
            .map_err(|e| anyhow::anyhow!("model {}: {e}", spec.id))?;
        Ok((model, serving))
    }
}
