//! Ollama's dialect: `POST /api/embed`, the older `POST /api/embeddings`, `GET /api/tags`,
//! `POST /api/show` and `GET /api/version`, with Ollama's error body `{"error": "..."}` and the
//! statuses of the OpenAI routes. Model names resolve through the allow-list like any other
//! (`all-minilm` is an alias there); a `:tag` suffix such as `:latest` is ignored.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::embed::{embed_resolved, resolve, EmbedRequest};
use super::error::{ApiError, PlainError};
use super::input::{model_name, object, parse_input, take, EmbedOptions, Input};
use super::pipeline::PipelineSummary;
use super::AppState;
use crate::models::EntryInfo;
use crate::registry::ModelSpec;

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

#[derive(Serialize, ToSchema)]
pub struct OllamaModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: Option<String>,
    pub families: Option<Vec<String>>,
    pub parameter_size: Option<String>,
    pub quantization_level: String,
}

#[derive(Serialize, ToSchema)]
pub struct OllamaModel {
    /// `ID:latest`.
    pub name: String,
    pub model: String,
    /// RFC 3339.
    pub modified_at: Option<String>,
    pub size: u64,
    pub digest: String,
    pub details: OllamaModelDetails,
}

/// `/api/tags`' answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaTags {
    pub models: Vec<OllamaModel>,
}

/// `/api/show`'s answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaShowResponse {
    pub modelfile: String,
    pub parameters: String,
    pub template: String,
    pub modified_at: Option<String>,
    pub details: OllamaModelDetails,
    /// `general.architecture`, `{arch}.embedding_length`, `{arch}.context_length`, ...
    #[schema(value_type = Object)]
    pub model_info: Map<String, Value>,
    pub capabilities: Vec<String>,
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

/// Reads Ollama's options: `truncate` (default true) and `dimensions`; `keep_alive` and
/// `options` are accepted and ignored (models stay loaded, runtime options do not apply).
fn embed_options(fields: &mut Map<String, Value>) -> Result<EmbedOptions, ApiError> {
    take(fields, "keep_alive");
    take(fields, "options");
    EmbedOptions::default().read(fields)
}

fn nanoseconds(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `POST /api/embed`: `{"model", "embeddings", "total_duration", "load_duration",
/// "prompt_eval_count"}`.
pub async fn embed_handler(State(state): State<Arc<AppState>>, body: RawBody) -> Result<Response, PlainError> {
    let started = Instant::now();
    let json = read_json(None, body)?;
    let mut fields = object(json)?;
    let name = requested_model(&mut fields)?;
    let input = parse_input(fields.remove("input").unwrap_or(Value::Null), "input")?;
    let options = embed_options(&mut fields)?;
    let loading = Instant::now();
    let resolved = resolve(&state, without_tag(&name)).await?;
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
    let resolved = resolve(&state, without_tag(&name)).await?;
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

/// What Ollama's clients show of a model, from what its files say and its weights' size.
fn details(info: Option<&EntryInfo>, weights_size: Option<u64>) -> OllamaModelDetails {
    let family = info.map(|i| i.description.shape().model_type.clone());
    OllamaModelDetails {
        parent_model: String::new(),
        format: "safetensors".to_owned(),
        families: family.as_ref().map(|f| vec![f.clone()]),
        family,
        parameter_size: weights_size.map(|bytes| format!("{:.1}M", bytes as f64 / 4.0 / 1e6)),
        quantization_level: "F32".to_owned(),
    }
}

/// The weights file's size, modification time and snapshot (the digest Ollama would show).
struct WeightsFacts {
    size: Option<u64>,
    modified: Option<String>,
    snapshot: String,
}

fn weights_facts(state: &AppState, spec: &ModelSpec) -> WeightsFacts {
    let files = state.store.weights_files(spec).unwrap_or_default();
    let path = files.first();
    let meta = path.and_then(|p| std::fs::metadata(p).ok());
    let size = meta.as_ref().map(|_| {
        files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum::<u64>()
    });
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    let snapshot = path
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_default();
    WeightsFacts {
        size,
        modified,
        snapshot,
    }
}

/// `GET /api/tags`: every allow-listed entry, as `NAME:latest`.
pub async fn tags_handler(State(state): State<Arc<AppState>>) -> Response {
    let models = state
        .store
        .registry()
        .specs()
        .iter()
        .map(|spec| {
            let facts = weights_facts(&state, spec);
            let name = format!("{}:latest", spec.public_name());
            OllamaModel {
                model: name.clone(),
                name,
                modified_at: facts.modified,
                size: facts.size.unwrap_or(0),
                digest: facts.snapshot,
                details: details(state.store.info(spec).as_ref(), facts.size),
            }
        })
        .collect();
    Json(OllamaTags { models }).into_response()
}

/// `POST /api/show`: one model's details and what it can do (`embedding`).
pub async fn show_handler(State(state): State<Arc<AppState>>, body: RawBody) -> Result<Response, PlainError> {
    let json = read_json(None, body)?;
    let mut fields = object(json)?;
    let name = requested_model(&mut fields)?;
    let registry = state.store.registry();
    let spec = registry
        .resolve(without_tag(&name))
        .ok_or_else(|| ApiError::model_not_found(&name, &registry.public_names()))?;
    let info = state.store.info(spec);
    let facts = weights_facts(&state, spec);
    let mut model_info = Map::new();
    if let Some(info) = &info {
        let architecture = info.description.shape().model_type.clone();
        model_info.insert(
            format!("{architecture}.embedding_length"),
            json!(info.description.dimension_with(info.serving.pooling)),
        );
        model_info.insert(
            format!("{architecture}.context_length"),
            json!(info.description.max_tokens),
        );
        model_info.insert(
            format!("{architecture}.pooling_type"),
            json!(info.serving.pooling.describe()),
        );
        model_info.insert("general.architecture".to_owned(), json!(architecture));
        model_info.insert("embeddings.pipeline".to_owned(), json!(PipelineSummary::of(info)));
    }
    Ok(Json(OllamaShowResponse {
        modelfile: String::new(),
        parameters: String::new(),
        template: String::new(),
        modified_at: facts.modified,
        details: details(info.as_ref(), facts.size),
        model_info,
        capabilities: vec!["embedding".to_owned()],
    })
    .into_response())
}

/// `GET /api/version`: this server's version.
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
