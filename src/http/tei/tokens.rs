//! TEI's tokenizer routes: `POST /tokenize` (texts to tokens with their byte offsets) and
//! `POST /decode` (token ids, one sequence or a batch, to texts).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{model_or_default, TeiError};
use crate::http::body::{read_json, RawBody};
use crate::http::error::{excerpt, ApiError, ErrorKind};
use crate::service::input::{boolean, object, parse_input, take, EmbedOptions, Input};
use crate::service::tokens::{decode, tokenize};
use crate::service::AppState;

/// One token of `/tokenize`'s answer.
#[derive(Serialize, ToSchema)]
pub struct SimpleToken {
    id: u32,
    text: String,
    special: bool,
    start: Option<usize>,
    stop: Option<usize>,
}

/// `POST /tokenize`: each input's tokens (untruncated, the prompt included) with byte offsets.
#[utoipa::path(post, path = "/tokenize", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiTokenizeRequest,
    responses((status = 200, body = Vec<Vec<crate::http::tei::SimpleToken>>), crate::http::openapi::errors::TeiErrors))]
pub async fn tokenize_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    let mut fields = object(json)?;
    let name = model_or_default(&state, &mut fields)?;
    let texts = match parse_input(fields.remove("inputs").unwrap_or(Value::Null), "inputs")? {
        Input::Texts(texts) => texts,
        Input::Tokens(_) | Input::Mixed(_) => {
            return Err(ApiError::invalid("`inputs` must be a string or strings.", "inputs").into())
        }
    };
    let limit = state.limits.max_inputs;
    if texts.len() > limit {
        let message = format!(
            "This request has {} inputs; the limit is {limit} per request.",
            texts.len()
        );
        return Err(ApiError::invalid(message, "inputs")
            .with_kind(ErrorKind::TooLarge)
            .into());
    }
    let special_tokens = match take(&mut fields, "add_special_tokens") {
        None => true,
        Some(value) => value
            .as_bool()
            .ok_or_else(|| ApiError::invalid("`add_special_tokens` must be true or false.", "add_special_tokens"))?,
    };
    let options = EmbedOptions::default().read(&mut fields)?;
    let tokens = tokenize(&state, &name, texts, options.prompt_name.as_deref(), special_tokens).await?;
    let tokens: Vec<Vec<SimpleToken>> = tokens
        .into_iter()
        .map(|pieces| {
            pieces
                .into_iter()
                .map(|piece| SimpleToken {
                    id: piece.id,
                    text: piece.text,
                    special: piece.special,
                    start: piece.span.map(|(start, _)| start),
                    stop: piece.span.map(|(_, stop)| stop),
                })
                .collect()
        })
        .collect();
    Ok(Json(tokens).into_response())
}

/// `POST /decode`: `{"ids": [..] or [[..], ..], "skip_special_tokens": true}` -> one text per
/// sequence, `["..."]`.
#[utoipa::path(post, path = "/decode", tag = "text-embeddings-inference", request_body = crate::http::openapi::requests::TeiDecodeRequest,
    responses((status = 200, description = "one text per sequence", body = Vec<String>), crate::http::openapi::errors::TeiErrors))]
pub async fn decode_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, TeiError> {
    let json = read_json(Some(&headers), body)?;
    let mut fields = object(json)?;
    let name = model_or_default(&state, &mut fields)?;
    let sequences = decode_ids(take(&mut fields, "ids"), state.limits.max_inputs)?;
    let skip_special_tokens = match take(&mut fields, "skip_special_tokens") {
        None => true,
        Some(value) => boolean(value, "skip_special_tokens")?,
    };
    Ok(Json(decode(&state, &name, sequences, skip_special_tokens).await?).into_response())
}

/// `ids` as TEI reads it: one sequence of token ids, or a batch of them.
fn decode_ids(value: Option<Value>, max_sequences: usize) -> Result<Vec<Vec<u32>>, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::invalid("`ids` is required.", "ids"));
    };
    let sequences = match parse_input(value, "ids")? {
        Input::Tokens(sequences) => sequences,
        Input::Texts(texts) => {
            return Err(ApiError::invalid(
                format!(
                    "`ids` must be token ids or arrays of token ids, not text ({}).",
                    excerpt(&texts.concat())
                ),
                "ids",
            ))
        }
        Input::Mixed(_) => {
            return Err(ApiError::invalid(
                "`ids` must be token ids or arrays of token ids, not text.",
                "ids",
            ))
        }
    };
    if sequences.len() > max_sequences {
        return Err(ApiError::invalid(
            format!(
                "`ids` has {} sequences; at most {max_sequences} are allowed per request.",
                sequences.len()
            ),
            "ids",
        )
        .with_kind(ErrorKind::TooLarge));
    }
    Ok(sequences)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_one_sequence_or_a_batch() {
        assert_eq!(decode_ids(Some(json!([1, 2])), 8).unwrap(), vec![vec![1, 2]]);
        assert_eq!(
            decode_ids(Some(json!([[1], [2, 3]])), 8).unwrap(),
            vec![vec![1], vec![2, 3]]
        );
        assert_eq!(decode_ids(None, 8).unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(decode_ids(Some(json!([])), 8).unwrap_err().kind, ErrorKind::Empty);
        assert_eq!(decode_ids(Some(json!("text")), 8).unwrap_err().param, Some("ids"));
        assert_eq!(decode_ids(Some(json!([-1])), 8).unwrap_err().param, Some("ids"));
        assert_eq!(
            decode_ids(Some(json!([[1], [2], [3]])), 2).unwrap_err().kind,
            ErrorKind::TooLarge
        );
    }
}
