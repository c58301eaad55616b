//! TEI's `POST /similarity`, the Hugging Face Inference API's sentence-similarity task:
//! `{"inputs": {"source_sentence", "sentences"}, "parameters": {...}}` -> the cosine similarity
//! of each sentence's vector with the source sentence's, in order.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::{model_or_default, TeiError};
use crate::http::body::{read_json, RawBody};
use crate::http::error::ApiError;
use crate::service::embed::{embed, EmbedRequest};
use crate::service::input::{object, EmbedOptions, Input};
use crate::service::score::fields::{string, strings, Documents};
use crate::service::AppState;

/// `POST /similarity`.
#[utoipa::path(post, path = "/similarity", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiSimilarityRequest,
    responses((status = 200, description = "each sentence's cosine similarity with the source sentence", body = Vec<f32>), crate::http::openapi::errors::TeiErrors))]
pub async fn similarity_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    Ok(Json(similarity_answer(&state, object(json)?).await?).into_response())
}

/// Whether a body is a sentence-similarity one (`inputs` an object with `source_sentence`), as
/// `InferenceClient.sentence_similarity` posts to a TEI server's root.
pub fn is_similarity(fields: &Map<String, Value>) -> bool {
    fields
        .get("inputs")
        .and_then(Value::as_object)
        .is_some_and(|inputs| inputs.contains_key("source_sentence"))
}

pub(super) async fn similarity_answer(state: &AppState, mut fields: Map<String, Value>) -> Result<Vec<f32>, ApiError> {
    let model = model_or_default(state, &mut fields)?;
    let mut inputs = match fields.remove("inputs") {
        Some(Value::Object(inputs)) => inputs,
        None | Some(Value::Null) => return Err(ApiError::invalid("`inputs` is required.", "inputs")),
        Some(_) => {
            return Err(ApiError::invalid(
                "`inputs` must be an object with `source_sentence` and `sentences`.",
                "inputs",
            ))
        }
    };
    let source = string(&mut inputs, "source_sentence")?;
    let sentences = strings(&mut inputs, "sentences", Documents::Strings)?;
    let mut options = EmbedOptions::default().read(&mut fields)?;
    if let Some(parameters) = fields.remove("parameters").filter(|p| !p.is_null()) {
        options = options.read(&mut object(parameters)?)?;
    }
    // The model's own vectors: cosine does its own normalising.
    options.normalize = false;
    let mut texts = Vec::with_capacity(sentences.len() + 1);
    texts.push(source);
    texts.extend(sentences);
    let request = EmbedRequest {
        model,
        input: Input::Texts(texts),
        options,
    };
    let vectors = embed(state, request).await?.vectors;
    let Some((source, sentences)) = vectors.split_first() else {
        return Err(ApiError::server("the model gave no vectors"));
    };
    Ok(sentences.iter().map(|sentence| cosine(source, sentence)).collect())
}

/// Cosine similarity, accumulated in double precision; 0 against a zero vector.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norms = (aa * bb).sqrt();
    if norms == 0.0 {
        0.0
    } else {
        (dot / norms) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_scale_free_and_zero_safe() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-7);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[-1.0, -1.0]) + 1.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }
}
