//! Every route the server answers, in one table: its method and path, the dialect whose error
//! shape it answers in, and its handler, whose `#[utoipa::path]` documents it. The router, the
//! OpenAPI document's paths and the error shape of answers given before a handler runs (keys,
//! deadlines) all come from here, so a new route is its handler and one row.

use std::sync::Arc;

use axum::routing::{get, post, MethodRouter};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::{RefOr, Schema};

use super::{cohere, hf, ollama, openai, openapi, tei, vllm};
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
    pub fn openapi(self) -> HttpMethod {
        match self {
            Self::Get => HttpMethod::Get,
            Self::Post => HttpMethod::Post,
        }
    }

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
    /// The handler's OpenAPI operation: its request, answers and errors.
    pub operation: fn() -> Operation,
    /// The methods the handler's operation is declared for, which must hold `verb`.
    pub operation_methods: fn() -> Vec<HttpMethod>,
    /// The path the handler's annotation names: one of the documented paths of its rows (the
    /// document takes each row's own).
    pub operation_path: fn() -> String,
    /// The annotation's tags (the dialect's name), which utoipa keeps apart from the operation.
    pub tags: fn() -> Vec<&'static str>,
    /// Adds the schemas the operation refers to.
    pub schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
}

/// One row: `route!(VERB "path" [as "documented"], Dialect, module::{handler})`. The handler's own
/// `#[utoipa::path]` describes its request and answers; the row gives the path it serves them
/// at (a handler may serve several).
macro_rules! route {
    ($verb:ident $path:literal, $dialect:ident, $($module:ident ::)* {$handler:ident}) => {
        route!($verb $path as $path, $dialect, $($module ::)* {$handler})
    };
    ($verb:ident $path:literal as $documented:literal, $dialect:ident, $($module:ident ::)* {$handler:ident}) => {
        Route {
            verb: Verb::$verb,
            path: $path,
            documented: $documented,
            dialect: Dialect::$dialect,
            handler: || route!(@method $verb)($($module ::)* $handler),
            operation: paste::paste! { <$($module ::)* [<__path_ $handler>] as utoipa::Path>::operation },
            operation_methods: paste::paste! { <$($module ::)* [<__path_ $handler>] as utoipa::Path>::methods },
            operation_path: paste::paste! { <$($module ::)* [<__path_ $handler>] as utoipa::Path>::path },
            tags: paste::paste! { <$($module ::)* [<__path_ $handler>] as utoipa::__dev::Tags<'static>>::tags },
            schemas: paste::paste! {
                <$($module ::)* [<__path_ $handler>] as utoipa::__dev::SchemaReferences>::schemas
            },
        }
    };
    (@method Get) => { get };
    (@method Post) => { post };
}

pub static ROUTES: &[Route] = &[
    // OpenAI
    route!(Post "/v1/embeddings", OpenAi, openai::{embeddings_handler}),
    route!(Post "/embeddings", OpenAi, openai::{embeddings_handler}),
    route!(Get "/v1/models", OpenAi, openai::models::{list_models}),
    route!(Get "/models", OpenAi, openai::models::{list_models}),
    route!(Get "/v1/models/{*id}" as "/v1/models/{id}", OpenAi, openai::models::{retrieve_model}),
    // GET /models/{id} is OpenAI's model object; POST is the Hugging Face Inference API.
    route!(Get "/models/{*id}" as "/models/{id}", OpenAi, openai::models::{retrieve_model}),
    route!(Post "/models/{*id}" as "/models/{id}", Plain, hf::{feature_extraction}),
    route!(Post "/pipeline/feature-extraction/{*id}" as "/pipeline/feature-extraction/{id}", Plain, hf::{feature_extraction}),
    route!(Post "/hf-inference/models/{*id}" as "/hf-inference/models/{id}/pipeline/feature-extraction", Plain, hf::{feature_extraction}),
    // text-embeddings-inference
    route!(Post "/embed", Tei, tei::{embed_handler}),
    route!(Post "/", Tei, tei::tasks::{invocations_handler}),
    route!(Post "/invocations", Tei, tei::tasks::{invocations_handler}),
    route!(Post "/vertex", Tei, tei::tasks::{vertex_handler}),
    route!(Post "/tokenize", Tei, tei::tokens::{tokenize_handler}),
    route!(Post "/decode", Tei, tei::tokens::{decode_handler}),
    route!(Post "/similarity", Tei, tei::similarity::{similarity_handler}),
    route!(Get "/info", Tei, tei::{info_handler}),
    route!(Post "/rerank", Tei, tei::scoring::{rerank_handler}),
    route!(Post "/predict", Tei, tei::scoring::{predict_handler}),
    route!(Post "/embed_sparse", Tei, tei::sparse::{embed_sparse_handler}),
    route!(Post "/embed_all", Tei, tei::{embed_all_handler}),
    // Ollama
    route!(Post "/api/embed", Plain, ollama::{embed_handler}),
    route!(Post "/api/embeddings", Plain, ollama::{embeddings_handler}),
    route!(Get "/api/tags", Plain, ollama::models::{tags_handler}),
    route!(Post "/api/show", Plain, ollama::models::{show_handler}),
    route!(Get "/api/ps", Plain, ollama::models::{ps_handler}),
    route!(Get "/api/version", Plain, ollama::{version_handler}),
    // Cohere
    route!(Post "/v2/embed", Cohere, cohere::{embed_v2}),
    route!(Post "/v1/embed", Cohere, cohere::{embed_v1}),
    // Rerank: Cohere's paths, which Jina, llama.cpp and vLLM clients post to as well
    route!(Post "/v2/rerank", Cohere, cohere::rerank::{rerank_v2}),
    route!(Post "/v1/rerank", Cohere, cohere::rerank::{rerank_v1}),
    // vLLM
    route!(Post "/score", OpenAi, vllm::{score_handler}),
    route!(Post "/v1/score", OpenAi, vllm::{score_handler}),
    // Operations
    route!(Get "/health", OpenAi, super::{health}),
    route!(Get "/healthz", OpenAi, super::{health}),
    // SageMaker's health check
    route!(Get "/ping", OpenAi, super::{health}),
    route!(Get "/health/ready", OpenAi, super::{ready}),
    route!(Get "/health/live", OpenAi, super::{live}),
    route!(Get "/metrics", OpenAi, super::{metrics}),
    route!(Get "/openapi.json", OpenAi, openapi::{document_handler}),
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
    fn each_route_is_documented_by_an_operation_of_its_method() {
        for route in ROUTES {
            assert!(
                (route.operation_methods)() == vec![route.verb.openapi()],
                "{}",
                route.path
            );
            assert!(
                (route.operation)().responses.responses.contains_key("200"),
                "{}",
                route.path
            );
            let annotated = (route.operation_path)();
            assert!(
                ROUTES
                    .iter()
                    .any(|other| other.documented == annotated && (other.operation_path)() == annotated),
                "{}: its handler's annotation names {annotated}, which no row of that handler serves",
                route.path
            );
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
