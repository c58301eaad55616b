//! The rerank shape most clients share, at Cohere's paths: `POST /v2/rerank`
//! (`cohere.ClientV2.rerank`) and `POST /v1/rerank` (`cohere.Client.rerank`, and the Jina,
//! llama.cpp and vLLM clients that post the same `{model, query, documents, top_n,
//! return_documents}` there), plus vLLM's form of `POST /rerank`. One answer fits them all:
//! Cohere's `{id, results: [{index, relevance_score, document?}], meta}` with Jina's and
//! vLLM's `model` and `usage: {total_tokens}` beside it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::CohereError;
use crate::http::body::{read_json, RawBody};
use crate::http::error::ApiError;
use crate::model_files::ModelKind;
use crate::service::input::{model_name, object};
use crate::service::score::fields::{flag, positive, ranking, string, strings, Documents};
use crate::service::score::{default_model, rerank, ScoreOptions};
use crate::service::AppState;

/// Which client's body this is: what `documents` may hold and whether documents come back
/// unless asked not to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerankDialect {
    CohereV1,
    CohereV2,
    /// vLLM's `/rerank` (documents come back by default).
    Vllm,
}

#[derive(Serialize, ToSchema)]
pub struct RerankAnswer {
    pub id: String,
    /// The entry's public name.
    pub model: String,
    /// By descending relevance, the first `top_n`.
    pub results: Vec<RerankResult>,
    pub meta: RerankMeta,
    pub usage: RerankUsage,
}

#[derive(Serialize, ToSchema)]
pub struct RerankResult {
    /// The document's position in the request.
    pub index: usize,
    pub relevance_score: f32,
    /// With `return_documents: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<RerankDocument>,
}

#[derive(Serialize, ToSchema)]
pub struct RerankDocument {
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct RerankMeta {
    pub api_version: ApiVersion,
    pub billed_units: BilledUnits,
}

#[derive(Serialize, ToSchema)]
pub struct ApiVersion {
    pub version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct BilledUnits {
    pub search_units: u32,
}

#[derive(Serialize, ToSchema)]
pub struct RerankUsage {
    pub total_tokens: usize,
}

/// Reads a rerank body of `dialect`, scores it and answers in the shared shape.
pub async fn rerank_documents(
    state: &AppState,
    mut fields: Map<String, Value>,
    dialect: RerankDialect,
) -> Result<RerankAnswer, ApiError> {
    let model = match model_name(fields.remove("model"), "model")? {
        Some(name) => name,
        None => default_model(state, ModelKind::Reranker),
    };
    let query = string(&mut fields, "query")?;
    let allowed = match dialect {
        RerankDialect::CohereV1 => Documents::StringsOrTextObjects,
        RerankDialect::CohereV2 | RerankDialect::Vllm => Documents::Strings,
    };
    let documents = strings(&mut fields, "documents", allowed)?;
    let top_n = positive(&mut fields, "top_n")?;
    let return_documents = flag(&mut fields, "return_documents", dialect == RerankDialect::Vllm)?;
    let options = ScoreOptions {
        max_tokens_per_document: positive(&mut fields, "max_tokens_per_doc")?,
        ..ScoreOptions::default()
    };
    let scored = rerank(state, &model, query, documents.clone(), options).await?;
    let scores = scored.relevance();
    let mut documents: Vec<Option<String>> = documents.into_iter().map(Some).collect();
    let results = ranking(&scores, top_n)
        .into_iter()
        .map(|index| RerankResult {
            index,
            relevance_score: scores[index],
            document: if return_documents {
                documents[index].take().map(|text| RerankDocument { text })
            } else {
                None
            },
        })
        .collect();
    Ok(RerankAnswer {
        id: uuid::Uuid::new_v4().to_string(),
        model: scored.model,
        results,
        meta: RerankMeta {
            api_version: ApiVersion {
                version: if dialect == RerankDialect::CohereV2 { "2" } else { "1" },
            },
            billed_units: BilledUnits { search_units: 1 },
        },
        usage: RerankUsage {
            total_tokens: scored.tokens,
        },
    })
}

/// `POST /v1/rerank`.
#[utoipa::path(post, path = "/v1/rerank", tag = "Cohere", request_body = crate::http::openapi::scoring::RerankRequest,
    responses((status = 200, description = "Cohere's answer with Jina's and vLLM's fields", body = crate::http::cohere::rerank::RerankAnswer), crate::http::openapi::errors::CohereErrors))]
pub async fn rerank_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, CohereError> {
    let fields = object(read_json(Some(&headers), body)?)?;
    Ok(Json(rerank_documents(&state, fields, RerankDialect::CohereV1).await?).into_response())
}

/// `POST /v2/rerank`.
#[utoipa::path(post, path = "/v2/rerank", tag = "Cohere", request_body = crate::http::openapi::scoring::RerankRequest,
    responses((status = 200, body = crate::http::cohere::rerank::RerankAnswer), crate::http::openapi::errors::CohereErrors))]
pub async fn rerank_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, CohereError> {
    let fields = object(read_json(Some(&headers), body)?)?;
    Ok(Json(rerank_documents(&state, fields, RerankDialect::CohereV2).await?).into_response())
}
