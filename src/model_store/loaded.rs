//! One model in memory: its pipeline, tokenizer and engine, and the two blocking steps that
//! get it there (the files fetched and measured, then the weights loaded), split so that room
//! within the memory budget is made between them.

use std::sync::Arc;

use candle_core::Device;

use crate::engine::{Engine, EngineConfig};
use crate::hub::{Access, HubSettings, Snapshot};
use crate::model_files::PairFormat;
use crate::model_files::{ModelDescription, WeightFiles};
use crate::model_store::memory_guard::{self, Headroom, WeightsSize};
use crate::registry::ModelSpec;
use crate::runner::head::sparse::SparseVector;
use crate::runner::tasks::scoring::ScoringModel;
use crate::runner::tasks::sparse::{SparseModel, StaticWeights};
use crate::runner::{self, EmbeddingModel, Precision, RunnerError, SequenceModel};
use crate::tokenize::{ChatTokenizer, ForeignIds, ScoringTokens, TextTokenizer, TokenPiece, TokenizeError, Truncation};

use super::LoadError;

/// A model ready to serve: its pipeline, its tokenizer and the engine that runs its forward
/// passes.
pub struct LoadedModel {
    pub description: ModelDescription,
    pub vocab_size: usize,
    pub device: &'static str,
    tokenizer: TextTokenizer,
    /// An LLM reranker's chat template.
    chat: Option<ChatTokenizer>,
    /// An inference-free sparse model's looked-up route.
    static_route: Option<StaticEncoder>,
    pub engine: Engine,
}

/// A `SparseStaticEmbedding` route: its own tokenizer (no special tokens) and weights.
struct StaticEncoder {
    tokenizer: TextTokenizer,
    weights: StaticWeights,
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

    /// The text of token ids. Blocking.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizeError> {
        self.tokenizer.decode(ids, skip_special)
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
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), ForeignIds> {
        self.tokenizer.check_ids(ids, self.vocab_size)
    }

    /// A scoring model's inputs for query-document pairs: the tokenizer's pair framing, or the
    /// model's chat template. Blocking.
    pub fn encode_pairs(
        &self,
        pairs: &[(Arc<str>, String)],
        truncation: Truncation,
    ) -> Result<Vec<ScoringTokens>, TokenizeError> {
        match &self.chat {
            Some(chat) => chat.encode_pairs(&self.tokenizer, pairs, truncation),
            None => self.tokenizer.encode_pairs(pairs, truncation),
        }
    }

    /// The vectors of an inference-free sparse model's looked-up route (tokenized without
    /// special tokens, cut at its tokenizer's limit) and each text's token count; `None` when
    /// the model has no such route. Blocking.
    pub fn encode_static(
        &self,
        texts: &[String],
        prompt: Option<&str>,
    ) -> Option<Result<Vec<(SparseVector, usize)>, TokenizeError>> {
        let route = self.static_route.as_ref()?;
        Some(
            route
                .tokenizer
                .encode_plain(texts, prompt)
                .map(|all| all.iter().map(|ids| (route.weights.vector(ids), ids.len())).collect()),
        )
    }

    /// An LLM reranker: pairs go through a chat template, and a single text has no form.
    pub fn has_chat_template(&self) -> bool {
        self.chat.is_some()
    }

    /// A document cut after its first `limit` tokens. Blocking.
    pub fn first_tokens(&self, document: &str, limit: usize) -> Result<String, TokenizeError> {
        self.tokenizer.first_tokens(document.to_owned(), limit)
    }

    /// Truncates client-supplied token ids the way text is truncated.
    pub fn truncate_ids(&self, ids: Vec<u32>, truncation: Truncation) -> Vec<u32> {
        self.tokenizer.truncate_ids(ids, truncation)
    }
}

/// A model's files on disk, read and measured, before its weights load.
pub struct FetchedModel {
    id: String,
    precision: Precision,
    pub description: ModelDescription,
    files: WeightFiles,
    /// An inference-free sparse model's looked-up route: its weights and tokenizer.
    static_files: Option<WeightFiles>,
    size: WeightsSize,
}

