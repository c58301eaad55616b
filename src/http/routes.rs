//! Every route the server answers, in one table: its method and path, the dialect whose error
//! shape it answers in, its handler and the OpenAPI operation documenting it. The router, the
//! document's route list and the error shape of answers given before a handler runs (keys,
//! deadlines) all come from here, and a test holds the document's paths to it, so a route
//! cannot be half-added.

use std::sync::Arc;

use axum::routing::{get, post, MethodRouter};
use utoipa::Path;

use super::openapi::paths;
use super::{cohere, health, hf, live, metrics, ollama, openai, openapi, ready, tei, vllm};
use crate::service::AppState;

/// Whose error body a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI's `{"error": {"message", "type", ...}}`; also the operations routes'.
    OpenAi,
    /// text-embeddings-inference's `{"error", "error_type"}`.
    Tei,
    /// `{"error": "..."}`: the Hugging Face Inference API's and Ollama's.
    Plain,
    /// Cohere's `{"message"}`.
    Cohere,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// As OpenAPI writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
        }
    }

    pub fn method(self) -> axum::http::Method {
        match self {
            Self::Get => axum::http::Method::GET,
            Self::Post => axum::http::Method::POST,
        }
    }
}

pub struct Route {
    pub verb: Verb,
    /// As the router matches it (`{*id}` takes the rest of the path, slashes included).
    pub path: &'static str,
    /// As the OpenAPI document names it.
    pub documented: &'static str,
    pub dialect: Dialect,
    pub handler: fn() -> MethodRouter<Arc<AppState>>,
    /// The documenting operation's path (a stub in `openapi/paths.rs`), which must be
    /// `documented`.
    pub operation: fn() -> String,
}

/// One row: `route!(VERB "path" [as "documented"], Dialect, handler, operation)`.
macro_rules! route {
    ($verb:ident $path:literal, $dialect:ident, $handler:expr, $operation:ident) => {
        route!($verb $path as $path, $dialect, $handler, $operation)
    };
    ($verb:ident $path:literal as $documented:literal, $dialect:ident, $handler:expr, $operation:ident) => {
        Route {
            verb: Verb::$verb,
            path: $path,
            documented: $documented,
            dialect: Dialect::$dialect,
            handler: || route!(@method $verb)($handler),
            operation: paste::paste! { <paths::[<__path_ $operation>] as Path>::path },
        }
    };
    (@method Get) => { get };
    (@method Post) => { post };
}

