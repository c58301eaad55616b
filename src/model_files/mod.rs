//! What the service reads from a sentence-transformers snapshot, and what it makes of it: the
//! whole `SentenceTransformer(model).encode()` pipeline, described before any weight is loaded.
//!
//! | file | use |
//! |---|---|
//! | `config.json` | the architecture and its sizes |
//! | `model.safetensors` | the backbone's weights |
//! | `model.safetensors.index.json` | a sharded checkpoint's shards, when there is no single file |
//! | `tokenizer.json` | the tokenizer (its own truncation and padding are ignored) |
//! | `tokenizer_config.json` | `model_max_length`, when there is no `max_seq_length` |
//! | `sentence_bert_config.json` | `max_seq_length`, `do_lower_case` |
//! | `modules.json` | the pipeline: Transformer, Pooling, Dense, Normalize, in order |
//! | `N_Pooling/config.json` | the pooling modes and `include_prompt` |
//! | `N_Dense/config.json`, `N_Dense/model.safetensors` | a Dense layer and its weights |
//! | `config_sentence_transformers.json` | `prompts`, `default_prompt_name` |
//!
//! Without `modules.json` a model is mean-pooled. A `*ForSequenceClassification` checkpoint or
//! a `LogitScore` module makes it a scoring model instead ([`scoring`]: rerankers, classifiers);
//! `SpladePooling` after a masked-LM Transformer a sparse one ([`sparse`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::hub::{Snapshot, CONFIG, WEIGHTS};
use crate::registry::EntryOptions;
use crate::runner::architectures;
use crate::runner::backbone::Architecture;
use crate::runner::head::{DenseActivation, DenseSpec, HeadStep};
use crate::runner::shape::ModelShape;
use crate::runner::{PoolingMode, PoolingModes};
pub use errors::{ServingError, UnknownPrompt};
pub use router::{transformer_folder, RouterLayout, StaticRoute};
pub use scoring::{ChatTemplate, ModelKind, PairFormat, Scoring};
pub use sparse::Sparse;
pub use weight_files::WeightFiles;

mod errors;
mod router;
mod scoring;
mod sparse;
mod weight_files;

/// A model's pipeline as its files describe it.
#[derive(Debug, Clone)]
pub struct ModelDescription {
    pub architecture: Arc<dyn Architecture>,
    pub pooling: PoolingModes,
    /// `false`: the prompt's tokens are left out of pooling.
    pub include_prompt: bool,
    pub head: Vec<HeadStep>,
    pub prompts: BTreeMap<String, String>,
    pub default_prompt_name: Option<String>,
    /// Inputs are truncated to this many tokens.
    pub max_tokens: usize,
    /// sentence-transformers lowercases the text first (`do_lower_case`).
    pub lowercase: bool,
    /// A cross-encoder's, classifier's or LLM reranker's head; `None` for an embedding model.
    pub scoring: Option<Scoring>,
    /// A SPLADE model's head; `None` for any other model.
    pub sparse: Option<Sparse>,
}

/// How one entry of the models file serves its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryServing {
    pub pooling: PoolingModes,
    /// The prompt applied when a request names none: from the entry, else the model's default.
    pub default_prompt: Option<String>,
}

impl ModelDescription {
    /// Reads every file the pipeline needs (downloading them if `snapshot` may). Blocking.
    pub fn read(snapshot: &Snapshot) -> anyhow::Result<Self> {
        let modules = read_optional::<Vec<ModuleEntry>>(snapshot, "modules.json")?;
        let router = router::read(snapshot, modules.as_deref())?;
        // The backbone's own files: a Router keeps them in its Transformer's folder.
        let root = snapshot.within(router.as_ref().map_or("", |layout| layout.transformer.as_str()));
        let architecture = architectures::from_file(&root.required(CONFIG)?)?;
        let sentence: SentenceConfig = read_optional(&root, "sentence_bert_config.json")?.unwrap_or_default();
        let tokenizer: TokenizerConfig = read_optional(&root, "tokenizer_config.json")?.unwrap_or_default();
        let prompts: PromptConfig = read_optional(snapshot, "config_sentence_transformers.json")?.unwrap_or_default();
        let mut description = Self {
            max_tokens: max_tokens(
                sentence.max_seq_length,
                tokenizer.model_max_length,
                architecture.shape().max_positions,
            )?,
            architecture,
            pooling: PoolingModes::single(PoolingMode::Mean),
            include_prompt: true,
            head: Vec::new(),
            prompts: prompts.prompts,
            default_prompt_name: prompts.default_prompt_name,
            lowercase: sentence.do_lower_case,
            scoring: None,
            sparse: None,
        };
        if router.is_none() {
            description.scoring = scoring::read(snapshot, modules.as_deref(), description.shape())?;
        }
        if description.scoring.is_some() {
            return Ok(description);
        }
        description.sparse = sparse::read(
            snapshot,
            &root,
            modules.as_deref(),
            router.as_ref(),
            description.shape(),
        )?;
        if description.sparse.is_some() {
            description.check_default_prompt()?;
            return Ok(description);
        }
        if let Some(modules) = modules {
            description.read_modules(snapshot, &modules)?;
        }
        description.check_default_prompt()?;
        Ok(description)
    }

