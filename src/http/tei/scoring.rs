//! text-embeddings-inference's scoring routes: `POST /rerank` (`query`, `texts`,
//! `raw_scores`, `return_text`, `truncate`, `truncation_direction` -> `[{index, score, text?}]`
//! by descending score) and `POST /predict` (a text, a pair, or a batch of either ->
//! `[{score, label}]` by descending score, one list per input for a batch). A `/rerank` body
//! with `documents` instead of `texts` is vLLM's and gets vLLM's answer.

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
use crate::http::cohere::rerank::{rerank_documents, RerankAnswer, RerankDialect};
use crate::http::error::{excerpt, ApiError, ErrorKind};
use crate::model_files::ModelKind;
use crate::service::input::{object, truncation, MAX_INPUTS};
use crate::service::score::fields::{flag, ranking, string, strings, Documents};
use crate::service::score::{predict, rerank, ScoreInput, ScoreOptions};
use crate::service::AppState;

/// One document of `/rerank`'s answer.
#[derive(Serialize, ToSchema)]
pub struct TeiRank {
    pub index: usize,
    pub score: f32,
    /// With `return_text: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `/rerank`'s answer: TEI's ranks, or for vLLM's body (`documents`) the shared rerank answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TeiRerankAnswer {
    Ranks(Vec<TeiRank>),
    Documents(RerankAnswer),
}

/// `/predict`'s answer: each label by descending score, or a list of those per input for a
/// batch.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TeiPredictAnswer {
    One(Vec<TeiPrediction>),
    Batch(Vec<Vec<TeiPrediction>>),
}

/// One label of `/predict`'s answer.
#[derive(Serialize, ToSchema)]
pub struct TeiPrediction {
    pub score: f32,
    pub label: String,
}

fn options(fields: &mut Map<String, Value>) -> Result<ScoreOptions, ApiError> {
    Ok(ScoreOptions {
        raw_scores: flag(fields, "raw_scores", false)?,
        truncation: truncation(fields, ScoreOptions::default().truncation)?,
        max_tokens_per_document: None,
    })
}

/// `POST /rerank`.
#[utoipa::path(post, path = "/rerank", tag = "text-embeddings-inference", request_body = crate::http::openapi::scoring::TeiRerankRequest,
    responses((status = 200, description = "by descending score; the shared rerank answer for a body with `documents`", body = crate::http::tei::scoring::TeiRerankAnswer), crate::http::openapi::errors::TeiErrors))]
pub async fn rerank_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let fields = object(read_json(Some(&headers), body)?)?;
    Ok(Json(rerank_answer(&state, fields).await?).into_response())
}

/// `/rerank`'s answer to a body.
pub(super) async fn rerank_answer(
    state: &AppState,
    mut fields: Map<String, Value>,
) -> Result<TeiRerankAnswer, ApiError> {
    if fields.contains_key("documents") && !fields.contains_key("texts") {
        let answer = rerank_documents(state, fields, RerankDialect::Vllm).await?;
        return Ok(TeiRerankAnswer::Documents(answer));
    }
    let model = model_or(state, &mut fields, ModelKind::Reranker)?;
    let query = string(&mut fields, "query")?;
    let texts = strings(&mut fields, "texts", Documents::Strings)?;
    let return_text = flag(&mut fields, "return_text", false)?;
    let options = options(&mut fields)?;
    let scored = rerank(state, &model, query, texts.clone(), options).await?;
    let scores = scored.relevance();
    let mut texts: Vec<Option<String>> = texts.into_iter().map(Some).collect();
    let ranks: Vec<TeiRank> = ranking(&scores, None)
        .into_iter()
        .map(|index| TeiRank {
            index,
            score: scores[index],
            text: if return_text { texts[index].take() } else { None },
        })
        .collect();
    Ok(TeiRerankAnswer::Ranks(ranks))
}

/// `inputs` as TEI's router reads it: a string, or an array of one or two strings, is one input
/// (a text or a pair); an array of such arrays is a batch. Anything else is refused.
fn predict_inputs(value: Option<Value>) -> Result<(Vec<ScoreInput>, bool), ApiError> {
    const SHAPES: &str = "a string, a pair of strings [string, string] or a batch [[string], [string, string], ...]";
    let invalid = |message: String| ApiError::invalid(message, "inputs");
    let sequence = |items: Vec<Value>, place: &str| -> Result<ScoreInput, ApiError> {
        let mut texts = items.into_iter().map(|item| match item {
            Value::String(text) => Ok(text),
            other => Err(invalid(format!(
                "`{place}` must hold strings, not {}.",
                excerpt(&other.to_string())
            ))),
        });
        match (texts.next(), texts.next(), texts.next()) {
            (Some(a), None, None) => Ok(ScoreInput::Text(a?)),
            (Some(a), Some(b), None) => Ok(ScoreInput::Pair(a?.into(), b?)),
            _ => Err(invalid(format!("`{place}` must be one string or a pair of strings."))),
        }
    };
    let items = match value {
        None => return Err(invalid("`inputs` is required.".to_owned())),
        Some(Value::String(text)) => return Ok((vec![ScoreInput::Text(text)], false)),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(format!(
                "`inputs` must be {SHAPES}, not {}.",
                excerpt(&other.to_string())
            )))
        }
    };
    match items.first() {
        None => Err(invalid("`inputs` must not be empty.".to_owned()).with_kind(ErrorKind::Empty)),
        Some(Value::Array(_)) if items.len() > MAX_INPUTS => Err(invalid(format!(
            "`inputs` has {} items; at most {MAX_INPUTS} are allowed per request.",
            items.len()
        ))
        .with_kind(ErrorKind::TooLarge)),
        Some(Value::Array(_)) => {
            let batch = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Array(sequence_items) => sequence(sequence_items, &format!("inputs[{i}]")),
                    other => Err(invalid(format!(
                        "`inputs[{i}]` must be [string] or [string, string] like the first, not {}.",
                        excerpt(&other.to_string())
                    ))),
                })
                .collect::<Result<_, _>>()?;
            Ok((batch, true))
        }
        Some(_) => Ok((vec![sequence(items, "inputs")?], false)),
    }
}

/// `POST /predict`.
#[utoipa::path(post, path = "/predict", tag = "text-embeddings-inference", request_body = crate::http::openapi::scoring::TeiPredictRequest,
    responses((status = 200, body = crate::http::tei::scoring::TeiPredictAnswer), crate::http::openapi::errors::TeiErrors))]
pub async fn predict_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let fields = object(read_json(Some(&headers), body)?)?;
    Ok(Json(predict_answer(&state, fields).await?).into_response())
}

/// `/predict`'s answer to a body.
pub(super) async fn predict_answer(
    state: &AppState,
    mut fields: Map<String, Value>,
) -> Result<TeiPredictAnswer, ApiError> {
    let model = model_or(state, &mut fields, ModelKind::Classifier)?;
    let (inputs, batch) = predict_inputs(fields.remove("inputs").filter(|v| !v.is_null()))?;
    let options = options(&mut fields)?;
    let scored = predict(state, &model, inputs, options).await?;
    let mut answers: Vec<Vec<TeiPrediction>> = scored
        .scores
        .iter()
        .map(|scores| {
            ranking(scores, None)
                .into_iter()
                .map(|label| TeiPrediction {
                    score: scores[label],
                    label: scored.labels.get(label).cloned().unwrap_or_default(),
                })
                .collect()
        })
        .collect();
    Ok(if batch {
        TeiPredictAnswer::Batch(answers)
    } else {
        TeiPredictAnswer::One(answers.pop().unwrap_or_default())
    })
}
