//! The embeddings operation itself, shared by every route that embeds and by the `embed`
//! command: resolve the model, apply the prompt, turn the input into token sequences, run the
//! engine, shape the vectors.

use std::sync::Arc;

use super::error::ApiError;
use super::types::{EmbeddingRequest, EmbeddingResponse, Input};
use super::AppState;
use crate::engine::EngineError;
use crate::models::LoadedModel;
use crate::runner::Pooling;
use crate::tokenize::decode_cl100k;

/// OpenAI's embedding model names. Token arrays sent under one of these are OpenAI
/// `cl100k_base` ids (what LangChain's `OpenAIEmbeddings` sends by default), whichever model
/// the name is an alias of here.
pub const OPENAI_MODEL_NAMES: [&str; 3] = [
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

pub async fn create_embeddings(state: &AppState, mut request: EmbeddingRequest) -> Result<EmbeddingResponse, ApiError> {
    let registry = state.store.registry();
    let spec = registry
        .resolve(&request.model)
        .ok_or_else(|| ApiError::model_not_found(&request.model, &registry.ids()))?;
    let (model, serving) = state
        .store
        .get(spec)
        .await
        .map_err(|e| ApiError::unavailable(format!("The model {} could not be loaded: {e}", spec.id)))?;
    let dimension = model.description.dimension_with(serving.pooling);
    if let Some(dimensions) = request.dimensions {
        if dimensions > dimension {
            return Err(ApiError::invalid(
                format!(
                    "`dimensions` is {dimensions}, but {} produces {dimension}-dimensional vectors.",
                    spec.id
                ),
                "dimensions",
            ));
        }
    }
    let prompt = match &request.prompt_name {
        Some(name) => Some(
            model
                .description
                .prompt(name)
                .map_err(|e| ApiError::invalid(format!("{}: {e}.", spec.id), "prompt_name"))?
                .to_owned(),
        ),
        None => serving.default_prompt.clone(),
    };
    let openai_tokens = OPENAI_MODEL_NAMES.contains(&request.model.trim());
    let texts = match std::mem::replace(&mut request.input, Input::Texts(Vec::new())) {
        Input::Texts(texts) => texts,
        Input::Tokens(sequences) if openai_tokens => sequences
            .iter()
            .enumerate()
            .map(|(i, ids)| decode_cl100k(ids).map_err(|e| ApiError::invalid(format!("`input[{i}]`: {e}."), "input")))
            .collect::<Result<Vec<_>, _>>()?,
        Input::Tokens(sequences) => {
            if prompt.as_deref().is_some_and(|p| !p.is_empty()) {
                return Err(ApiError::invalid(
                    format!(
                        "{} puts a prompt before every input, which token ids cannot carry; send the text instead.",
                        request.model
                    ),
                    "input",
                ));
            }
            for (i, ids) in sequences.iter().enumerate() {
                model
                    .check_ids(ids)
                    .map_err(|reason| foreign_tokens_error(&request.model, i, &reason))?;
            }
            let sequences: Vec<Vec<u32>> = sequences.into_iter().map(|ids| model.truncate_ids(ids)).collect();
            return embed_sequences(state, &model, sequences, Pooling::new(serving.pooling), &request).await;
        }
    };
    let tokenizing = Arc::clone(&model);
    let include_prompt = model.description.include_prompt;
    let (sequences, skip_leading) = tokio::task::spawn_blocking(move || {
        let skip = match prompt.as_deref() {
            Some(prompt) if !include_prompt => tokenizing.prompt_length(prompt)?,
            _ => 0,
        };
        Ok::<_, crate::tokenize::TokenizeError>((tokenizing.tokenize(texts, prompt.as_deref())?, skip))
    })
    .await
    .map_err(|_| ApiError::server("tokenization was interrupted"))?
    .map_err(|e| ApiError::invalid(e.to_string(), "input"))?;
    let pooling = Pooling {
        modes: serving.pooling,
        skip_leading,
    };
    embed_sequences(state, &model, sequences, pooling, &request).await
}

async fn embed_sequences(
    state: &AppState,
    model: &LoadedModel,
    sequences: Vec<Vec<u32>>,
    pooling: Pooling,
    request: &EmbeddingRequest,
) -> Result<EmbeddingResponse, ApiError> {
    let prompt_tokens: usize = sequences.iter().map(Vec::len).sum();
    if prompt_tokens > state.limits.max_request_tokens {
        return Err(ApiError::invalid(
            format!(
                "This request has {prompt_tokens} tokens after truncation; the limit is {} per request. Split it into smaller requests.",
                state.limits.max_request_tokens
            ),
            "input",
        )
        .with_code("too_many_tokens"));
    }
    let vectors = model.engine.embed(sequences, pooling).await.map_err(|e| match e {
        EngineError::QueueFull => ApiError::overloaded(),
        EngineError::Stopped | EngineError::Model(_) => ApiError::server(e.to_string()),
    })?;
    Ok(EmbeddingResponse::new(
        request.model.clone(),
        vectors,
        prompt_tokens,
        request.encoding_format,
        request.dimensions,
    ))
}

/// Token ids that are not the named model's own tokenization: most often OpenAI tiktoken ids
/// sent under a Hugging Face model name.
fn foreign_tokens_error(model: &str, index: usize, reason: &str) -> ApiError {
    ApiError::invalid(
        format!(
            "`input[{index}]` is not a tokenization by {model}'s tokenizer: {reason}. Token arrays are read in the \
             vocabulary of the model named in `model`. If these are OpenAI tiktoken ids, send them under an OpenAI \
             model name this server lists as an alias ({}), or send text (LangChain: \
             OpenAIEmbeddings(check_embedding_ctx_length=False)).",
            OPENAI_MODEL_NAMES.join(", ")
        ),
        "input",
    )
    .with_code("invalid_token_ids")
}
