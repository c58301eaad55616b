//! The request bodies of the scoring routes (rerank, predict, score) as the document describes
//! them; the parent module's tests feed their examples through the parsers.

// Read by utoipa's macros to build the document; never constructed or called at run time.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use super::requests::TruncationDirection;

/// `POST /rerank` (text-embeddings-inference; a body with `documents` instead of `texts` is
/// vLLM's and is answered like `/v1/rerank`).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"query": "What is Deep Learning?", "texts": ["Deep Learning is not...", "Deep learning is..."]}))]
pub struct TeiRerankRequest {
    pub query: String,
    pub texts: Vec<String>,
    /// Scores as the model gives them, without its activation.
    pub raw_scores: Option<bool>,
    /// Each result carries its text.
    pub return_text: Option<bool>,
    /// `false`: an input over the model's limit is refused (413) instead of truncated.
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    /// Extension: the model, else the first reranker listed.
    pub model: Option<String>,
}

/// One `/predict` input: a text or a pair.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictSequence {
    Text(String),
    Pair(Vec<String>),
}

/// A text, a pair, or a batch of either.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictInputs {
    One(PredictSequence),
    Batch(Vec<PredictSequence>),
}

/// `POST /predict` (text-embeddings-inference).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": "I like you. I love you"}))]
pub struct TeiPredictRequest {
    pub inputs: PredictInputs,
    /// Logits instead of probabilities.
    pub raw_scores: Option<bool>,
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    /// Extension: the model, else the first classifier listed.
    pub model: Option<String>,
}

/// A document: a string (v1 also takes `{"text": ...}`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RerankDocumentInput {
    Text(String),
    Object { text: String },
}

/// `POST /v1/rerank` and `POST /v2/rerank` (Cohere; Jina, llama.cpp and vLLM at `/v1/rerank`).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "bge-reranker-v2-m3", "query": "capital of France", "documents": ["Paris is the capital of France.", "Berlin is in Germany."], "top_n": 1}))]
pub struct RerankRequest {
    /// A reranker from `GET /v1/models`; else the first reranker listed.
    pub model: Option<String>,
    pub query: String,
    pub documents: Vec<RerankDocumentInput>,
    /// Only the best N results.
    #[schema(minimum = 1)]
    pub top_n: Option<u32>,
    /// Each result carries its document (default: false; true on vLLM's `/rerank`).
    pub return_documents: Option<bool>,
    /// Each document is cut to its first N tokens first.
    #[schema(minimum = 1)]
    pub max_tokens_per_doc: Option<u32>,
}

/// One text or several.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ScoreTexts {
    Text(String),
    Texts(Vec<String>),
}

/// `POST /score` and `POST /v1/score` (vLLM): `text_1` against each `text_2` (one to many), or
/// pair by pair (lists of one length).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "bge-reranker-v2-m3", "text_1": "What is the capital of France?", "text_2": ["Paris is the capital of France.", "Berlin is in Germany."]}))]
pub struct ScoreRequest {
    pub model: Option<String>,
    pub text_1: ScoreTexts,
    pub text_2: ScoreTexts,
}
