//! text-embeddings-inference's dialect: `POST /embed` (and `POST /`, what
//! `huggingface_hub.InferenceClient(model=URL)` posts), `POST /tokenize`, `GET /info`, with TEI's
//! error body `{"error", "error_type"}` and its statuses: 413 for inputs or tokens over the
//! limits, 422 for invalid fields, 400 for empty input. A TEI body names no model: these routes
//! serve the first model of the allow-list unless the body carries `model` (an extension).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::embed::{embed, embed_every_token, EmbedRequest};
use super::error::{ApiError, ErrorKind, ErrorShape, Shaped};
use super::input::{model_name, object, parse_input, EmbedOptions};
use super::pipeline::{pooling_of, PipelineSummary};
use super::score::default_model;
use super::AppState;
use crate::model_files::ModelKind;

pub mod scoring;
pub mod similarity;
pub mod sparse;
pub mod tasks;
pub mod tokens;

pub use similarity::similarity_handler;
pub use tasks::{invocations_handler, vertex_handler};
pub use tokens::{decode_handler, tokenize_handler, SimpleToken};

/// TEI's error shape: its statuses (422 for a validation error) and `error_type`.
pub enum TeiShape {}

pub type TeiError = Shaped<TeiShape>;

/// TEI's error body.
#[derive(Serialize, ToSchema)]
pub struct TeiErrorBody {
    pub error: String,
    /// `validation`, `empty`, `overloaded`, `unhealthy`, `unauthorized` or `backend`.
    pub error_type: String,
}

impl ErrorShape for TeiShape {
    fn respond(error: ApiError) -> Response {
        let (status, error_type) = match error.kind {
            ErrorKind::Empty => (StatusCode::BAD_REQUEST, "empty"),
            ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "validation"),
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ErrorKind::Syntax => (StatusCode::BAD_REQUEST, "validation"),
            ErrorKind::Other => (
                error.status,
                match error.status.as_u16() {
                    401 => "unauthorized",
                    424 => "backend",
                    429 => "overloaded",
                    503 => "unhealthy",
                    500..=599 => "backend",
                    _ => "validation",
                },
            ),
        };
        let body = serde_json::to_string(&TeiErrorBody {
            error: error.message.clone(),
            error_type: error_type.to_owned(),
        })
        .unwrap_or_default();
        error.respond(status, body)
    }
}

/// The model a TEI body means: its `model`, else the first of the allow-list.
fn model_or_default(state: &AppState, fields: &mut serde_json::Map<String, Value>) -> Result<String, ApiError> {
    Ok(match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => state.store.registry().default_spec().id.clone(),
    })
}

/// The model a TEI scoring body means: its `model`, else the first listed model of `kind`.
fn model_or(
    state: &AppState,
    fields: &mut serde_json::Map<String, Value>,
    kind: ModelKind,
) -> Result<String, ApiError> {
    Ok(match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => default_model(state, kind),
    })
}

fn embed_request(state: &AppState, json: Value) -> Result<EmbedRequest, ApiError> {
    let mut fields = object(json)?;
    let model = model_or_default(state, &mut fields)?;
    let input = parse_input(fields.remove("inputs").unwrap_or(Value::Null), "inputs")?;
    let options = EmbedOptions::default().read(&mut fields)?;
    Ok(EmbedRequest { model, input, options })
}

/// `POST /embed`: `[[f32, ...], ...]`, one vector per input.
pub async fn embed_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    Ok(Json(embed_answer(&state, json).await?).into_response())
}

/// `/embed`'s answer to a body.
async fn embed_answer(state: &AppState, json: Value) -> Result<Vec<Vec<f32>>, ApiError> {
    let request = embed_request(state, json)?;
    Ok(embed(state, request).await?.vectors)
}

/// `POST /embed_all`: every token's last hidden state per input, `[[[f32, ...], ...], ...]`
/// (the prompt and special tokens included, nothing pooled or normalised).
pub async fn embed_all_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    let request = embed_request(&state, json)?;
    Ok(Json(embed_every_token(&state, request).await?).into_response())
}