    fn check_default_prompt(&self) -> anyhow::Result<()> {
        if let Some(name) = &self.default_prompt_name {
            anyhow::ensure!(
                self.prompts.contains_key(name),
                "default_prompt_name {name:?} is not one of its prompts"
            );
        }
        Ok(())
    }

    fn read_modules(&mut self, snapshot: &Snapshot, modules: &[ModuleEntry]) -> anyhow::Result<()> {
        let mut pooled = false;
        for (index, module) in modules.iter().enumerate() {
            let kind = module.kind().ok_or_else(|| {
                anyhow::anyhow!(
                    "module {index} ({}) is not supported: the service runs Transformer, Pooling, Dense and Normalize modules",
                    module.kind_name
                )
            })?;
            let folder = module.path.trim_end_matches('/');
            let file = |name: &str| {
                if folder.is_empty() {
                    name.to_owned()
                } else {
                    format!("{folder}/{name}")
                }
            };
            match kind {
                ModuleKind::Transformer => anyhow::ensure!(
                    index == 0 && folder.is_empty(),
                    "module {index} ({}): the Transformer must be the first module, at the snapshot's root",
                    module.kind_name
                ),
                ModuleKind::Pooling => {
                    anyhow::ensure!(!pooled, "module {index}: a second Pooling module");
                    let config: Value = read_required(snapshot, &file(CONFIG))?;
                    (self.pooling, self.include_prompt) = pooling_config(&config, self.shape().hidden_size)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", file(CONFIG)))?;
                    pooled = true;
                }
                ModuleKind::Dense | ModuleKind::Normalize if !pooled => {
                    anyhow::bail!("module {index} ({}) comes before any Pooling module", module.kind_name)
                }
                ModuleKind::Dense => {
                    let config: DenseConfig = read_required(snapshot, &file(CONFIG))?;
                    let activation = DenseActivation::parse(&config.activation_function).ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: activation_function {} is not supported (Identity, Tanh, ReLU, GELU, Sigmoid are)",
                            file(CONFIG),
                            config.activation_function
                        )
                    })?;
                    anyhow::ensure!(
                        config.in_features == self.dimension(),
                        "{} takes {} features but the pipeline gives it {}",
                        file(CONFIG),
                        config.in_features,
                        self.dimension()
                    );
                    self.head.push(HeadStep::Dense(DenseSpec {
                        folder: folder.to_owned(),
                        in_features: config.in_features,
                        out_features: config.out_features,
                        bias: config.bias,
                        activation,
                        weights: snapshot.optional(&file(WEIGHTS))?,
                    }));
                }
                ModuleKind::Normalize => self.head.push(HeadStep::Normalize),
            }
        }
        anyhow::ensure!(pooled, "modules.json has no Pooling module");
        Ok(())
    }

    /// An inference-free sparse model's looked-up route.
    pub fn static_route(&self) -> Option<&StaticRoute> {
        self.sparse.as_ref()?.router.as_ref()?.static_route.as_ref()
    }

    /// The backbone's shape.
    pub fn shape(&self) -> &ModelShape {
        self.architecture.shape()
    }

    pub fn kind(&self) -> ModelKind {
        match (&self.scoring, &self.sparse) {
            (Some(scoring), _) => scoring.kind(),
            (None, Some(_)) => ModelKind::Sparse,
            (None, None) => ModelKind::Embedding,
        }
    }

    /// The pipeline's output size with its own pooling.
    pub fn dimension(&self) -> usize {
        self.dimension_with(self.pooling)
    }

    pub fn dimension_with(&self, pooling: PoolingModes) -> usize {
        if let Some(scoring) = &self.scoring {
            return scoring.head.outputs();
        }
        if let Some(sparse) = &self.sparse {
            return sparse.head.head.vocab;
        }
        let dense_out = self.head.iter().rev().find_map(|step| match step {
            HeadStep::Dense(spec) => Some(spec.out_features),
            HeadStep::Normalize => None,
        });
        dense_out.unwrap_or(self.shape().hidden_size * pooling.count())
    }

    /// Checks an entry's options against the model and settles how the entry serves it.
    pub fn serving(&self, options: &EntryOptions) -> Result<EntryServing, ServingError> {
        if self.scoring.is_some() || self.sparse.is_some() {
            let set = [
                ("pooling", options.pooling.is_some()),
                ("prompt", options.prompt.is_some() && self.scoring.is_some()),
                ("prompt_name", options.prompt_name.is_some() && self.scoring.is_some()),
            ];
            if let Some((option, _)) = set.into_iter().find(|(_, on)| *on) {
                return Err(ServingError::NotForScoring {
                    option,
                    kind: self.kind().name(),
                });
            }
        }
        let pooling = match options.pooling {
            Some(mode) => {
                let modes = PoolingModes::single(mode);
                if let Some(HeadStep::Dense(first)) = self.head.iter().find(|s| matches!(s, HeadStep::Dense(_))) {
                    if first.in_features != self.shape().hidden_size {
                        return Err(ServingError::PoolingWidth {
                            pooling: mode.name(),
                            gives: self.shape().hidden_size,
                            dense: first.folder.clone(),
                            takes: first.in_features,
                        });
                    }
                }
                modes
            }
            None => self.pooling,
        };
        let default_prompt = match (&options.prompt, &options.prompt_name) {
            (Some(text), _) => Some(text.clone()),
            (None, Some(name)) => Some(self.prompt(name)?.to_owned()),
            (None, None) => match &self.default_prompt_name {
                Some(name) => Some(self.prompt(name)?.to_owned()),
                None => None,
            },
        };
        Ok(EntryServing {
            pooling,
            default_prompt,
        })
    }

    /// The text of the prompt called `name`.
    pub fn prompt(&self, name: &str) -> Result<&str, UnknownPrompt> {
        self.prompts.get(name).map(String::as_str).ok_or_else(|| UnknownPrompt {
            // The name may come from a client: keep a short prefix only.
            name: name.chars().take(64).collect(),
            known: self.prompts.keys().cloned().collect(),
        })
    }
}

