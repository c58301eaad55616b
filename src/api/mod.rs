//! The HTTP surface: every dialect a client may speak (OpenAI, text-embeddings-inference, the
//! Hugging Face Inference API, Ollama, Cohere), each a thin adapter in its own module that parses its
//! body into the one [`embed::EmbedRequest`] and shapes the one result and [`error::ApiError`]
//! its own way. The operation, limits and validation are shared ([`embed`], [`input`],
//! [`body`]). Nothing here touches tensors.

pub(crate) mod access;
mod body;
pub mod cohere;
pub mod embed;
pub mod error;
mod hf;
pub mod input;
mod ollama;
pub mod openai;
pub mod openapi;
pub mod pipeline;
pub mod routes;
pub mod score;
pub mod tei;
pub mod tokens;
mod vllm;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::auth::ApiKeys;
use crate::cache::EmbeddingCache;
use crate::model_store::ModelStore;
pub use crate::registry::OPENAI_MODEL_NAMES;
use error::{ApiError, ErrorShape};
pub use openai::create_embeddings;
use routes::Dialect;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most tokens one request may ask for, after truncation (400 beyond).
    pub max_request_tokens: usize,
    /// A body may take this long, plus the time its size takes at the minimum rate (408 beyond).
    pub body_read_timeout: Duration,
    pub body_min_bytes_per_second: u64,
    /// Whole-request deadline; queued work of a request past it is cancelled (503).
    pub request_timeout: Duration,
    /// Most documents (or pairs, or texts to classify) in one scoring request (400 beyond).
    pub max_rerank_documents: usize,
    /// Most inputs in one embedding request (413 beyond; TEI's `--max-client-batch-size`).
    pub max_inputs: usize,
    /// Whether an over-long input is truncated when the request does not say (TEI's
    /// `--auto-truncate`); `false` makes it an error.
    pub auto_truncate: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_request_tokens: 131_072,
            body_read_timeout: Duration::from_secs(10),
            body_min_bytes_per_second: 64 * 1024,
            request_timeout: Duration::from_secs(60),
            max_rerank_documents: 1000,
            max_inputs: input::MAX_INPUTS,
            auto_truncate: true,
        }
    }
}

pub struct AppState {
    pub store: ModelStore,
    pub limits: Limits,
    pub keys: ApiKeys,
    /// `/metrics` without a key even when keys are set.
    pub metrics_public: bool,
    /// Origins browsers may call from (`*` for any); no CORS headers when empty.
    pub cors_origins: Vec<String>,
    /// The exact-repeat cache of text vectors ([`crate::cache`]).
    pub cache: EmbeddingCache,
    ready: AtomicBool,
    draining: AtomicBool,
    /// Whether the server takes traffic ([`AppState::accepting`]), for those who wait on it.
    accepting: tokio::sync::watch::Sender<bool>,
    pub(crate) started_at: u64,
}

/// The cache's budget unless `--cache-bytes` says otherwise: modest next to any model's weights.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl AppState {
    pub fn new(store: ModelStore, limits: Limits) -> Self {
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        crate::metrics::install();
        Self {
            store,
            limits,
            keys: ApiKeys::none(),
            metrics_public: false,
            cors_origins: Vec::new(),
            cache: EmbeddingCache::new(DEFAULT_CACHE_BYTES),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            accepting: tokio::sync::watch::Sender::new(false),
            started_at,
        }
    }

    /// An exact-repeat cache of `bytes` (0: off).
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache = EmbeddingCache::new(bytes);
        self
    }

    /// Requires one of `keys` on every route but the health probes.
    pub fn with_keys(mut self, keys: ApiKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Marks the models loaded at start as ready; `/health` answers 200 from then on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
        self.accepting.send_replace(self.accepting());
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Shutdown has begun: readiness fails so load balancers stop sending, while in-flight
    /// requests are still answered.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.accepting.send_replace(false);
    }

    /// Follows [`AppState::accepting`] as it changes; closes when the state is dropped.
    pub fn watch_accepting(&self) -> tokio::sync::watch::Receiver<bool> {
        self.accepting.subscribe()
    }

    pub fn accepting(&self) -> bool {
        self.is_ready() && !self.draining.load(Ordering::Acquire)
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    routes::ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)())
        })
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), deadline))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), authorize))
        .layer(cors(&state.cors_origins))
        .layer(axum::middleware::from_fn(access::log_requests))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::server("internal error while handling the request").into_response()
        }))
        // Failures are logged where they arise (ApiError), at the right level: a 503 from
        // /health while models load is expected, not an error.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

