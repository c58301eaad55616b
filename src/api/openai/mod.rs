//! OpenAI's dialect: `POST /v1/embeddings` and the model list, with OpenAI's error shape.

pub mod models;
pub mod types;

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::body::{read_json, RawBody};
use super::embed::embed;
use super::error::ApiError;
use super::AppState;
use types::{EmbeddingRequest, EmbeddingResponse};

pub async fn embeddings_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let json = read_json(Some(&headers), body)?;
    let request = EmbeddingRequest::from_json(json)?;
    Ok(Json(create_embeddings(&state, request).await?).into_response())
}

/// The OpenAI operation, shared by the route and the `embed` command.
pub async fn create_embeddings(state: &AppState, request: EmbeddingRequest) -> Result<EmbeddingResponse, ApiError> {
    let model = request.embed.model.clone();
    let embedded = embed(state, request.embed).await?;
    Ok(EmbeddingResponse::new(model, embedded, request.encoding_format))
}
