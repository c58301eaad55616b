//! vLLM's score API: `POST /score` and `POST /v1/score` with `text_1` and `text_2` (one to one:
//! lists of one length; one to many: one text against a list) -> `{id, object, created, model,
//! data: [{index, object: "score", score}], usage}`, scores in `text_2`'s order. Errors in
//! OpenAI's shape, as vLLM's are.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::error::{excerpt, ApiError, ErrorKind};
use crate::model_files::ModelKind;
use crate::service::input::{model_name, object, take};
use crate::service::score::{default_model, score_pairs, ScoreInput, ScoreOptions};
use crate::service::AppState;

#[derive(Serialize, ToSchema)]
pub struct ScoreAnswer {
    pub id: String,
    /// `list`.
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub data: Vec<ScoreItem>,
    pub usage: ScoreUsage,
}

#[derive(Serialize, ToSchema)]
pub struct ScoreItem {
    pub index: usize,
    /// `score`.
    pub object: &'static str,
    pub score: f32,
}

#[derive(Serialize, ToSchema)]
pub struct ScoreUsage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
    pub completion_tokens: usize,
}

/// A `text_1` / `text_2` field: one string or a non-empty list of strings.
fn texts(fields: &mut Map<String, Value>, key: &'static str) -> Result<Vec<String>, ApiError> {
    let invalid = |message: String| ApiError::invalid(message, key);
    match take(fields, key) {
        Some(Value::String(text)) => Ok(vec![text]),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(invalid(format!("`{key}` must not be empty.")).with_kind(ErrorKind::Empty))
        }
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => Ok(text),
                other => Err(invalid(format!(
                    "`{key}[{i}]` must be a string, not {}.",
                    excerpt(&other.to_string())
                ))),
            })
            .collect(),
        None => Err(invalid(format!("`{key}` is required.")).with_kind(ErrorKind::Empty)),
        Some(other) => Err(invalid(format!(
            "`{key}` must be a string or an array of strings, not {}.",
            excerpt(&other.to_string())
        ))),
    }
}

/// `POST /score` and `POST /v1/score`.
#[utoipa::path(post, path = "/score", tag = "vLLM", request_body = crate::http::openapi::scoring::ScoreRequest,
    responses((status = 200, body = crate::http::vllm::ScoreAnswer), crate::http::openapi::errors::OpenAiErrors))]
pub async fn score_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let mut fields = object(read_json(Some(&headers), body)?)?;
    let model = match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => default_model(&state, ModelKind::Reranker),
    };
    let first = texts(&mut fields, "text_1")?;
    let second = texts(&mut fields, "text_2")?;
    let pairs: Vec<ScoreInput> = match (first.len(), second.len()) {
        (1, _) => {
            let query: std::sync::Arc<str> = std::sync::Arc::from(first[0].as_str());
            second
                .into_iter()
                .map(|b| ScoreInput::Pair(std::sync::Arc::clone(&query), b))
                .collect()
        }
        (a, b) if a == b => first
            .into_iter()
            .zip(second)
            .map(|(a, b)| ScoreInput::Pair(a.into(), b))
            .collect(),
        (a, b) => {
            return Err(ApiError::invalid(
                format!("`text_1` has {a} texts and `text_2` {b}: send one `text_1`, or as many as `text_2`."),
                "text_1",
            ))
        }
    };
    let scored = score_pairs(&state, &model, pairs, ScoreOptions::default()).await?;
    let data = scored
        .relevance()
        .into_iter()
        .enumerate()
        .map(|(index, score)| ScoreItem {
            index,
            object: "score",
            score,
        })
        .collect();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(Json(ScoreAnswer {
        id: format!("score-{}", uuid::Uuid::new_v4().simple()),
        object: "list",
        created,
        model: scored.model,
        data,
        usage: ScoreUsage {
            prompt_tokens: scored.tokens,
            total_tokens: scored.tokens,
            completion_tokens: 0,
        },
    })
    .into_response())
}
