//! Ollama's model routes: `GET /api/tags` (every allow-listed entry), `POST /api/show` (one
//! entry's details) and `GET /api/ps` (the entries whose weights are in memory now, with their
//! size and when they are unloaded).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{requested_model, without_tag};
use crate::http::body::{read_json, RawBody};
use crate::http::error::{ApiError, PlainError};
use crate::model_store::{EntryInfo, KeepAlive, ResidentState};
use crate::registry::ModelSpec;
use crate::service::input::object;
use crate::service::pipeline::PipelineSummary;
use crate::service::AppState;

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
#[utoipa::path(get, path = "/api/tags", tag = "Ollama",
    responses((status = 200, body = crate::http::ollama::OllamaTags), (status = 401, body = crate::http::error::SimpleError)))]
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
#[utoipa::path(post, path = "/api/show", tag = "Ollama", request_body = crate::http::openapi::requests::OllamaShowRequest,
    responses((status = 200, body = crate::http::ollama::OllamaShowResponse), crate::http::openapi::errors::PlainErrors))]
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

#[derive(Serialize, ToSchema)]
pub struct OllamaRunningModel {
    /// `ID:latest`.
    pub name: String,
    pub model: String,
    /// Bytes the weights take in memory, in the number format they run in.
    pub size: u64,
    pub digest: String,
    pub details: OllamaModelDetails,
    /// RFC 3339: when the model is unloaded if no request comes (centuries ahead when it is
    /// kept forever, as Ollama shows it).
    pub expires_at: String,
    /// The part of `size` in GPU memory.
    pub size_vram: u64,
    /// Longest input in tokens.
    pub context_length: Option<usize>,
}

/// `/api/ps`' answer.
#[derive(Serialize, ToSchema)]
pub struct OllamaRunning {
    pub models: Vec<OllamaRunningModel>,
}

/// `GET /api/ps`: every entry whose weights are loaded now (entries sharing weights share one
/// copy, each listed).
#[utoipa::path(get, path = "/api/ps", tag = "Ollama",
    responses((status = 200, body = crate::http::ollama::OllamaRunning), (status = 401, body = crate::http::error::SimpleError)))]
pub async fn ps_handler(State(state): State<Arc<AppState>>) -> Response {
    let models = state
        .store
        .registry()
        .specs()
        .iter()
        .filter_map(|spec| {
            let (model, resident) = state.store.loaded(spec)?;
            let facts = weights_facts(&state, spec);
            let name = format!("{}:latest", spec.public_name());
            let info = state.store.info(spec);
            Some(OllamaRunningModel {
                model: name.clone(),
                name,
                size: resident.bytes,
                digest: facts.snapshot,
                details: details(info.as_ref(), facts.size),
                expires_at: expires_at(resident, state.store.memory().keep_alive),
                size_vram: if model.device.starts_with("cuda") {
                    resident.bytes
                } else {
                    0
                },
                context_length: Some(model.description.max_tokens),
            })
        })
        .collect();
    Json(OllamaRunning { models }).into_response()
}

/// A model in use expires its keep-alive after the request in flight; Ollama shows that as the
/// default keep-alive from now.
fn expires_at(resident: ResidentState, default_keep_alive: KeepAlive) -> String {
    let now = Instant::now();
    let at = resident
        .expires
        .or_else(|| (resident.leases > 0).then(|| default_keep_alive.expiry(now)).flatten());
    let wall = chrono::Utc::now();
    let when = match at {
        Some(at) => chrono::TimeDelta::from_std(at.saturating_duration_since(now))
            .ok()
            .and_then(|ahead| wall.checked_add_signed(ahead)),
        None => None,
    };
    // Go's longest duration, which is what Ollama adds for "forever".
    let forever = || {
        wall.checked_add_signed(chrono::TimeDelta::nanoseconds(i64::MAX))
            .unwrap_or(wall)
    };
    when.unwrap_or_else(forever).to_rfc3339()
}
