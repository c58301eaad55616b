//! text-embeddings-inference's dialect: `POST /embed` (and `POST /`, what
//! `huggingface_hub.InferenceClient(model=URL)` posts), `POST /tokenize`, `GET /info`, with TEI's
//! error body `{"error", "error_type"}` and the statuses TEI's code answers (router 1.9.3, which
//! its `docs/openapi.json` does not always say): 422 `Validation` for invalid fields and for
//! inputs or tokens over the limits, 400 `Empty` for empty input, 424 `Backend` for a model of
//! the wrong kind, 413 only for a body over the size limit. A TEI body names no model: these
//! routes serve the first model of the allow-list unless the body carries `model` (an extension).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::error::{ApiError, ErrorKind, ErrorShape, Shaped};
use crate::model_files::ModelKind;
use crate::service::embed::{embed, embed_every_token, EmbedRequest};
use crate::service::info::info;
use crate::service::input::{model_name, object, parse_input, EmbedOptions};
use crate::service::score::default_model;
use crate::service::AppState;

pub mod scoring;
pub mod similarity;
pub mod sparse;
pub mod tasks;
pub mod tokens;

pub use tokens::SimpleToken;

/// TEI's error shape: its statuses (422 for a validation error) and `error_type`.
pub enum TeiShape {}

pub type TeiError = Shaped<TeiShape>;

/// TEI's error body.
#[derive(Serialize, ToSchema)]
pub struct TeiErrorBody {
    pub error: String,
    /// TEI's `ErrorType`, serialised as its variant's name: `Validation`, `Empty`, `Tokenizer`,
    /// `Overloaded`, `Unhealthy`, `Backend` (and, for a missing key, `Unauthorized`).
    pub error_type: String,
}

/// TEI's status and `ErrorType` for an error.
pub fn tei_status(error: &ApiError) -> (StatusCode, &'static str) {
    match error.kind {
        ErrorKind::Empty => (StatusCode::BAD_REQUEST, "Empty"),
        ErrorKind::TooLarge if error.status == StatusCode::PAYLOAD_TOO_LARGE => (error.status, "Validation"),
        ErrorKind::TooLarge | ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "Validation"),
        ErrorKind::WrongModelKind => (StatusCode::FAILED_DEPENDENCY, "Backend"),
        ErrorKind::Syntax => (StatusCode::BAD_REQUEST, "Validation"),
        ErrorKind::Other => (
            error.status,
            match error.status.as_u16() {
                401 => "Unauthorized",
                429 => "Overloaded",
                503 => "Unhealthy",
                424 | 500..=599 => "Backend",
                _ => "Validation",
            },
        ),
    }
}

impl ErrorShape for TeiShape {
    fn respond(error: ApiError) -> Response {
        let (status, error_type) = tei_status(&error);
        let body = serde_json::to_string(&TeiErrorBody {
            error: error.message.clone(),
            error_type: error_type.to_owned(),
        })
        .unwrap_or_default();
        error.respond(status, body)
    }
}

/// TEI's error body on its OpenAI route, `/v1/embeddings`, as its code writes it (its
/// `docs/openapi.json` names the last field `error_type`; the router serialises it as `type`).
#[derive(Serialize, ToSchema)]
pub struct TeiOpenAiErrorBody {
    pub message: String,
    pub code: u16,
    #[serde(rename = "type")]
    pub error_type: String,
}

/// An error answered as TEI's `/v1/embeddings` answers it.
pub fn openai_compat_error(error: ApiError) -> Response {
    let (status, error_type) = tei_status(&error);
    let body = serde_json::to_string(&TeiOpenAiErrorBody {
        message: error.message.clone(),
        code: status.as_u16(),
        error_type: error_type.to_owned(),
    })
    .unwrap_or_default();
    error.respond(status, body)
}

/// The model a TEI body means: its `model`, else the first of the allow-list.
fn model_or_default(state: &AppState, fields: &mut serde_json::Map<String, Value>) -> Result<String, ApiError> {
    Ok(match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => state.store.registry().default_spec().id.clone(),
    })
}

/// The model a TEI scoring body means: its `model`, else the first listed model of `kind`.
fn model_or(
    state: &AppState,
    fields: &mut serde_json::Map<String, Value>,
    kind: ModelKind,
) -> Result<String, ApiError> {
    Ok(match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => default_model(state, kind),
    })
}

fn embed_request(state: &AppState, json: Value) -> Result<EmbedRequest, ApiError> {
    let mut fields = object(json)?;
    let model = model_or_default(state, &mut fields)?;
    let input = parse_input(fields.remove("inputs").unwrap_or(Value::Null), "inputs")?;
    let options = EmbedOptions::default().read(&mut fields)?;
    Ok(EmbedRequest { model, input, options })
}

/// `POST /embed`: `[[f32, ...], ...]`, one vector per input.
#[utoipa::path(post, path = "/embed", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiEmbedRequest,
    responses((status = 200, body = Vec<Vec<f32>>), crate::http::openapi::errors::TeiErrors))]
pub async fn embed_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    Ok(Json(embed_answer(&state, json).await?).into_response())
}

/// `/embed`'s answer to a body.
async fn embed_answer(state: &AppState, json: Value) -> Result<Vec<Vec<f32>>, ApiError> {
    let request = embed_request(state, json)?;
    Ok(embed(state, request).await?.vectors)
}

/// `POST /embed_all`: every token's last hidden state per input, `[[[f32, ...], ...], ...]`
/// (the prompt and special tokens included, nothing pooled or normalised).
#[utoipa::path(post, path = "/embed_all", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiEmbedAllRequest,
    responses((status = 200, description = "each input's tokens' last hidden states, before pooling", body = Vec<Vec<Vec<f32>>>), crate::http::openapi::errors::TeiErrors))]
pub async fn embed_all_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    let request = embed_request(&state, json)?;
    Ok(Json(embed_every_token(&state, request).await?).into_response())
}

/// `GET /info`: TEI's description of the (first) model and the server's limits.
#[utoipa::path(get, path = "/info", tag = "text-embeddings-inference",
    responses((status = 200, body = crate::service::info::TeiInfo), (status = 401, body = crate::http::tei::TeiErrorBody)))]
pub async fn info_handler(State(state): State<Arc<AppState>>) -> Response {
    Json(info(&state)).into_response()
}