/// The truncation length: sentence-transformers' `max_seq_length` when the model has one,
/// else the smaller of the tokenizer's and the model's maxima; never past the position table.
fn max_tokens(sentence: Option<usize>, tokenizer: Option<f64>, positions: usize) -> anyhow::Result<usize> {
    // Tokenizers without a limit store a huge sentinel (1e30); ignore anything implausible.
    let tokenizer = tokenizer.filter(|n| (1.0..1e9).contains(n)).map(|n| n as usize);
    let chosen = sentence.or(tokenizer).map_or(positions, |n| n.min(positions));
    anyhow::ensure!(chosen >= 1, "the model allows no tokens");
    Ok(chosen)
}

/// Reads `{"pooling_mode": "cls"}` or the classic `pooling_mode_*_tokens` booleans.
fn pooling_config(config: &Value, hidden: usize) -> Result<(PoolingModes, bool), String> {
    if let Some(dimension) = config.get("word_embedding_dimension").and_then(Value::as_u64) {
        if dimension as usize != hidden {
            return Err(format!(
                "word_embedding_dimension is {dimension} but the encoder's hidden size is {hidden}"
            ));
        }
    }
    let include_prompt = config.get("include_prompt").and_then(Value::as_bool).unwrap_or(true);
    if let Some(name) = config.get("pooling_mode").and_then(Value::as_str) {
        let mode = PoolingMode::parse(name)
            .ok_or_else(|| format!("pooling_mode {name:?} is not one of {}", PoolingMode::names()))?;
        return Ok((PoolingModes::single(mode), include_prompt));
    }
    let flag = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(false);
    let modes = PoolingModes::default()
        .with(PoolingMode::Cls, flag("pooling_mode_cls_token"))
        .with(PoolingMode::Max, flag("pooling_mode_max_tokens"))
        .with(PoolingMode::Mean, flag("pooling_mode_mean_tokens"))
        .with(PoolingMode::MeanSqrtLen, flag("pooling_mode_mean_sqrt_len_tokens"))
        .with(PoolingMode::WeightedMean, flag("pooling_mode_weightedmean_tokens"))
        .with(PoolingMode::LastToken, flag("pooling_mode_lasttoken"));
    if modes.count() == 0 {
        return Err("no pooling mode is switched on".to_owned());
    }
    Ok((modes, include_prompt))
}

#[derive(Debug, Default, Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
    default_prompt_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModuleEntry {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) kind_name: String,
}

enum ModuleKind {
    Transformer,
    Pooling,
    Dense,
    Normalize,
}

impl ModuleEntry {
    /// sentence-transformers' own modules, by class name, wherever its package keeps them.
    fn kind(&self) -> Option<ModuleKind> {
        let (package, class) = self.kind_name.rsplit_once('.')?;
        if !package.starts_with("sentence_transformers.") {
            return None;
        }
        match class {
            "Transformer" => Some(ModuleKind::Transformer),
            "Pooling" => Some(ModuleKind::Pooling),
            "Dense" => Some(ModuleKind::Dense),
            "Normalize" => Some(ModuleKind::Normalize),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "default_true")]
    bias: bool,
    #[serde(default = "default_dense_activation")]
    activation_function: String,
}

fn default_true() -> bool {
    true
}

/// sentence-transformers' Dense defaults to tanh.
fn default_dense_activation() -> String {
    "torch.nn.modules.activation.Tanh".to_owned()
}

pub(crate) fn parse_file<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn read_optional<T: for<'de> Deserialize<'de>>(snapshot: &Snapshot, file: &str) -> anyhow::Result<Option<T>> {
    snapshot.optional(file)?.map(|path| parse_file(&path)).transpose()
}

fn read_required<T: for<'de> Deserialize<'de>>(snapshot: &Snapshot, file: &str) -> anyhow::Result<T> {
    parse_file(&snapshot.required(file)?)
}

#[cfg(test)]
mod tests;
