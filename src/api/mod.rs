//! The HTTP surface: every dialect a client may speak (OpenAI, text-embeddings-inference, the
//! Hugging Face Inference API, Ollama), each a thin adapter in its own module that parses its
//! body into the one [`embed::EmbedRequest`] and shapes the one result and [`error::ApiError`]
//! its own way. The operation, limits and validation are shared ([`embed`], [`input`],
//! [`body`]). Nothing here touches tensors.

mod body;
pub mod embed;
pub mod error;
mod hf;
pub mod input;
mod ollama;
pub mod openai;
mod tei;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::models::ModelStore;
pub use embed::OPENAI_MODEL_NAMES;
use error::ApiError;
pub use openai::create_embeddings;
use openai::models::{list_models, retrieve_model};

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
        // OpenAI
        .route("/v1/embeddings", post(openai::embeddings_handler))
        .route("/embeddings", post(openai::embeddings_handler))
        .route("/v1/models", get(list_models))
        .route("/models", get(list_models))
        .route("/v1/models/{*id}", get(retrieve_model))
        // Hugging Face Inference API (GET /models/{id} is OpenAI's model object)
        .route("/models/{*id}", get(retrieve_model).post(hf::feature_extraction))
        .route("/pipeline/feature-extraction/{*id}", post(hf::feature_extraction))
        .route("/hf-inference/models/{*id}", post(hf::feature_extraction))
        // text-embeddings-inference
        .route("/embed", post(tei::embed_handler))
        .route("/", post(tei::embed_handler))
        .route("/tokenize", post(tei::tokenize_handler))
        .route("/info", get(tei::info_handler))
        // Ollama
        .route("/api/embed", post(ollama::embed_handler))
        .route("/api/embeddings", post(ollama::embeddings_handler))
        .route("/api/tags", get(ollama::tags_handler))
        .route("/api/show", post(ollama::show_handler))
        .route("/api/version", get(ollama::version_handler))
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
