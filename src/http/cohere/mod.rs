//! Cohere's embed API as the official `cohere` SDK sends it: `POST /v2/embed`
//! (`cohere.ClientV2`) and `POST /v1/embed` (`cohere.Client`), with `texts` (or v2's `inputs`
//! of text content), `input_type` mapped onto the model's own prompts, `embedding_types`
//! (`float`, `int8`, `uint8`, `binary`, `ubinary`, `base64`; see [`crate::service::quantize`]),
//! `truncate` (`NONE` refuses an over-long text, `START` drops its start, `END` its end) and
//! `output_dimension`. Errors are Cohere's `{"message"}` with the shared statuses.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::body::{read_json, RawBody};
use super::error::{ApiError, ErrorShape, Shaped};
use crate::service::embed::{embed_resolved, EmbedRequest};
use crate::service::input::{object, EmbedOptions, Input};
use crate::service::models::resolve;
use crate::service::quantize;
use crate::service::AppState;
use request::{prompt_candidates, CohereRequest, EmbeddingType, Version};

mod request;
pub mod rerank;

/// Cohere's error shape: `{"message"}` with the shared statuses.
pub enum CohereShape {}

pub type CohereError = Shaped<CohereShape>;

/// Cohere's error body.
#[derive(Serialize, ToSchema)]
pub struct CohereErrorBody {
    pub message: String,
}

impl ErrorShape for CohereShape {
    fn respond(error: ApiError) -> Response {
        let body = serde_json::to_string(&CohereErrorBody {
            message: error.message.clone(),
        })
        .unwrap_or_default();
        error.respond(error.status, body)
    }
}

/// The vectors of one response, by type; only the types asked for are present.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct CohereEmbeddings {
    #[serde(rename = "float", skip_serializing_if = "Option::is_none")]
    pub float: Option<Vec<Vec<f32>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int8: Option<Vec<Vec<i8>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uint8: Option<Vec<Vec<u8>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<Vec<Vec<i8>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ubinary: Option<Vec<Vec<u8>>>,
    /// Each vector's float32 bytes, little-endian, in base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<Vec<String>>,
}

impl CohereEmbeddings {
    fn of(vectors: &[Vec<f32>], types: &[EmbeddingType]) -> Self {
        let mut out = Self::default();
        for kind in types {
            match kind {
                EmbeddingType::Float => out.float = Some(vectors.to_vec()),
                EmbeddingType::Int8 => out.int8 = Some(vectors.iter().map(|v| quantize::int8(v)).collect()),
                EmbeddingType::Uint8 => out.uint8 = Some(vectors.iter().map(|v| quantize::uint8(v)).collect()),
                EmbeddingType::Binary => out.binary = Some(vectors.iter().map(|v| quantize::binary(v)).collect()),
                EmbeddingType::Ubinary => out.ubinary = Some(vectors.iter().map(|v| quantize::ubinary(v)).collect()),
                EmbeddingType::Base64 => out.base64 = Some(vectors.iter().map(|v| quantize::base64_f32(v)).collect()),
            }
        }
        out
    }
}

#[derive(Clone, Serialize, ToSchema)]
pub struct CohereApiVersion {
    pub version: &'static str,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct CohereBilledUnits {
    pub input_tokens: usize,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct CohereMeta {
    pub api_version: CohereApiVersion,
    pub billed_units: CohereBilledUnits,
}

/// The answer by type (`response_type: embeddings_by_type`; v2 always, v1 when types are named).
#[derive(Serialize, ToSchema)]
pub struct CohereByTypeResponse {
    pub id: String,
    pub response_type: &'static str,
    pub embeddings: CohereEmbeddings,
    pub texts: Vec<String>,
    pub meta: CohereMeta,
}

/// v1's answer without `embedding_types`: float vectors (`response_type: embeddings_floats`).
#[derive(Serialize, ToSchema)]
pub struct CohereFloatsResponse {
    pub id: String,
    pub response_type: &'static str,
    pub embeddings: Vec<Vec<f32>>,
    pub texts: Vec<String>,
    pub meta: CohereMeta,
}

/// What `/v1/embed` answers: by type when the request names types, else plain floats.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CohereV1Response {
    ByType(CohereByTypeResponse),
    Floats(CohereFloatsResponse),
}

