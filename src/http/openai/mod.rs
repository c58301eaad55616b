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
use crate::service::models::{require_kind, resolve};
use crate::service::AppState;
use types::{EmbeddingRequest, EmbeddingResponse, EncodingFormat};

#[utoipa::path(post, path = "/v1/embeddings", tag = "OpenAI", request_body = crate::http::openapi::requests::OpenAiEmbeddingRequest,
    responses((status = 200, body = crate::http::openai::types::EmbeddingResponse), crate::http::openapi::errors::OpenAiErrors))]
pub async fn embeddings_handler(State(state): State<Arc<AppState>>, headers: HeaderMap, body: RawBody) -> Response {
    let Some(drop_in) = &state.tei_drop_in else {
        let answer = async {
            let request = EmbeddingRequest::from_json(read_json(Some(&headers), body)?)?;
            create_embeddings(&state, request, Sparse::Answered).await
        };
        return answer
            .await
            .map_or_else(IntoResponse::into_response, |a| Json(a).into_response());
    };
    // Started as TEI, the route answers as TEI's does: any `model`, the served name, no sparse
    // answer (a SPLADE model is its backend error), TEI's error body.
    let answer = async {
        let served = state.store.registry().default_spec().public_name();
        let request = EmbeddingRequest::for_the_one_model(read_json(Some(&headers), body)?, served)?;
        let mut answer = create_embeddings(&state, request, Sparse::Refused).await?;
        answer.model = drop_in.served_model_name.clone();
        Ok::<_, ApiError>(answer)
    };
    match answer.await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => crate::http::tei::openai_compat_error(error),
    }
}

/// What `/v1/embeddings` does with a sparse model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparse {
    /// Answers in [`EmbeddingResponse::sparse`]'s shape (this server's extension).
    Answered,
    /// Refuses it, as TEI's route does.
    Refused,
}

/// The OpenAI operation, shared by the route and the `embed` command.
pub async fn create_embeddings(
    state: &AppState,
    request: EmbeddingRequest,
    sparse: Sparse,
) -> Result<EmbeddingResponse, ApiError> {
    let model = request.embed.model.clone();
    let resolved = resolve(state, &model, request.embed.options.keep_alive).await?;
    if resolved.model.description.kind() == ModelKind::Sparse && sparse == Sparse::Refused {
        require_kind(&resolved, &[ModelKind::Embedding], "/v1/embeddings")?;
    }
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
