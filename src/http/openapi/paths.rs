//! One item per documented route (method and path), naming its request and responses.

// Read by utoipa's macros to build the document; never constructed or called at run time.
#![allow(dead_code)]

use super::errors::{CohereErrors, OpenAiErrors, PlainErrors, TeiErrors};
use super::requests::{
    CohereEmbedRequest, CohereV1EmbedRequest, HfFeatureExtractionRequest, OllamaEmbedRequest, OllamaEmbeddingsRequest,
    OllamaShowRequest, OpenAiEmbeddingRequest, TeiDecodeRequest, TeiEmbedAllRequest, TeiEmbedRequest,
    TeiEmbedSparseRequest, TeiSimilarityRequest, TeiTokenizeRequest, VertexRequest,
};
use super::scoring::{RerankRequest, ScoreRequest, TeiPredictRequest, TeiRerankRequest};
use crate::http::cohere::rerank::RerankAnswer;
use crate::http::cohere::{CohereByTypeResponse, CohereV1Response};
use crate::http::error::{OpenAiErrorBody, SimpleError};
use crate::http::hf::HfFeatures;
use crate::http::ollama::{
    OllamaEmbedResponse, OllamaEmbeddingResponse, OllamaRunning, OllamaShowResponse, OllamaTags, OllamaVersion,
};
use crate::http::openai::models::{ModelCard, ModelList};
use crate::http::openai::types::EmbeddingResponse;
use crate::http::tei::scoring::{TeiPredictAnswer, TeiRerankAnswer};
use crate::http::tei::sparse::SparseValue;
use crate::http::tei::tasks::{TeiTaskAnswer, VertexAnswer};
use crate::http::tei::{SimpleToken, TeiErrorBody};
use crate::http::vllm::ScoreAnswer;
use crate::http::HealthStatus;
use crate::service::info::TeiInfo;

#[utoipa::path(post, path = "/v1/embeddings", tag = "OpenAI", request_body = OpenAiEmbeddingRequest,
    responses((status = 200, body = EmbeddingResponse), OpenAiErrors))]
pub fn openai_embeddings() {}

#[utoipa::path(post, path = "/embeddings", tag = "OpenAI", request_body = OpenAiEmbeddingRequest,
    responses((status = 200, body = EmbeddingResponse), OpenAiErrors))]
pub fn openai_embeddings_short() {}

#[utoipa::path(get, path = "/v1/models", tag = "OpenAI",
    responses((status = 200, body = ModelList), (status = 401, body = OpenAiErrorBody)))]
pub fn openai_models() {}

#[utoipa::path(get, path = "/models", tag = "OpenAI",
    responses((status = 200, body = ModelList), (status = 401, body = OpenAiErrorBody)))]
pub fn openai_models_short() {}

#[utoipa::path(get, path = "/v1/models/{id}", tag = "OpenAI", params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = ModelCard), (status = 401, body = OpenAiErrorBody), (status = 404, body = OpenAiErrorBody)))]
pub fn openai_model() {}

#[utoipa::path(get, path = "/models/{id}", tag = "OpenAI", params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = ModelCard), (status = 401, body = OpenAiErrorBody), (status = 404, body = OpenAiErrorBody)))]
pub fn openai_model_short() {}

#[utoipa::path(post, path = "/models/{id}", tag = "Hugging Face Inference API", request_body = HfFeatureExtractionRequest,
    params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = HfFeatures), PlainErrors))]
pub fn hf_models() {}

#[utoipa::path(post, path = "/pipeline/feature-extraction/{id}", tag = "Hugging Face Inference API", request_body = HfFeatureExtractionRequest,
    params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = HfFeatures), PlainErrors))]
pub fn hf_pipeline() {}

#[utoipa::path(post, path = "/hf-inference/models/{id}/pipeline/feature-extraction", tag = "Hugging Face Inference API",
    request_body = HfFeatureExtractionRequest, params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = HfFeatures), PlainErrors))]
pub fn hf_router() {}

#[utoipa::path(post, path = "/embed", tag = "text-embeddings-inference", request_body = TeiEmbedRequest,
    responses((status = 200, body = Vec<Vec<f32>>), TeiErrors))]
pub fn tei_embed() {}

#[utoipa::path(post, path = "/embed_sparse", tag = "text-embeddings-inference", request_body = TeiEmbedSparseRequest,
    responses((status = 200, description = "each input's nonzero entries, indices ascending", body = Vec<Vec<SparseValue>>), TeiErrors))]
pub fn tei_embed_sparse() {}

#[utoipa::path(post, path = "/embed_all", tag = "text-embeddings-inference", request_body = TeiEmbedAllRequest,
    responses((status = 200, description = "each input's tokens' last hidden states, before pooling", body = Vec<Vec<Vec<f32>>>), TeiErrors))]
pub fn tei_embed_all() {}

#[utoipa::path(post, path = "/", tag = "text-embeddings-inference", request_body = TeiEmbedRequest,
    description = "The model's own task, as `/invocations`.",
    responses((status = 200, body = TeiTaskAnswer), TeiErrors))]
pub fn tei_root() {}

#[utoipa::path(post, path = "/invocations", tag = "text-embeddings-inference", request_body = TeiEmbedRequest,
    description = "SageMaker's route: `/predict` on a classifier, `/rerank` on a reranker, `/embed_sparse` on a SPLADE model, `/embed` on an embedding model (`/similarity` for a sentence-similarity body).",
    responses((status = 200, body = TeiTaskAnswer), TeiErrors))]