/// TEI's `/info`, for the model TEI routes serve by default.
#[derive(Serialize, ToSchema)]
pub struct TeiInfo {
    pub model_id: String,
    pub model_sha: Option<String>,
    pub model_dtype: String,
    pub model_type: TeiModelType,
    pub max_concurrent_requests: usize,
    pub max_input_length: Option<usize>,
    pub max_batch_tokens: usize,
    pub max_batch_requests: Option<usize>,
    pub max_client_batch_size: usize,
    /// Over-long inputs are truncated unless a request says `truncate: false`.
    pub auto_truncate: bool,
    pub tokenization_workers: usize,
    pub version: String,
    pub sha: Option<String>,
    pub docker_label: Option<String>,
    /// Extension: the vector size.
    pub dimensions: Option<usize>,
    /// Extension: the model's prompts by name.
    pub prompts: Option<BTreeMap<String, String>>,
    /// Extension: the backbone and every module after it.
    pub pipeline: Option<PipelineSummary>,
    /// Extension: the kernels its number format runs on this machine.
    pub kernels: String,
}

/// One of `embedding`, `reranker` or `classifier`, as TEI says which kind of model it serves.
#[derive(Serialize, ToSchema)]
pub struct TeiModelType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<TeiPooling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<TeiLabels>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<TeiLabels>,
}

#[derive(Serialize, ToSchema)]
pub struct TeiLabels {
    pub id2label: BTreeMap<String, String>,
    pub label2id: BTreeMap<String, usize>,
}

impl TeiModelType {
    fn of(info: Option<&crate::model_store::EntryInfo>) -> Self {
        let labels = |labels: &[String]| TeiLabels {
            id2label: labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
            label2id: labels.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect(),
        };
        let scoring = info.and_then(|i| i.description.scoring.as_ref());
        match (scoring, scoring.map(|s| s.kind())) {
            (Some(s), Some(ModelKind::Classifier)) => Self {
                embedding: None,
                reranker: None,
                classifier: Some(labels(&s.labels)),
            },
            (Some(s), _) => Self {
                embedding: None,
                reranker: Some(labels(&s.labels)),
                classifier: None,
            },
            (None, _) => Self {
                embedding: Some(TeiPooling {
                    // TEI serves SPLADE as an embedding model pooled by "splade".
                    pooling: info.map(pooling_of),
                }),
                reranker: None,
                classifier: None,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeiPooling {
    pub pooling: Option<String>,
}

/// `GET /info`: TEI's description of the (first) model and the server's limits.
pub async fn info_handler(State(state): State<Arc<AppState>>) -> Response {
    Json(info(&state)).into_response()
}

/// TEI's description of the model its routes serve by default, and the server's limits.
pub fn info(state: &AppState) -> TeiInfo {
    let spec = state.store.registry().default_spec();
    let info = state.store.info(spec);
    let engine = state.store.engine_config();
    TeiInfo {
        model_id: spec.public_name().to_owned(),
        model_sha: None,
        model_dtype: spec.precision().name().to_owned(),
        model_type: TeiModelType::of(info.as_ref()),
        max_concurrent_requests: engine.queue_capacity,
        max_input_length: info.as_ref().map(|i| i.description.max_tokens),
        max_batch_tokens: engine.max_batch_tokens,
        max_batch_requests: Some(engine.max_batch_sequences).filter(|&n| n != usize::MAX),
        max_client_batch_size: state.limits.max_inputs,
        auto_truncate: state.limits.auto_truncate,
        tokenization_workers: crate::runner::kernels::compute_threads(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sha: None,
        docker_label: None,
        dimensions: info.as_ref().map(|i| i.description.dimension_with(i.serving.pooling)),
        prompts: info.as_ref().map(|i| i.description.prompts.clone()),
        pipeline: info.as_ref().map(PipelineSummary::of),
        kernels: state.store.kernels(spec.precision()),
    }
}
