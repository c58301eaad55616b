//! The request bodies of every route as the document describes them: what the hand-written
//! parsers accept (the parent module's tests feed examples of them through those parsers).

// Read by utoipa's macros to build the document; never constructed or called at run time.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// A string, strings, token ids, or arrays of token ids (up to 2048 inputs).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Texts(Vec<String>),
    TokenIds(Vec<u32>),
    TokenIdArrays(Vec<Vec<u32>>),
}

/// A string or strings.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Texts {
    Text(String),
    Texts(Vec<String>),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    Float,
    Base64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TruncationDirection {
    Right,
    Left,
}

/// `POST /v1/embeddings`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-MiniLM-L6-v2", "input": ["The quick brown fox", "jumps over the lazy dog"]}))]
pub struct OpenAiEmbeddingRequest {
    /// A model id from `GET /v1/models`, an alias, or an unambiguous short name.
    pub model: String,
    pub input: Input,
    pub encoding_format: Option<EncodingFormat>,
    /// Keep the first N components, rescaled to unit length.
    #[schema(minimum = 1)]
    pub dimensions: Option<u32>,
    /// Accepted and ignored.
    pub user: Option<String>,
    /// Extension: one of the model's sentence-transformers prompts.
    pub prompt_name: Option<String>,
}

/// `POST /embed` and `POST /` (text-embeddings-inference).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": ["The quick brown fox", "jumps over the lazy dog"], "truncate": true}))]
pub struct TeiEmbedRequest {
    pub inputs: Input,
    /// Default true; false gives the pipeline's own vector.
    pub normalize: Option<bool>,
    /// Default true; false makes an over-long input a 413.
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    pub prompt_name: Option<String>,
    #[schema(minimum = 1)]
    pub dimensions: Option<u32>,
    /// Extension: the model; the first of the allow-list when absent.
    pub model: Option<String>,
}

/// `POST /embed_all` (text-embeddings-inference): `/embed`'s body without the options that
/// apply to a pooled vector.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": ["The quick brown fox"], "truncate": true}))]
pub struct TeiEmbedAllRequest {
    pub inputs: Input,
    /// Default true; false makes an over-long input a 413.
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    pub prompt_name: Option<String>,
    /// Extension: the model; the first of the allow-list when absent.
    pub model: Option<String>,
}

/// `POST /embed_sparse` (text-embeddings-inference), for a sparse (SPLADE) model.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": ["The quick brown fox"], "truncate": true}))]
pub struct TeiEmbedSparseRequest {
    pub inputs: Input,
    /// Default true; false makes an over-long input a 413.
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    pub prompt_name: Option<String>,
    /// Extension: keep only this many of each vector's largest values (the model's own
    /// `max_active_dims` when absent).
    #[schema(minimum = 1)]
    pub max_active_dims: Option<u32>,
    /// Extension: the model; the first sparse model of the allow-list when absent.
    pub model: Option<String>,
}

/// `POST /tokenize`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": "The quick brown fox"}))]
pub struct TeiTokenizeRequest {
    pub inputs: Texts,
    pub add_special_tokens: Option<bool>,
    pub prompt_name: Option<String>,
    pub model: Option<String>,
}

/// Token ids: one sequence, or a batch of them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenIds {
    One(Vec<u32>),
    Batch(Vec<Vec<u32>>),
}

/// `POST /decode`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"ids": [101, 7592, 2088, 102], "skip_special_tokens": true}))]
pub struct TeiDecodeRequest {
    pub ids: TokenIds,
    /// Default true.
    pub skip_special_tokens: Option<bool>,
    /// Extension: the model; the first of the allow-list when absent.
    pub model: Option<String>,
}

/// The texts of a sentence-similarity request.
#[derive(Serialize, ToSchema)]
pub struct SimilarityInputs {
    pub source_sentence: String,
    pub sentences: Vec<String>,
}

/// `POST /similarity`: the options may also stand at the top level.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": {"source_sentence": "What is Deep Learning?", "sentences": ["What is Machine Learning?"]}}))]
pub struct TeiSimilarityRequest {
    pub inputs: SimilarityInputs,
    pub parameters: Option<HfParameters>,
    /// Extension: the model; the first of the allow-list when absent.
    pub model: Option<String>,
}

/// `POST /vertex`: each instance is a body of `/embed`, `/embed_sparse`, `/rerank`,
/// `/predict` or `/similarity`, as the model's kind (or the body's shape) calls for.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"instances": [{"inputs": "The quick brown fox"}, {"inputs": ["jumps over", "the lazy dog"]}]}))]
pub struct VertexRequest {
    pub instances: Vec<serde_json::Value>,
}

