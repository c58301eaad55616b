//! `GET /v1/models` and `GET /v1/models/{id}`: OpenAI's model objects plus what each entry
//! serves, known from the model's files before its weights are loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::registry::ModelSpec;
use crate::service::pipeline::PipelineSummary;
use crate::service::AppState;

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    object: &'static str,
    data: Vec<ModelCard>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelCard {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: String,
    /// `model_type` from config.json; null until the files have been read.
    architecture: Option<String>,
    /// `embedding`, `reranker` or `classifier`, from the model's files; null until they have
    /// been read. Embedding routes take embedding models, rerank routes rerankers, `/predict`
    /// classifiers and rerankers.
    kind: Option<&'static str>,
    /// A reranker's or classifier's labels (`id2label`), in id order.
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<String>>,
    /// The pooling this entry uses (`mean`, `cls`, `cls+mean`, ...).
    pooling: Option<String>,
    /// The model's sentence-transformers prompts, by name.
    prompts: Option<BTreeMap<String, String>>,
    /// The prompt put before every text unless a request names another.
    default_prompt: Option<String>,
    /// Vector size.
    dimensions: Option<usize>,
    /// Longest input in tokens (longer inputs are truncated).
    max_input_tokens: Option<usize>,
    aliases: Vec<String>,
    /// Loaded now: a request answers without loading it first.
    ready: bool,
    /// Where the model runs (`cpu`, `cuda`); null until loaded.
    device: Option<&'static str>,
    /// Bytes its weights take in memory when loaded, in its number format; null until its
    /// files have been read.
    size_bytes: Option<u64>,
    /// The matmuls' number format: `float32` or `bfloat16`.
    dtype: &'static str,
    /// The backbone and every module after it; null until the files have been read.
    pipeline: Option<PipelineSummary>,
    /// The kernels this entry's number format runs on this machine, chosen at start.
    kernels: String,
}

fn model_card(state: &AppState, spec: &ModelSpec) -> ModelCard {
    let loaded = state.store.loaded(spec);
    let info = state.store.info(spec);
    ModelCard {
        id: spec.public_name().to_owned(),
        object: "model",
        created: state.started_at,
        owned_by: spec.owner().to_owned(),
        architecture: info.as_ref().map(|i| i.description.shape().model_type.clone()),
        kind: info.as_ref().map(|i| i.description.kind().name()),
        labels: info
            .as_ref()
            .and_then(|i| i.description.scoring.as_ref())
            .map(|s| s.labels.clone()),
        pooling: info.as_ref().map(|i| i.serving.pooling.describe()),
        prompts: info.as_ref().map(|i| i.description.prompts.clone()),
        default_prompt: info.as_ref().and_then(|i| i.serving.default_prompt.clone()),
        dimensions: info.as_ref().map(|i| i.description.dimension_with(i.serving.pooling)),
        max_input_tokens: info.as_ref().map(|i| i.description.max_tokens),
        aliases: spec.aliases.clone(),
        ready: loaded.is_some(),
        device: loaded.as_ref().map(|(model, _)| model.device),
        size_bytes: state.store.size(spec),
        dtype: spec.precision().name(),
        pipeline: info.as_ref().map(PipelineSummary::of),
        kernels: state.store.kernels(spec.precision()),
    }
}

#[utoipa::path(get, path = "/v1/models", tag = "OpenAI",
    responses((status = 200, body = crate::http::openai::models::ModelList), (status = 401, body = crate::http::error::OpenAiErrorBody)))]
pub async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let data = state
        .store
        .registry()
        .specs()
        .iter()
        .map(|spec| model_card(&state, spec))
        .collect();
    Json(ModelList { object: "list", data })
}

#[utoipa::path(get, path = "/v1/models/{id}", tag = "OpenAI", params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = crate::http::openai::models::ModelCard), (status = 401, body = crate::http::error::OpenAiErrorBody), (status = 404, body = crate::http::error::OpenAiErrorBody)))]
pub async fn retrieve_model(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let registry = state.store.registry();
    let spec = registry
        .resolve(&id)
        .ok_or_else(|| ApiError::model_not_found(&id, &registry.public_names()))?;
    Ok(Json(model_card(&state, spec)).into_response())
}