pub fn tei_invocations() {}

#[utoipa::path(post, path = "/vertex", tag = "text-embeddings-inference", request_body = VertexRequest,
    responses((status = 200, body = VertexAnswer), TeiErrors))]
pub fn tei_vertex() {}

#[utoipa::path(post, path = "/decode", tag = "text-embeddings-inference", request_body = TeiDecodeRequest,
    responses((status = 200, description = "one text per sequence", body = Vec<String>), TeiErrors))]
pub fn tei_decode() {}

#[utoipa::path(post, path = "/similarity", tag = "text-embeddings-inference", request_body = TeiSimilarityRequest,
    responses((status = 200, description = "each sentence's cosine similarity with the source sentence", body = Vec<f32>), TeiErrors))]
pub fn tei_similarity() {}

#[utoipa::path(post, path = "/tokenize", tag = "text-embeddings-inference", request_body = TeiTokenizeRequest,
    responses((status = 200, body = Vec<Vec<SimpleToken>>), TeiErrors))]
pub fn tei_tokenize() {}

#[utoipa::path(get, path = "/info", tag = "text-embeddings-inference",
    responses((status = 200, body = TeiInfo), (status = 401, body = TeiErrorBody)))]
pub fn tei_info() {}

#[utoipa::path(post, path = "/api/embed", tag = "Ollama", request_body = OllamaEmbedRequest,
    responses((status = 200, body = OllamaEmbedResponse), PlainErrors))]
pub fn ollama_embed() {}

#[utoipa::path(post, path = "/api/embeddings", tag = "Ollama", request_body = OllamaEmbeddingsRequest,
    responses((status = 200, body = OllamaEmbeddingResponse), PlainErrors))]
pub fn ollama_embeddings() {}

#[utoipa::path(get, path = "/api/tags", tag = "Ollama",
    responses((status = 200, body = OllamaTags), (status = 401, body = SimpleError)))]
pub fn ollama_tags() {}

#[utoipa::path(post, path = "/api/show", tag = "Ollama", request_body = OllamaShowRequest,
    responses((status = 200, body = OllamaShowResponse), PlainErrors))]
pub fn ollama_show() {}

#[utoipa::path(get, path = "/api/ps", tag = "Ollama",
    responses((status = 200, body = OllamaRunning), (status = 401, body = SimpleError)))]
pub fn ollama_ps() {}

#[utoipa::path(get, path = "/api/version", tag = "Ollama",
    responses((status = 200, body = OllamaVersion), (status = 401, body = SimpleError)))]
pub fn ollama_version() {}

#[utoipa::path(get, path = "/health", tag = "Operations",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub fn health() {}

#[utoipa::path(get, path = "/ping", tag = "Operations", description = "SageMaker's health check: `/health`.",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub fn ping() {}

#[utoipa::path(get, path = "/healthz", tag = "Operations",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub fn healthz() {}

#[utoipa::path(get, path = "/health/ready", tag = "Operations",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
pub fn ready() {}

#[utoipa::path(get, path = "/health/live", tag = "Operations", responses((status = 200, body = HealthStatus)))]
pub fn live() {}

#[utoipa::path(get, path = "/metrics", tag = "Operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, body = OpenAiErrorBody)))]
pub fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "Operations",
    responses((status = 200, description = "this document", body = Object), (status = 401, body = OpenAiErrorBody)))]
pub fn openapi_json() {}

#[utoipa::path(post, path = "/v2/embed", tag = "Cohere", request_body = CohereEmbedRequest,
    responses((status = 200, body = CohereByTypeResponse), CohereErrors))]
pub fn cohere_embed_v2() {}

#[utoipa::path(post, path = "/v1/embed", tag = "Cohere", request_body = CohereV1EmbedRequest,
    responses((status = 200, description = "by type when `embedding_types` is given, else floats",
        body = CohereV1Response), CohereErrors))]
pub fn cohere_embed_v1() {}

#[utoipa::path(post, path = "/rerank", tag = "text-embeddings-inference", request_body = TeiRerankRequest,
    responses((status = 200, description = "by descending score; the shared rerank answer for a body with `documents`", body = TeiRerankAnswer), TeiErrors))]
pub fn tei_rerank() {}

#[utoipa::path(post, path = "/predict", tag = "text-embeddings-inference", request_body = TeiPredictRequest,
    responses((status = 200, body = TeiPredictAnswer), TeiErrors))]
pub fn tei_predict() {}

#[utoipa::path(post, path = "/v2/rerank", tag = "Cohere", request_body = RerankRequest,
    responses((status = 200, body = RerankAnswer), CohereErrors))]
pub fn cohere_rerank_v2() {}

#[utoipa::path(post, path = "/v1/rerank", tag = "Cohere", request_body = RerankRequest,
    responses((status = 200, description = "Cohere's answer with Jina's and vLLM's fields", body = RerankAnswer), CohereErrors))]
pub fn cohere_rerank_v1() {}

#[utoipa::path(post, path = "/score", tag = "vLLM", request_body = ScoreRequest,
    responses((status = 200, body = ScoreAnswer), OpenAiErrors))]
pub fn vllm_score() {}

#[utoipa::path(post, path = "/v1/score", tag = "vLLM", request_body = ScoreRequest,
    responses((status = 200, body = ScoreAnswer), OpenAiErrors))]
pub fn vllm_score_v1() {}
