//! The HTTP surface: OpenAI's embeddings API and its companions. Handlers parse and validate
//! JSON, hand token sequences to a model's engine and shape the answer; they never touch
//! tensors.

pub mod error;
pub mod types;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::engine::EngineError;
use crate::models::ModelStore;
use error::ApiError;
use types::{EmbeddingRequest, EmbeddingResponse, Input};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most tokens one request may ask for, after truncation (400 beyond).
    pub max_request_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_request_tokens: 131_072,
        }
    }
}

pub struct AppState {
    pub store: ModelStore,
    pub limits: Limits,
    ready: AtomicBool,
    started_at: u64,
}

impl AppState {
    pub fn new(store: ModelStore, limits: Limits) -> Self {
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self {
            store,
            limits,
            ready: AtomicBool::new(false),
            started_at,
        }
    }

    /// Marks the models loaded at start as ready; `/health` answers 200 from then on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/embeddings", post(embeddings_handler))
        .route("/embeddings", post(embeddings_handler))
        .route("/v1/models", get(list_models))
        .route("/models", get(list_models))
        .route("/v1/models/{*id}", get(retrieve_model))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::server("internal error while handling the request").into_response()
        }))
        // Failures are logged where they arise (ApiError), at the right level: a 503 from
        // /health while models load is expected, not an error.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn embeddings_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("<not text>");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::unsupported_media_type(content_type));
        }
    }
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(state.limits.max_body_bytes),
        _ => ApiError::invalid(
            format!("Could not read the request body: {}", rejection.body_text()),
            "body",
        ),
    })?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    let request = EmbeddingRequest::from_json(json)?;
    let response = create_embeddings(&state, request).await?;
    Ok(Json(response).into_response())
}

/// The whole embeddings operation, shared by the HTTP handler and the `embed` command.
pub async fn create_embeddings(state: &AppState, request: EmbeddingRequest) -> Result<EmbeddingResponse, ApiError> {
    let registry = state.store.registry();
    let spec = registry
        .resolve(&request.model)
        .ok_or_else(|| ApiError::model_not_found(&request.model, &registry.ids()))?;
    let model = state
        .store
        .get(spec)
        .await
        .map_err(|e| ApiError::unavailable(format!("The model {} could not be loaded: {e}", spec.id)))?;
    if let Some(dimensions) = request.dimensions {
        if dimensions > model.dimension {
            return Err(ApiError::invalid(
                format!(
                    "`dimensions` is {dimensions}, but {} produces {}-dimensional vectors.",
                    model.id, model.dimension
                ),
                "dimensions",
            ));
        }
    }
    let sequences = match request.input {
        Input::Texts(texts) => {
            let tokenizing = Arc::clone(&model);
            tokio::task::spawn_blocking(move || tokenizing.tokenize(texts))
                .await
                .map_err(|_| ApiError::server("tokenization was interrupted"))?
                .map_err(|e| ApiError::invalid(e.to_string(), "input"))?
        }
        Input::Tokens(sequences) => {
            for (i, sequence) in sequences.iter().enumerate() {
                if let Some(bad) = sequence.iter().find(|&&id| id as usize >= model.vocab_size) {
                    return Err(ApiError::invalid(
                        format!(
                            "Token id {bad} in input {i} is outside the vocabulary of {} (0..{}).",
                            model.id, model.vocab_size
                        ),
                        "input",
                    ));
                }
            }
            sequences.into_iter().map(|ids| model.truncate_ids(ids)).collect()
        }
    };
    let prompt_tokens: usize = sequences.iter().map(Vec::len).sum();
    if prompt_tokens > state.limits.max_request_tokens {
        return Err(ApiError::invalid(
            format!(
                "This request has {prompt_tokens} tokens after truncation; the limit is {} per request. Split it into smaller requests.",
                state.limits.max_request_tokens
            ),
            "input",
        )
        .with_code("too_many_tokens"));
    }
    let vectors = model.engine.embed(sequences).await.map_err(|e| match e {
        EngineError::QueueFull => ApiError::overloaded(),
        EngineError::Stopped | EngineError::Model(_) => ApiError::server(e.to_string()),
    })?;
    Ok(EmbeddingResponse::new(
        request.model,
        vectors,
        prompt_tokens,
        request.encoding_format,
        request.dimensions,
    ))
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelCard>,
}

#[derive(Serialize)]
struct ModelCard {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: String,
    /// Vector size; null until the model has been loaded.
    dimensions: Option<usize>,
    /// Longest input in tokens (longer inputs are truncated); null until loaded.
    max_input_tokens: Option<usize>,
    aliases: Vec<String>,
    ready: bool,
    /// Where the model runs (`cpu`, `cuda`); null until loaded.
    device: Option<&'static str>,
}

fn model_card(state: &AppState, spec: &crate::registry::ModelSpec) -> ModelCard {
    let loaded = state.store.loaded(&spec.id);
    ModelCard {
        id: spec.id.clone(),
        object: "model",
        created: state.started_at,
        owned_by: spec.owner().to_owned(),
        dimensions: loaded.as_ref().map(|m| m.dimension),
        max_input_tokens: loaded.as_ref().map(|m| m.max_tokens),
        aliases: spec.aliases.clone(),
        ready: loaded.is_some(),
        device: loaded.as_ref().map(|m| m.device),
    }
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let data = state
        .store
        .registry()
        .specs()
        .iter()
        .map(|spec| model_card(&state, spec))
        .collect();
    Json(ModelList { object: "list", data })
}

async fn retrieve_model(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let registry = state.store.registry();
    let spec = registry
        .resolve(&id)
        .ok_or_else(|| ApiError::model_not_found(&id, &registry.ids()))?;
    Ok(Json(model_card(&state, spec)).into_response())
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "loading"})),
        )
            .into_response()
    }
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found_route(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