pub static ROUTES: &[Route] = &[
    // OpenAI
    route!(Post "/v1/embeddings", OpenAi, openai::embeddings_handler, openai_embeddings),
    route!(Post "/embeddings", OpenAi, openai::embeddings_handler, openai_embeddings_short),
    route!(Get "/v1/models", OpenAi, openai::models::list_models, openai_models),
    route!(Get "/models", OpenAi, openai::models::list_models, openai_models_short),
    route!(Get "/v1/models/{*id}" as "/v1/models/{id}", OpenAi, openai::models::retrieve_model, openai_model),
    // GET /models/{id} is OpenAI's model object; POST is the Hugging Face Inference API.
    route!(Get "/models/{*id}" as "/models/{id}", OpenAi, openai::models::retrieve_model, openai_model_short),
    route!(Post "/models/{*id}" as "/models/{id}", Plain, hf::feature_extraction, hf_models),
    route!(Post "/pipeline/feature-extraction/{*id}" as "/pipeline/feature-extraction/{id}", Plain, hf::feature_extraction, hf_pipeline),
    route!(Post "/hf-inference/models/{*id}" as "/hf-inference/models/{id}/pipeline/feature-extraction", Plain, hf::feature_extraction, hf_router),
    // text-embeddings-inference
    route!(Post "/embed", Tei, tei::embed_handler, tei_embed),
    route!(Post "/", Tei, tei::invocations_handler, tei_root),
    route!(Post "/invocations", Tei, tei::invocations_handler, tei_invocations),
    route!(Post "/vertex", Tei, tei::vertex_handler, tei_vertex),
    route!(Post "/tokenize", Tei, tei::tokenize_handler, tei_tokenize),
    route!(Post "/decode", Tei, tei::decode_handler, tei_decode),
    route!(Post "/similarity", Tei, tei::similarity_handler, tei_similarity),
    route!(Get "/info", Tei, tei::info_handler, tei_info),
    route!(Post "/rerank", Tei, tei::scoring::rerank_handler, tei_rerank),
    route!(Post "/predict", Tei, tei::scoring::predict_handler, tei_predict),
    route!(Post "/embed_sparse", Tei, tei::sparse::embed_sparse_handler, tei_embed_sparse),
    route!(Post "/embed_all", Tei, tei::embed_all_handler, tei_embed_all),
    // Ollama
    route!(Post "/api/embed", Plain, ollama::embed_handler, ollama_embed),
    route!(Post "/api/embeddings", Plain, ollama::embeddings_handler, ollama_embeddings),
    route!(Get "/api/tags", Plain, ollama::tags_handler, ollama_tags),
    route!(Post "/api/show", Plain, ollama::show_handler, ollama_show),
    route!(Get "/api/ps", Plain, ollama::ps_handler, ollama_ps),
    route!(Get "/api/version", Plain, ollama::version_handler, ollama_version),
    // Cohere
    route!(Post "/v2/embed", Cohere, cohere::embed_v2, cohere_embed_v2),
    route!(Post "/v1/embed", Cohere, cohere::embed_v1, cohere_embed_v1),
    // Rerank: Cohere's paths, which Jina, llama.cpp and vLLM clients post to as well
    route!(Post "/v2/rerank", Cohere, cohere::rerank::rerank_v2, cohere_rerank_v2),
    route!(Post "/v1/rerank", Cohere, cohere::rerank::rerank_v1, cohere_rerank_v1),
    // vLLM
    route!(Post "/score", OpenAi, vllm::score_handler, vllm_score),
    route!(Post "/v1/score", OpenAi, vllm::score_handler, vllm_score_v1),
    // Operations
    route!(Get "/health", OpenAi, health, health),
    route!(Get "/healthz", OpenAi, health, healthz),
    // SageMaker's health check
    route!(Get "/ping", OpenAi, health, ping),
    route!(Get "/health/ready", OpenAi, ready, ready),
    route!(Get "/health/live", OpenAi, live, live),
    route!(Get "/metrics", OpenAi, metrics, metrics),
    route!(Get "/openapi.json", OpenAi, openapi::document, openapi_json),
];

/// The dialect of the route the router matched (`MatchedPath`, in router form), by its method
/// too where a path has two; OpenAI's for a path no route matches, as the unknown-route answer
/// itself is.
pub fn dialect_of(method: &axum::http::Method, matched: Option<&str>) -> Dialect {
    let Some(path) = matched else {
        return Dialect::OpenAi;
    };
    let mut on_path = ROUTES.iter().filter(|r| r.path == path);
    let exact = on_path.clone().find(|r| r.verb.method() == method);
    exact.or_else(|| on_path.next()).map_or(Dialect::OpenAi, |r| r.dialect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_documented_by_its_own_operation() {
        for route in ROUTES {
            assert_eq!((route.operation)(), route.documented, "{}", route.path);
        }
        let mut seen = std::collections::BTreeSet::new();
        for route in ROUTES {
            assert!(
                seen.insert((route.verb.name(), route.path)),
                "{} listed twice",
                route.path
            );
        }
    }

    #[test]
    fn dialects_follow_the_matched_route_and_its_method() {
        use axum::http::Method;
        assert_eq!(dialect_of(&Method::POST, Some("/models/{*id}")), Dialect::Plain);
        assert_eq!(dialect_of(&Method::GET, Some("/models/{*id}")), Dialect::OpenAi);
        assert_eq!(dialect_of(&Method::POST, Some("/v2/embed")), Dialect::Cohere);
        assert_eq!(dialect_of(&Method::GET, Some("/info")), Dialect::Tei);
        assert_eq!(dialect_of(&Method::GET, Some("/api/ps")), Dialect::Plain);
        assert_eq!(
            dialect_of(&Method::GET, Some("/api/embed")),
            Dialect::Plain,
            "a wrong method"
        );
        assert_eq!(dialect_of(&Method::GET, None), Dialect::OpenAi);
    }
}
