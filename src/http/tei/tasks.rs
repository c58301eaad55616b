//! The routes that serve whichever task the model has, as TEI's do: `POST /` and SageMaker's
//! `POST /invocations` (a body runs as `/predict` on a classifier, `/rerank` on a reranker,
//! `/embed_sparse` on a SPLADE model, `/embed` on an embedding model, and `/similarity` when
//! its `inputs` is a sentence-similarity object), and Vertex AI's `POST /vertex`
//! (`{"instances": [body, ...]}` -> `{"predictions": [answer, ...]}`, each instance a body of
//! the same kind).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::future::try_join_all;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::scoring::{predict_answer, rerank_answer, TeiPredictAnswer, TeiRerankAnswer};
use super::similarity::{is_similarity, similarity_answer};
use super::sparse::{embed_sparse_answer, SparseValue};
use super::{embed_answer, TeiError};
use crate::http::body::{read_json, RawBody};
use crate::http::error::{ApiError, ErrorKind};
use crate::model_files::ModelKind;
use crate::service::input::object;
use crate::service::AppState;

/// The answer of whichever route a body ran as.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TeiTaskAnswer {
    Embeddings(Vec<Vec<f32>>),
    Sparse(Vec<Vec<SparseValue>>),
    Rerank(TeiRerankAnswer),
    Predict(TeiPredictAnswer),
    Similarity(Vec<f32>),
}

/// Vertex AI's answer: one prediction per instance, in order.
#[derive(Serialize, ToSchema)]
pub struct VertexAnswer {
    pub predictions: Vec<TeiTaskAnswer>,
}

/// `POST /` and `POST /invocations`.
#[utoipa::path(post, path = "/", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiEmbedRequest,
    description = "The model's own task (`POST /` is TEI's root route, `/invocations` SageMaker's): `/predict` on a classifier, `/rerank` on a reranker, `/embed_sparse` on a SPLADE model, `/embed` on an embedding model (`/similarity` for a sentence-similarity body).",
    responses((status = 200, body = crate::http::tei::tasks::TeiTaskAnswer), crate::http::openapi::errors::TeiErrors))]
pub async fn invocations_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let fields = object(read_json(Some(&headers), body)?)?;
    Ok(Json(task_answer(&state, fields).await?).into_response())
}

/// `POST /vertex`: the instances run concurrently; the first failure is the answer.
#[utoipa::path(post, path = "/vertex", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::VertexRequest,
    responses((status = 200, body = crate::http::tei::tasks::VertexAnswer), crate::http::openapi::errors::TeiErrors))]
pub async fn vertex_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let mut fields = object(read_json(Some(&headers), body)?)?;
    let instances = match fields.remove("instances") {
        Some(Value::Array(instances)) if instances.is_empty() => {
            return Err(ApiError::invalid("`instances` must not be empty.", "instances")
                .with_kind(ErrorKind::Empty)
                .into())
        }
        Some(Value::Array(instances)) => instances,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("`instances` is required.", "instances")
                .with_kind(ErrorKind::Empty)
                .into())
        }
        Some(_) => {
            return Err(ApiError::invalid("`instances` must be an array of request bodies.", "instances").into())
        }
    };
    let limit = state.limits.max_inputs;
    if instances.len() > limit {
        return Err(ApiError::invalid(
            format!(
                "`instances` has {} items; at most {limit} are allowed per request.",
                instances.len()
            ),
            "instances",
        )
        .with_kind(ErrorKind::TooLarge)
        .into());
    }
    let bodies = instances.into_iter().map(object).collect::<Result<Vec<_>, _>>()?;
    let predictions = try_join_all(bodies.into_iter().map(|body| task_answer(&state, body))).await?;
    Ok(Json(VertexAnswer { predictions }).into_response())
}

/// Runs a body as the route its shape, or else its model's kind, calls for.
async fn task_answer(state: &AppState, fields: Map<String, Value>) -> Result<TeiTaskAnswer, ApiError> {
    if is_similarity(&fields) {
        return Ok(TeiTaskAnswer::Similarity(similarity_answer(state, fields).await?));
    }
    if fields.contains_key("query") && (fields.contains_key("texts") || fields.contains_key("documents")) {
        return Ok(TeiTaskAnswer::Rerank(rerank_answer(state, fields).await?));
    }
    Ok(match kind_named(state, &fields) {
        ModelKind::Classifier => TeiTaskAnswer::Predict(predict_answer(state, fields).await?),
        ModelKind::Reranker => TeiTaskAnswer::Rerank(rerank_answer(state, fields).await?),
        ModelKind::Sparse => TeiTaskAnswer::Sparse(embed_sparse_answer(state, fields).await?),
        ModelKind::Embedding => TeiTaskAnswer::Embeddings(embed_answer(state, Value::Object(fields)).await?),
    })
}

/// The kind of the model a body names (the first listed when it names none); an embedding
/// model when the name is unknown, so that the embedding route answers with its own error.
fn kind_named(state: &AppState, fields: &Map<String, Value>) -> ModelKind {
    let registry = state.store.registry();
    let spec = match fields.get("model").and_then(Value::as_str) {
        Some(name) => registry.resolve(name),
        None => Some(registry.default_spec()),
    };
    spec.and_then(|spec| state.store.info(spec))
        .map_or(ModelKind::Embedding, |info| info.description.kind())
}
