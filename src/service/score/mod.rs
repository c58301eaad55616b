//! The scoring operations every rerank and classify dialect shares: [`rerank`] (a query
//! against documents), [`score_pairs`] (any pairs) and [`predict`] (a classifier on texts or
//! pairs). Resolve the model, check it is of the kind the route needs, tokenize the inputs as
//! sentence-transformers' `CrossEncoder` does, run the engine, apply the model's activation.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::error::{excerpt, ApiError, ErrorKind};
use super::models::{require_kind, resolve, Resolved};
use super::AppState;
use crate::engine::{EngineError, Sequence};
use crate::model_files::ModelKind;
use crate::registry::ModelSpec;
use crate::runner::head::DenseActivation;
use crate::service::record::{note, ComputeRecord};
use crate::tokenize::{ScoringTokens, Truncation};

mod activation;
pub mod fields;

pub use activation::{activate, softmax};

/// One input of a scoring request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreInput {
    Text(String),
    /// A query and a document; a query shared by many documents is one allocation.
    Pair(Arc<str>, String),
}

/// Options every scoring dialect has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreOptions {
    pub truncation: Truncation,
    /// The logits as the model gives them, without its activation.
    pub raw_scores: bool,
    /// Cohere's `max_tokens_per_doc`: each document cut to this many tokens first.
    pub max_tokens_per_document: Option<usize>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            truncation: Truncation::Right,
            raw_scores: false,
            max_tokens_per_document: None,
        }
    }
}

/// Each input's scores (one for a reranker, one per label for a classifier) and the tokens
/// the model read.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub scores: Vec<Vec<f32>>,
    pub tokens: usize,
    /// The model's labels, in id order.
    pub labels: Vec<String>,
    /// The entry's public name.
    pub model: String,
}

impl Scored {
    /// A reranker's one score per input.
    pub fn relevance(&self) -> Vec<f32> {
        self.scores
            .iter()
            .map(|s| s.first().copied().unwrap_or(f32::NAN))
            .collect()
    }
}

/// The entry a body that names no model means for `kind`: the first listed model of that kind,
/// else the first listed.
pub fn default_model(state: &AppState, kind: ModelKind) -> String {
    let registry = state.store.registry();
    let of_kind = |spec: &&ModelSpec| {
        state
            .store
            .info(spec)
            .is_some_and(|info| info.description.kind() == kind)
    };
    let spec = registry.specs().iter().find(of_kind).unwrap_or(registry.default_spec());
    spec.id.clone()
}

/// A query against each document: one relevance score per document, in document order.
pub async fn rerank(
    state: &AppState,
    model: &str,
    query: String,
    documents: Vec<String>,
    options: ScoreOptions,
) -> Result<Scored, ApiError> {
    if documents.is_empty() {
        return Err(ApiError::invalid("`documents` must not be empty.", "documents").with_kind(ErrorKind::Empty));
    }
    let query: Arc<str> = Arc::from(query);
    let pairs = documents
        .into_iter()
        .map(|d| ScoreInput::Pair(Arc::clone(&query), d))
        .collect();
    score_pairs(state, model, pairs, options).await
}

/// Scores pairs with a reranker.
pub async fn score_pairs(
    state: &AppState,
    model: &str,
    pairs: Vec<ScoreInput>,
    options: ScoreOptions,
) -> Result<Scored, ApiError> {
    let task = Task {
        kinds: &[ModelKind::Reranker],
        operation: "rerank",
    };
    score(state, model, pairs, options, task, activate).await
}

/// A classifier's (or cross-encoder's) scores per label for texts or pairs: softmax
/// probabilities over several labels as text-embeddings-inference gives them, the model's own
/// activation for one.
pub async fn predict(
    state: &AppState,
    model: &str,
    inputs: Vec<ScoreInput>,
    options: ScoreOptions,
) -> Result<Scored, ApiError> {
    let task = Task {
        kinds: &[ModelKind::Classifier, ModelKind::Reranker],
        operation: "predict",
    };
    score(state, model, inputs, options, task, |activation, logits| {
        match logits.len() {
            1 => activate(activation, logits),
            _ => softmax(logits),
        }
    })
    .await
}

/// The kinds of model an operation takes, and its name (in errors and metrics).
struct Task {
    kinds: &'static [ModelKind],
    operation: &'static str,
}

/// Resolves the model, checks its kind, runs the inputs and turns each one's logits into its
/// scores with `finish` (unless the request asks for raw scores).
async fn score(
    state: &AppState,
    model: &str,
    inputs: Vec<ScoreInput>,
    options: ScoreOptions,
    task: Task,
    finish: impl Fn(DenseActivation, &[f32]) -> Vec<f32>,
) -> Result<Scored, ApiError> {
    let resolved = resolve(state, model, None).await?;
    require_kind(&resolved, task.kinds, task.operation)?;
    let (logits, tokens) = run(state, &resolved, inputs, options).await?;
    let scoring = scoring_of(&resolved)?;
    let scores = logits
        .into_iter()
        .map(|l| {
            if options.raw_scores {
                l
            } else {
                finish(scoring.activation, &l)
            }
        })
        .collect();
    crate::metrics::scored(&resolved.spec.id, task.operation, tokens.inputs);
    Ok(Scored {
        scores,
        tokens: tokens.total,
        labels: scoring.labels.clone(),
        model: resolved.spec.public_name().to_owned(),
    })
}

