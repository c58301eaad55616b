//! What every dialect's model description says about an entry's pipeline (`/v1/models`, TEI's
//! `/info`, Ollama's `/api/show`): the backbone's architecture and context, then each module
//! after it, as the model's files describe them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model_files::PairFormat;
use crate::model_store::EntryInfo;
use crate::runner::head::HeadStep;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineSummary {
    /// The runner's family (`bert`, `modernbert`, `qwen3`, ...).
    pub architecture: &'static str,
    /// `model_type` from config.json.
    pub model_type: String,
    /// The longest sequence the backbone takes.
    pub context_length: usize,
    /// Where inputs are truncated (sentence-transformers' `max_seq_length`).
    pub max_input_tokens: usize,
    pub hidden_size: usize,
    pub layers: usize,
    /// Each layer's attention (`full`, `causal`, `local window +-64`, ...), when not all full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention: Option<Vec<String>>,
    /// The pooling this entry uses (`mean`, `cls`, `lasttoken`, `cls+mean`, ...).
    pub pooling: String,
    /// Prompt tokens are pooled too (`include_prompt`).
    pub include_prompt: bool,
    /// The Dense layers after pooling, in order.
    pub dense: Vec<DenseSummary>,
    /// Whether a Normalize module ends the pipeline (the API's vectors are unit length anyway
    /// unless a request asks otherwise).
    pub normalize: bool,
    /// The vector size (a scoring model: its scores per input).
    pub dimensions: usize,
    /// A reranker's or classifier's head; absent for an embedding model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scoring: Option<ScoringSummary>,
    /// A sparse (SPLADE) model's pooling; absent for any other model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse: Option<SparseSummary>,
}

/// What follows a sparse model's backbone: its masked-LM head, then `SpladePooling`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SparseSummary {
    /// `max` or `sum` over the tokens.
    pub pooling_strategy: &'static str,
    /// `relu` (`log1p(relu(x))`) or `log1p_relu` (`log1p(log1p(relu(x)))`).
    pub activation_function: &'static str,
    /// Only this many of each vector's largest values are kept unless a request says otherwise.
    pub max_active_dims: Option<usize>,
    /// How its vectors are compared: `dot`.
    pub similarity_fn_name: String,
}

/// What follows a scoring model's backbone.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScoringSummary {
    /// Which token(s) the head reads: `cls`, `mean` or `lasttoken`.
    pub head_pooling: &'static str,
    /// `id2label`, in id order.
    pub labels: Vec<String>,
    /// The activation on its logits unless a request asks for raw scores (`Sigmoid`,
    /// `Identity`, ...).
    pub activation: &'static str,
    /// `pair` (the tokenizer frames query and document) or `chat_template` (an LLM reranker).
    pub input: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DenseSummary {
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
    /// `Identity`, `Tanh`, `ReLU`, `GELU` or `Sigmoid`.
    pub activation: &'static str,
}

/// How an entry pools, as every dialect names it: its pooling modes (`mean`, `cls+mean`, ...),
/// a scoring head's token (`cls`, `mean`, `lasttoken`), or `splade`, TEI's name for a sparse
/// model's.
pub fn pooling_of(info: &EntryInfo) -> String {
    let description = &info.description;
    match (&description.scoring, &description.sparse) {
        (Some(scoring), _) => scoring.head.pooling.name().to_owned(),
        (None, Some(_)) => "splade".to_owned(),
        (None, None) => info.serving.pooling.describe(),
    }
}

impl PipelineSummary {
    pub fn of(info: &EntryInfo) -> Self {
        let description = &info.description;
        let shape = description.shape();
        let masks: Vec<String> = shape.layer_masks.iter().map(|m| m.describe()).collect();
        Self {
            architecture: shape.architecture,
            model_type: shape.model_type.clone(),
            context_length: shape.max_positions,
            max_input_tokens: description.max_tokens,
            hidden_size: shape.hidden_size,
            layers: shape.layers,
            attention: masks.iter().any(|m| m != "full").then_some(masks),
            pooling: pooling_of(info),
            include_prompt: description.include_prompt,
            dense: description
                .head
                .iter()
                .filter_map(|step| match step {
                    HeadStep::Dense(spec) => Some(DenseSummary {
                        in_features: spec.in_features,
                        out_features: spec.out_features,
                        bias: spec.bias,
                        activation: spec.activation.name(),
                    }),
                    HeadStep::Normalize => None,
                })
                .collect(),
            normalize: description.head.iter().any(|s| matches!(s, HeadStep::Normalize)),
            dimensions: description.dimension_with(info.serving.pooling),
            scoring: description.scoring.as_ref().map(|scoring| ScoringSummary {
                head_pooling: scoring.head.pooling.name(),
                labels: scoring.labels.clone(),
                activation: scoring.activation.name(),
                input: match scoring.input {
                    PairFormat::Encoder => "pair",
                    PairFormat::Chat(_) => "chat_template",
                },
            }),
            sparse: description.sparse.as_ref().map(|sparse| SparseSummary {
                pooling_strategy: sparse.head.strategy.name(),
                activation_function: sparse.head.activation.name(),
                max_active_dims: sparse.max_active_dims,
                similarity_fn_name: sparse.similarity.clone(),
            }),
        }
    }
}