impl FetchedModel {
    /// Downloads what is missing and reads the small files and the weights' headers. Blocking.
    pub fn fetch(spec: &ModelSpec, hub: &HubSettings, progress: bool) -> Result<Self, LoadError> {
        let fail = |e: anyhow::Error| LoadError::from_files(&e);
        let snapshot = Snapshot::new(spec, hub, Access::Download { progress });
        let description = ModelDescription::read(&snapshot).map_err(fail)?;
        let files = WeightFiles::fetch(&snapshot).map_err(fail)?;
        let size = WeightsSize::of(&files.weights).map_err(|e| LoadError::Files(e.to_string()))?;
        let static_files = match description.static_route() {
            Some(route) => Some(WeightFiles::fetch_at(&snapshot.within(&route.folder)).map_err(fail)?),
            None => None,
        };
        Ok(Self {
            id: spec.id.clone(),
            precision: spec.precision(),
            description,
            files,
            static_files,
            size,
        })
    }

    /// The weights' size in memory, in the number format they will run in.
    pub fn bytes(&self) -> u64 {
        self.size.in_format(self.precision)
    }

    /// Loads the weights and tokenizer and starts the engine. Blocking.
    pub fn load(self, device: &Device, engine_config: EngineConfig) -> Result<LoadedModel, LoadError> {
        let started = std::time::Instant::now();
        let Self {
            id,
            precision,
            description,
            files,
            static_files,
            size,
        } = self;
        let fail = |e: anyhow::Error| LoadError::from_files(&e);
        if let Some(headroom) = Headroom::now() {
            memory_guard::check(size, precision, headroom).map_err(|e| LoadError::OverBudget(e.to_string()))?;
        }
        let tokenizer = TextTokenizer::from_file(&files.tokenizer, description.max_tokens, description.lowercase)
            .map_err(|e| fail(e.into()))?;
        let vocab_size = description.shape().vocab_size;
        if tokenizer.vocab_size() > vocab_size {
            return Err(LoadError::Files(format!(
                "the tokenizer's vocabulary ({}) is larger than the model's ({vocab_size})",
                tokenizer.vocab_size(),
            )));
        }
        let architecture = description.architecture.as_ref();
        let (model, chat): (Arc<dyn SequenceModel>, _) = match (&description.scoring, &description.sparse) {
            (Some(scoring), _) => {
                let model = ScoringModel::load(architecture, &files.weights, &scoring.head, device, precision);
                let chat = match &scoring.input {
                    PairFormat::Chat(template) => {
                        Some(ChatTokenizer::new(template, &tokenizer).map_err(|e| fail(e.into()))?)
                    }
                    PairFormat::Encoder => None,
                };
                (Arc::new(model.map_err(weights_fault)?), chat)
            }
            (None, Some(sparse)) => {
                let model = SparseModel::load(architecture, &files.weights, &sparse.head, device, precision);
                (Arc::new(model.map_err(weights_fault)?), None)
            }
            (None, None) => {
                let model = EmbeddingModel::load(architecture, &files.weights, &description.head, device, precision);
                (Arc::new(model.map_err(weights_fault)?), None)
            }
        };
        let static_route = match (static_files, description.static_route()) {
            (Some(files), Some(route)) => {
                let limit = route.max_tokens.unwrap_or(description.max_tokens);
                let tokenizer = TextTokenizer::from_file(&files.tokenizer, limit, false).map_err(|e| fail(e.into()))?;
                let weights = files
                    .weights
                    .first()
                    .ok_or_else(|| LoadError::Files(format!("{}: no weights file", route.folder)))?;
                let weights = StaticWeights::load(weights).map_err(weights_fault)?;
                Some(StaticEncoder { tokenizer, weights })
            }
            _ => None,
        };
        let device_name = runner::device::describe(device);
        // The engine's threads failing to start is the machine's state, not the files'.
        let engine = Engine::start(model, engine_config, &id).map_err(|e| LoadError::Transient(e.to_string()))?;
        tracing::info!(
            model = %id,
            architecture = %description.shape().model_type,
            kind = description.kind().name(),
            pooling = %description.pooling.describe(),
            dimension = description.dimension(),
            max_tokens = description.max_tokens,
            device = device_name,
            bytes = size.in_format(precision),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(LoadedModel {
            description,
            vocab_size,
            device: device_name,
            tokenizer,
            chat,
            static_route,
            engine,
        })
    }
}

/// A model the runner could not build from its files. Only the files can be at fault here: the
/// number format was checked against the device when the models file was read.
fn weights_fault(error: RunnerError) -> LoadError {
    LoadError::Files(error.to_string())
}