fn scoring_of<'a>(resolved: &'a Resolved<'_>) -> Result<&'a crate::model_files::Scoring, ApiError> {
    resolved
        .model
        .description
        .scoring
        .as_ref()
        .ok_or_else(|| ApiError::server("the model has no scoring head"))
}

struct TokenCount {
    inputs: usize,
    total: usize,
}

/// Tokenizes the inputs, checks the limits, runs the engine: each input's logits.
async fn run(
    state: &AppState,
    resolved: &Resolved<'_>,
    inputs: Vec<ScoreInput>,
    options: ScoreOptions,
) -> Result<(Vec<Vec<f32>>, TokenCount), ApiError> {
    let limit = state.limits.max_rerank_documents;
    if inputs.len() > limit {
        return Err(ApiError::invalid(
            format!(
                "This request has {} inputs; the limit is {limit} per request.",
                inputs.len()
            ),
            "documents",
        )
        .with_code("too_many_documents")
        .with_kind(ErrorKind::TooLarge));
    }
    let mut compute = ComputeRecord {
        characters: inputs
            .iter()
            .map(|input| match input {
                ScoreInput::Text(text) => text.chars().count(),
                ScoreInput::Pair(a, b) => a.chars().count() + b.chars().count(),
            })
            .sum(),
        device: resolved.model.device,
        scoring: true,
        ..ComputeRecord::default()
    };
    let tokenizing = Instant::now();
    let sequences = tokenize(resolved, inputs, options)
        .instrument(tracing::debug_span!("tokenize"))
        .await?;
    compute.tokenization = tokenizing.elapsed();
    crate::metrics::tokenize(&resolved.spec.id, compute.tokenization);
    let max_tokens = resolved.model.description.max_tokens;
    if options.truncation == Truncation::Off {
        if let Some((i, over)) = sequences.iter().enumerate().find(|(_, s)| s.ids.len() > max_tokens) {
            return Err(ApiError::invalid(
                format!(
                    "Input {i} has more than the {max_tokens} tokens that {} takes ({} counted before stopping), and truncation is off.",
                    resolved.spec.public_name(),
                    over.ids.len(),
                ),
                "texts",
            )
            .with_code("context_length_exceeded")
            .with_kind(ErrorKind::TooLarge));
        }
    }
    let count = TokenCount {
        inputs: sequences.len(),
        total: sequences.iter().map(|s| s.ids.len()).sum(),
    };
    note(|record| {
        record.inputs = count.inputs;
        record.tokens = count.total;
    });
    let sequences = sequences
        .into_iter()
        .map(|s| Sequence {
            tokens: s.ids,
            second_segment: s.second_segment,
        })
        .collect();
    let output = resolved.model.engine.score(sequences).await.map_err(|e| match e {
        EngineError::QueueFull => ApiError::overloaded(),
        EngineError::Stopped | EngineError::Model(_) => ApiError::server(e.to_string()),
    })?;
    (compute.queue, compute.inference) = (output.queue, output.inference);
    note(|record| record.compute = Some(compute));
    Ok((output.vectors, count))
}

/// Texts through the tokenizer's single framing, pairs through the model's pair format, off
/// the reactor.
async fn tokenize(
    resolved: &Resolved<'_>,
    inputs: Vec<ScoreInput>,
    options: ScoreOptions,
) -> Result<Vec<ScoringTokens>, ApiError> {
    let model = resolved.model.shared();
    let chat = model.has_chat_template();
    if chat && inputs.iter().any(|i| matches!(i, ScoreInput::Text(_))) {
        return Err(ApiError::invalid(
            format!(
                "{} scores query-document pairs only (its chat template has no single-text form).",
                excerpt(resolved.spec.public_name())
            ),
            "inputs",
        ));
    }
    tokio::task::spawn_blocking(move || {
        let mut texts = Vec::new();
        let mut pairs = Vec::new();
        let mut order = Vec::with_capacity(inputs.len());
        for input in inputs {
            match input {
                ScoreInput::Text(text) => {
                    order.push((false, texts.len()));
                    texts.push(text);
                }
                ScoreInput::Pair(query, document) => {
                    let document = match options.max_tokens_per_document {
                        Some(limit) => model.first_tokens(&document, limit)?,
                        None => document,
                    };
                    order.push((true, pairs.len()));
                    pairs.push((query, document));
                }
            }
        }
        let texts = model.tokenize(texts, None, options.truncation)?;
        let pairs = model.encode_pairs(&pairs, options.truncation)?;
        Ok(order
            .into_iter()
            .map(|(pair, index)| match pair {
                true => pairs[index].clone(),
                false => ScoringTokens {
                    ids: texts[index].clone(),
                    second_segment: None,
                },
            })
            .collect())
    })
    .await
    .map_err(|_| ApiError::server("tokenization was interrupted"))?
    .map_err(|e: crate::tokenize::TokenizeError| ApiError::invalid(e.to_string(), "inputs"))
}