/// A probe's answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok`, `ready`, `alive`, `loading` or `draining`.
    pub status: &'static str,
    /// `/health` only: the listed models whose last load failed, and why (absent when none).
    /// The server stays healthy: the other models serve.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_models: Vec<FailedModel>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FailedModel {
    pub model: String,
    pub error: String,
    /// Whether a later request may load it without anyone changing its files or the budget.
    pub transient: bool,
}

fn status(code: StatusCode, status: &'static str) -> Response {
    let failed_models = Vec::new();
    (code, Json(HealthStatus { status, failed_models })).into_response()
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let (code, status) = if state.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "loading")
    };
    let failed_models = state
        .store
        .registry()
        .specs()
        .iter()
        .filter_map(|spec| {
            let error = state.store.failure(spec)?;
            Some(FailedModel {
                model: spec.public_name().to_owned(),
                transient: error.is_transient(),
                error: error.to_string(),
            })
        })
        .collect();
    (code, Json(HealthStatus { status, failed_models })).into_response()
}

/// 200 once the start-up models are loaded and the server is not draining: route traffic here.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.accepting() {
        status(StatusCode::OK, "ready")
    } else if state.draining.load(Ordering::Acquire) {
        status(StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        status(StatusCode::SERVICE_UNAVAILABLE, "loading")
    }
}

/// Browsers may call from `origins` (`*`: any); an empty list adds no CORS headers at all.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static(access::REQUEST_ID),
        ])
        .expose_headers(
            std::iter::once(access::REQUEST_ID)
                .chain(access::TIMING_HEADERS)
                .map(axum::http::HeaderName::from_static)
                .collect::<Vec<_>>(),
        )
}

/// Prometheus' text exposition of the process's metrics.
pub async fn metrics() -> Response {
    match crate::metrics::render() {
        Some(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => ApiError::unavailable("metrics are not being recorded in this process").into_response(),
    }
}

/// 200 while the process answers at all: restart it only when this fails.
async fn live() -> Response {
    status(StatusCode::OK, "alive")
}

/// Routes anyone may call, keys or not: the orchestrator's probes.
const OPEN_PATHS: [&str; 5] = ["/health", "/healthz", "/health/ready", "/health/live", "/ping"];

/// Lets a request through when keys are off, the route is open, or it carries a key.
async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    let path = request.uri().path();
    let open = OPEN_PATHS.contains(&path) || (state.metrics_public && path == "/metrics");
    if open || state.keys.allows(presented) {
        return next.run(request).await;
    }
    in_dialect(
        request.method(),
        request.extensions().get::<MatchedPath>(),
        ApiError::unauthorized(),
    )
}

/// An error shaped for the dialect of the route the request matched, for answers given before
/// a handler runs (keys, deadlines).
fn in_dialect(method: &Method, matched: Option<&MatchedPath>, error: ApiError) -> Response {
    match routes::dialect_of(method, matched.map(MatchedPath::as_str)) {
        Dialect::Plain => error::PlainShape::respond(error),
        Dialect::Cohere => cohere::CohereShape::respond(error),
        Dialect::Tei => tei::TeiShape::respond(error),
        Dialect::OpenAi => error::OpenAiShape::respond(error),
    }
}

/// Cancels a request still unanswered at the deadline; dropping it drops its queued work too.
async fn deadline(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limit = state.limits.request_timeout;
    let (method, matched) = (
        request.method().clone(),
        request.extensions().get::<MatchedPath>().cloned(),
    );
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => in_dialect(&method, matched.as_ref(), ApiError::deadline(limit)),
    }
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found_route(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
