//! TEI's `POST /embed_sparse`: a SPLADE model's vectors as `[[{"index", "value"}, ...], ...]`,
//! one list of nonzero entries per input, indices ascending.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{model_or, TeiError};
use crate::http::body::{read_json, RawBody};
use crate::http::error::ApiError;
use crate::model_files::ModelKind;
use crate::service::embed::sparse::embed_sparse;
use crate::service::embed::EmbedRequest;
use crate::service::input::{object, parse_input, EmbedOptions};
use crate::service::AppState;

/// One nonzero entry of a sparse vector.
#[derive(Debug, Serialize, PartialEq, ToSchema)]
pub struct SparseValue {
    pub index: u32,
    pub value: f32,
}

/// `POST /embed_sparse`; the body is `/embed`'s (`inputs`, `truncate`, `truncation_direction`,
/// `prompt_name`) with `max_active_dims` and `model` as extensions.
#[utoipa::path(post, path = "/embed_sparse", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiEmbedSparseRequest,
    responses((status = 200, description = "each input's nonzero entries, indices ascending", body = Vec<Vec<crate::http::tei::sparse::SparseValue>>), crate::http::openapi::errors::TeiErrors))]
pub async fn embed_sparse_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    Ok(Json(embed_sparse_answer(&state, object(json)?).await?).into_response())
}

/// `/embed_sparse`'s answer to a body.
pub(super) async fn embed_sparse_answer(
    state: &AppState,
    mut fields: Map<String, Value>,
) -> Result<Vec<Vec<SparseValue>>, ApiError> {
    let model = model_or(state, &mut fields, ModelKind::Sparse)?;
    let input = parse_input(fields.remove("inputs").unwrap_or(Value::Null), "inputs")?;
    let options = EmbedOptions::default().read(&mut fields)?;
    let embedded = embed_sparse(state, EmbedRequest { model, input, options }).await?;
    Ok(embedded
        .vectors
        .into_iter()
        .map(|vector| {
            vector
                .indices
                .into_iter()
                .zip(vector.values)
                .map(|(index, value)| SparseValue { index, value })
                .collect()
        })
        .collect())
}