/// Options of the Inference API, at the top level or in `parameters`.
#[derive(Serialize, ToSchema)]
pub struct HfParameters {
    pub normalize: Option<bool>,
    pub truncate: Option<bool>,
    pub truncation_direction: Option<TruncationDirection>,
    pub prompt_name: Option<String>,
    #[schema(minimum = 1)]
    pub dimensions: Option<u32>,
}

/// The Inference API's feature-extraction body.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"inputs": "The quick brown fox", "parameters": {"normalize": true}}))]
pub struct HfFeatureExtractionRequest {
    pub inputs: Texts,
    pub parameters: Option<HfParameters>,
    /// `wait_for_model`, `use_cache`: accepted and ignored.
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
    /// The same options at the top level, where `huggingface_hub` sends them.
    #[serde(flatten)]
    pub top_level: HfParameters,
}

/// `POST /api/embed` (Ollama).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-minilm", "input": ["The quick brown fox", "jumps over the lazy dog"]}))]
pub struct OllamaEmbedRequest {
    pub model: String,
    pub input: Texts,
    /// Default true; false makes an over-long input a 400.
    pub truncate: Option<bool>,
    #[schema(minimum = 1)]
    pub dimensions: Option<u32>,
    /// How long the model stays loaded after this request: seconds (a number) or a duration
    /// (`"5m"`, `"1h30m"`); negative: forever; `0`: unloaded once answered.
    #[schema(value_type = Option<String>)]
    pub keep_alive: Option<serde_json::Value>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

/// `POST /api/embeddings` (Ollama's older route).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-minilm", "prompt": "The quick brown fox"}))]
pub struct OllamaEmbeddingsRequest {
    pub model: String,
    pub prompt: String,
    /// As in `/api/embed`.
    #[schema(value_type = Option<String>)]
    pub keep_alive: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

/// `POST /api/show`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-minilm"}))]
pub struct OllamaShowRequest {
    pub model: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohereInputType {
    SearchQuery,
    SearchDocument,
    Classification,
    Clustering,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CohereEmbeddingType {
    Float,
    Int8,
    Uint8,
    Binary,
    Ubinary,
    Base64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CohereTruncate {
    None,
    Start,
    End,
}

/// One v2 input: a single text part.
#[derive(Serialize, ToSchema)]
pub struct CohereInput {
    pub content: Vec<CohereTextContent>,
}

#[derive(Serialize, ToSchema)]
pub struct CohereTextContent {
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

/// `POST /v2/embed` (Cohere): `texts`, or `inputs` of one text part each.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CohereEmbedRequest {
    Texts(CohereTextsRequest),
    Inputs(CohereInputsRequest),
}

/// The options every Cohere embed request may carry.
#[derive(Serialize, ToSchema)]
pub struct CohereOptions {
    /// The first of the allow-list when absent.
    pub model: Option<String>,
    /// Mapped onto the model's own prompts (`query`, `document`, ...), none where it has none.
    pub input_type: Option<CohereInputType>,
    /// Default `float`.
    pub embedding_types: Option<Vec<CohereEmbeddingType>>,
    /// Default `END`; `NONE` makes an over-long text a 400.
    pub truncate: Option<CohereTruncate>,
    /// Keep the first N components, rescaled to unit length.
    #[schema(minimum = 1)]
    pub output_dimension: Option<u32>,
    /// At least the model's own limit (a smaller cut is refused).
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    /// Accepted and ignored.
    pub priority: Option<i32>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-MiniLM-L6-v2", "texts": ["The quick brown fox"], "input_type": "search_document", "embedding_types": ["float", "int8"]}))]
pub struct CohereTextsRequest {
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    #[serde(flatten)]
    pub options: CohereOptions,
}

#[derive(Serialize, ToSchema)]
pub struct CohereInputsRequest {
    #[schema(min_items = 1)]
    pub inputs: Vec<CohereInput>,
    #[serde(flatten)]
    pub options: CohereOptions,
}

/// `POST /v1/embed` (Cohere).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"model": "all-MiniLM-L6-v2", "texts": ["The quick brown fox"], "input_type": "search_query"}))]
pub struct CohereV1EmbedRequest {
    /// The first of the allow-list when absent.
    pub model: Option<String>,
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    pub input_type: Option<CohereInputType>,
    /// Without it the answer is plain floats (`embeddings_floats`).
    pub embedding_types: Option<Vec<CohereEmbeddingType>>,
    pub truncate: Option<CohereTruncate>,
}
