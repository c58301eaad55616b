//! The Hugging Face Inference API's feature-extraction task, as the hosted API and Inference
//! Endpoints serve it: `POST /pipeline/feature-extraction/{model}`, `POST /models/{model}` and
//! the router's `POST /hf-inference/models/{model}/pipeline/feature-extraction`, with a body of
//! `{"inputs", "parameters", "options"}`. The options `normalize`, `truncate`,
//! `truncation_direction`, `prompt_name` and `dimensions` are read at the top level (where
//! `huggingface_hub` puts them) and inside `parameters`; `options` (`wait_for_model`,
//! `use_cache`) is accepted and ignored. A string answers one vector, a list a list of vectors.
//! Errors are `{"error": "..."}` with the statuses of the OpenAI routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::error::{ApiError, PlainError};
use crate::service::embed::{embed, EmbedRequest};
use crate::service::input::{object, parse_input, take, EmbedOptions};
use crate::service::AppState;

const PIPELINE_SUFFIX: &str = "/pipeline/feature-extraction";

/// The features of one text, or of each of a list.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum HfFeatures {
    One(Vec<f32>),
    Many(Vec<Vec<f32>>),
}

/// `POST /pipeline/feature-extraction/{model}`, `POST /models/{model}` (also with the
/// `/pipeline/feature-extraction` suffix) and `POST /hf-inference/models/{model}/...`.
#[utoipa::path(post, path = "/models/{id}", tag = "Hugging Face Inference API", request_body = crate::http::openapi::requests::HfFeatureExtractionRequest,
    params(("id" = String, Path, description = "model id, alias or short name", example = "all-MiniLM-L6-v2")),
    responses((status = 200, body = crate::http::hf::HfFeatures), crate::http::openapi::errors::PlainErrors))]
pub async fn feature_extraction(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, PlainError> {
    let model = model.strip_suffix(PIPELINE_SUFFIX).unwrap_or(&model).to_owned();
    let json = read_json(Some(&headers), body)?;
    let mut fields = object(json)?;
    let inputs = fields.remove("inputs").unwrap_or(Value::Null);
    let single = inputs.is_string();
    let input = parse_input(inputs, "inputs")?;
    let mut options = EmbedOptions::default().read(&mut fields)?;
    if let Some(parameters) = take(&mut fields, "parameters") {
        let mut parameters =
            object(parameters).map_err(|_| ApiError::invalid("`parameters` must be an object.", "parameters"))?;
        options = options.read(&mut parameters)?;
    }
    let mut vectors = embed(&state, EmbedRequest { model, input, options }).await?.vectors;
    let features = if single && vectors.len() == 1 {
        HfFeatures::One(vectors.remove(0))
    } else {
        HfFeatures::Many(vectors)
    };
    Ok(Json(features).into_response())
}
