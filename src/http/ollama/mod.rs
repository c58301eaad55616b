//! Ollama's dialect: `POST /api/embed`, the older `POST /api/embeddings`, `GET /api/version`
//! and the model routes ([`models`]: `/api/tags`, `/api/show`, `/api/ps`), with Ollama's error body `{"error": "..."}` and the
//! statuses of the OpenAI routes. Model names resolve through the allow-list like any other
//! (`all-minilm` is an alias there); a `:tag` suffix such as `:latest` is ignored.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::error::{ApiError, PlainError};
use crate::model_store::KeepAlive;
use crate::service::embed::{embed_resolved, EmbedRequest};
use crate::service::input::{model_name, object, parse_input, take, EmbedOptions, Input};
use crate::service::models::resolve;
use crate::service::AppState;

pub mod models;
pub use models::{OllamaRunning, OllamaShowResponse, OllamaTags};

/// `/api/embed`'s answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaEmbedResponse {
    /// The model's name as sent.
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    /// Nanoseconds, the whole request.
    pub total_duration: u64,
    /// Nanoseconds spent loading the model (0 when it was loaded already).
    pub load_duration: u64,
    /// Tokens the model read.
    pub prompt_eval_count: usize,
}

/// `/api/embeddings`' answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaEmbeddingResponse {
    pub embedding: Vec<f32>,
}

/// `/api/version`'s answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaVersion {
    pub version: String,
}

/// `all-minilm:latest` -> `all-minilm`: Ollama's tags mean nothing here.
fn without_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') && !base.is_empty() => base,
        _ => name,
    }
}

/// The request's model name (Ollama also accepts `name`), or a 400.
fn requested_model(fields: &mut Map<String, Value>) -> Result<String, ApiError> {
    let model = model_name(fields.remove("model"), "model")?;
    let name = model_name(fields.remove("name"), "name")?;
    model
        .or(name)
        .ok_or_else(|| ApiError::invalid("You must provide a `model`.", "model"))
}

/// Reads Ollama's options: `truncate` (default true), `dimensions` and `keep_alive` (how long
/// the model stays loaded afterwards); `options` is accepted and ignored (runtime options do
/// not apply).
fn embed_options(fields: &mut Map<String, Value>) -> Result<EmbedOptions, ApiError> {
    let keep_alive = take(fields, "keep_alive")
        .map(|value| {
            KeepAlive::from_json(&value).map_err(|e| ApiError::invalid(format!("`keep_alive`: {e}."), "keep_alive"))
        })
        .transpose()?;
    take(fields, "options");
    let mut options = EmbedOptions::default().read(fields)?;
    options.keep_alive = keep_alive;
    Ok(options)
}

fn nanoseconds(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `POST /api/embed`: `{"model", "embeddings", "total_duration", "load_duration",
/// "prompt_eval_count"}`.
#[utoipa::path(post, path = "/embed", tag = "Ollama", request_body = crate::http::openapi::requests::OllamaEmbedRequest,
    responses((status = 200, body = crate::http::ollama::OllamaEmbedResponse), crate::http::openapi::errors::PlainErrors))]
pub async fn embed_handler(State(state): State<Arc<AppState>>, body: RawBody) -> Result<Response, PlainError> {
    let started = Instant::now();
    let json = read_json(None, body)?;
    let mut fields = object(json)?;
    let name = requested_model(&mut fields)?;
    let input = parse_input(fields.remove("input").unwrap_or(Value::Null), "input")?;
    let options = embed_options(&mut fields)?;
    let loading = Instant::now();
    let resolved = resolve(&state, without_tag(&name), options.keep_alive).await?;
    let load_duration = nanoseconds(loading);
    let request = EmbedRequest {
        model: without_tag(&name).to_owned(),
        input,
        options,
    };
    let embedded = embed_resolved(&state, &resolved, request).await?;
    Ok(Json(OllamaEmbedResponse {
        model: name,
        embeddings: embedded.vectors,
        total_duration: nanoseconds(started),
        load_duration,
        prompt_eval_count: embedded.prompt_tokens,
    })
    .into_response())
}

/// `POST /api/embeddings` (Ollama's older route): `{"prompt"}` in, `{"embedding"}` out.
#[utoipa::path(post, path = "/v1/embeddings", tag = "Ollama", request_body = crate::http::openapi::requests::OllamaEmbeddingsRequest,
    responses((status = 200, body = crate::http::ollama::OllamaEmbeddingResponse), crate::http::openapi::errors::PlainErrors))]
pub async fn embeddings_handler(State(state): State<Arc<AppState>>, body: RawBody) -> Result<Response, PlainError> {
    let json = read_json(None, body)?;
    let mut fields = object(json)?;
    let name = requested_model(&mut fields)?;
    let prompt = match take(&mut fields, "prompt") {
        Some(Value::String(prompt)) => prompt,
        Some(_) => return Err(ApiError::invalid("`prompt` must be a string.", "prompt").into()),
        None => {
            return Err(ApiError::invalid("You must provide a `prompt` to embed.", "prompt")
                .with_kind(super::error::ErrorKind::Empty)
                .into())
        }
    };
    let options = embed_options(&mut fields)?;
    let resolved = resolve(&state, without_tag(&name), options.keep_alive).await?;
    let request = EmbedRequest {
        model: without_tag(&name).to_owned(),
        input: Input::Texts(vec![prompt]),
        options,
    };
    let mut embedded = embed_resolved(&state, &resolved, request).await?;
    Ok(Json(OllamaEmbeddingResponse {
        embedding: embedded.vectors.pop().unwrap_or_default(),
    })
    .into_response())
}

/// `GET /api/version`: this server's version.
#[utoipa::path(get, path = "/api/version", tag = "Ollama",
    responses((status = 200, body = crate::http::ollama::OllamaVersion), (status = 401, body = crate::http::error::SimpleError)))]
pub async fn version_handler() -> Response {
    Json(OllamaVersion {
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_ignored_in_model_names() {
        assert_eq!(without_tag("all-minilm:latest"), "all-minilm");
        assert_eq!(without_tag("all-minilm"), "all-minilm");
        assert_eq!(without_tag("org/model:v1"), "org/model");
        assert_eq!(without_tag(":latest"), ":latest");
    }
}
