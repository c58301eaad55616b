//! The HTTP surface: OpenAI's embeddings API and its companions. Handlers parse and validate
//! JSON, hand token sequences to a model's engine and shape the answer; they never touch
//! tensors.

mod embed;
pub mod error;
mod models;
pub mod types;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::models::ModelStore;
pub use embed::{create_embeddings, OPENAI_MODEL_NAMES};
use error::ApiError;
use models::{list_models, retrieve_model};
use types::EmbeddingRequest;

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
    pub(crate) started_at: u64,
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
