//! OpenAI's dialect: `POST /v1/embeddings` and the model list, with OpenAI's error shape.

pub mod models;
pub mod types;

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::body::{read_json, RawBody};
use super::error::ApiError;
use crate::model_files::ModelKind;
use crate::service::embed::embed_resolved;
use crate::service::embed::sparse::embed_sparse_resolved;
use crate::service::models::resolve;
use crate::service::AppState;
use types::{EmbeddingRequest, EmbeddingResponse, EncodingFormat};

#[utoipa::path(post, path = "/v1/embeddings", tag = "OpenAI", request_body = crate::http::openapi::requests::OpenAiEmbeddingRequest,
    responses((status = 200, body = crate::http::openai::types::EmbeddingResponse), crate::http::openapi::errors::OpenAiErrors))]
pub async fn embeddings_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let json = read_json(Some(&headers), body)?;
    let request = EmbeddingRequest::from_json(json)?;
    Ok(Json(create_embeddings(&state, request).await?).into_response())
}

/// The OpenAI operation, shared by the route and the `embed` command. A sparse model answers
/// in [`EmbeddingResponse::sparse`]'s shape.
pub async fn create_embeddings(state: &AppState, request: EmbeddingRequest) -> Result<EmbeddingResponse, ApiError> {
    let model = request.embed.model.clone();
    let resolved = resolve(state, &model, request.embed.options.keep_alive).await?;
    if resolved.model.description.kind() == ModelKind::Sparse {
        if request.encoding_format != EncodingFormat::Float {
            return Err(ApiError::invalid(
                format!(
                    "{} is a sparse model: its vectors are indices and values, sent as JSON numbers; `encoding_format` must be \"float\".",
                    resolved.spec.public_name()
                ),
                "encoding_format",
            ));
        }
        let embedded = embed_sparse_resolved(state, &resolved, request.embed).await?;
        return Ok(EmbeddingResponse::sparse(model, embedded));
    }
    let embedded = embed_resolved(state, &resolved, request.embed).await?;
    Ok(EmbeddingResponse::new(model, embedded, request.encoding_format))
}