async fn embed(
    state: &AppState,
    headers: &HeaderMap,
    body: RawBody,
    version: Version,
) -> Result<Response, CohereError> {
    let fields = object(read_json(Some(headers), body)?)?;
    let request = CohereRequest::read(fields, version)?;
    let registry = state.store.registry();
    let name = match &request.model {
        Some(name) => name.clone(),
        None => registry.default_spec().id.clone(),
    };
    let resolved = resolve(state, &name, None).await?;
    let description = &resolved.model.description;
    if let Some(max_tokens) = request.max_tokens.filter(|&m| m < description.max_tokens) {
        return Err(ApiError::invalid(
            format!(
                "`max_tokens` {max_tokens} is below {}'s limit of {}; this server truncates at the model's own limit only.",
                resolved.spec.public_name(), description.max_tokens
            ),
            "max_tokens",
        )
        .into());
    }
    let prompt_name = request.input_type.as_deref().and_then(|kind| {
        prompt_candidates(kind)
            .iter()
            .find(|name| description.prompts.contains_key(**name))
            .map(|name| (*name).to_owned())
    });
    let options = EmbedOptions {
        prompt_name,
        dimensions: request.output_dimension,
        normalize: true,
        truncation: request.truncation,
        truncation_chosen: true,
        keep_alive: None,
        max_active_dims: None,
        input_type: None,
    };
    let embedded = embed_resolved(
        state,
        &resolved,
        EmbedRequest {
            model: name,
            input: Input::Texts(request.texts.clone()),
            options,
        },
    )
    .await?;
    let id = uuid::Uuid::new_v4().to_string();
    let meta = CohereMeta {
        api_version: CohereApiVersion {
            version: match version {
                Version::V1 => "1",
                Version::V2 => "2",
            },
        },
        billed_units: CohereBilledUnits {
            input_tokens: embedded.prompt_tokens,
        },
    };
    let by_type = |texts| CohereByTypeResponse {
        id: id.clone(),
        response_type: "embeddings_by_type",
        embeddings: CohereEmbeddings::of(&embedded.vectors, &request.types),
        texts,
        meta: meta.clone(),
    };
    let answer = match version {
        Version::V2 => Json(by_type(request.texts)).into_response(),
        Version::V1 if request.typed => Json(CohereV1Response::ByType(by_type(request.texts))).into_response(),
        Version::V1 => Json(CohereV1Response::Floats(CohereFloatsResponse {
            id,
            response_type: "embeddings_floats",
            embeddings: embedded.vectors,
            texts: request.texts,
            meta,
        }))
        .into_response(),
    };
    Ok(answer)
}

/// `POST /v2/embed` (`cohere.ClientV2.embed`).
#[utoipa::path(post, path = "/v2/embed", tag = "Cohere", request_body = crate::http::openapi::requests::CohereEmbedRequest,
    responses((status = 200, body = crate::http::cohere::CohereByTypeResponse), crate::http::openapi::errors::CohereErrors))]
pub async fn embed_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, CohereError> {
    embed(&state, &headers, body, Version::V2).await
}

/// `POST /v1/embed` (`cohere.Client.embed`).
#[utoipa::path(post, path = "/v1/embed", tag = "Cohere", request_body = crate::http::openapi::requests::CohereV1EmbedRequest,
    responses((status = 200, description = "by type when `embedding_types` is given, else floats",
        body = crate::http::cohere::CohereV1Response), crate::http::openapi::errors::CohereErrors))]
pub async fn embed_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, CohereError> {
    embed(&state, &headers, body, Version::V1).await
}
