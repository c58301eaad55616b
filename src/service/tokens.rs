//! The tokenizer's operations every dialect shares (TEI's `/tokenize` and `/decode`, and the
//! gRPC `Tokenize` service): a model's tokens for texts, with their offsets, and the text of
//! token ids.

use super::error::{ApiError, ErrorKind};
use super::models::resolve;
use super::AppState;
use crate::tokenize::TokenPiece;

/// Each text's tokens (behind the prompt named, else the entry's default), untruncated.
pub async fn tokenize(
    state: &AppState,
    model: &str,
    texts: Vec<String>,
    prompt_name: Option<&str>,
    special_tokens: bool,
) -> Result<Vec<Vec<TokenPiece>>, ApiError> {
    let resolved = resolve(state, model, None).await?;
    let prompt = resolved.prompt(prompt_name)?;
    let model = resolved.model.shared();
    tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|text| model.pieces(text, prompt.as_deref(), special_tokens))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| ApiError::server("tokenization was interrupted"))?
    .map_err(|e| ApiError::invalid(e.to_string(), "inputs"))
}

/// The text of each sequence of token ids.
pub async fn decode(
    state: &AppState,
    model: &str,
    sequences: Vec<Vec<u32>>,
    skip_special_tokens: bool,
) -> Result<Vec<String>, ApiError> {
    if sequences.is_empty() {
        return Err(ApiError::invalid("`ids` must not be empty.", "ids").with_kind(ErrorKind::Empty));
    }
    let tokens: usize = sequences.iter().map(Vec::len).sum();
    if tokens > state.limits.max_request_tokens {
        return Err(ApiError::invalid(
            format!(
                "This request has {tokens} token ids; the limit is {} per request.",
                state.limits.max_request_tokens
            ),
            "ids",
        )
        .with_kind(ErrorKind::TooLarge));
    }
    let resolved = resolve(state, model, None).await?;
    let model = resolved.model.shared();
    tokio::task::spawn_blocking(move || {
        sequences
            .iter()
            .map(|ids| model.decode(ids, skip_special_tokens))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| ApiError::server("decoding was interrupted"))?
    .map_err(|e| ApiError::invalid(e.to_string(), "ids"))
}
