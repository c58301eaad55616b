//! The HTTP surface: every dialect a client may speak (OpenAI, text-embeddings-inference, the
//! Hugging Face Inference API, Ollama, Cohere, the rerank shapes of Jina and vLLM), each a thin
//! adapter in its own folder that parses its body into the service's one request type and
//! shapes the one result and [`ApiError`] its own way; [`routes`] is the one table of them.
//! The operations, limits and validation live in [`crate::service`]. Nothing here touches
//! tensors.

pub(crate) mod access;
mod body;
pub mod cohere;
pub mod error;
mod hf;
mod ollama;
pub mod openai;
pub mod openapi;
pub mod routes;
pub mod tei;
mod vllm;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use crate::registry::OPENAI_MODEL_NAMES;
use crate::service::AppState;
use error::{ApiError, ErrorShape};
pub use openai::create_embeddings;
use routes::Dialect;

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

#[utoipa::path(get, path = "/health", tag = "Operations",
    description = "Also at `/healthz`, and at `/ping` as SageMaker's health check. 200 once the start-up models are loaded, 503 before; `failed_models` lists the listed models whose last load failed.",
    responses((status = 200, body = crate::http::HealthStatus), (status = 503, body = crate::http::HealthStatus)))]
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
#[utoipa::path(get, path = "/health/ready", tag = "Operations",
    responses((status = 200, body = crate::http::HealthStatus), (status = 503, body = crate::http::HealthStatus)))]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.accepting() {
        status(StatusCode::OK, "ready")
    } else if state.is_draining() {
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
#[utoipa::path(get, path = "/metrics", tag = "Operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, body = crate::http::error::OpenAiErrorBody)))]
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
#[utoipa::path(get, path = "/health/live", tag = "Operations", responses((status = 200, body = crate::http::HealthStatus)))]
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
