//! The embeddings operation itself, shared by every dialect and by the `embed` command: one
//! request type in, vectors out. Resolve the model, apply the prompt, turn the input into token
//! sequences, run the engine, shorten and normalise.

use std::sync::Arc;

use super::access::note;
use super::error::{ApiError, ErrorKind};
use super::input::{excerpt, EmbedOptions, Input};
use super::AppState;
use crate::engine::EngineError;
use crate::models::LoadedModel;
use crate::registry::ModelSpec;
use crate::runner::Pooling;
use crate::snapshot::EntryServing;
use crate::tokenize::{decode_cl100k, Truncation};

/// OpenAI's embedding model names. Token arrays sent under one of these are OpenAI
/// `cl100k_base` ids (what LangChain's `OpenAIEmbeddings` sends by default), whichever model
/// the name is an alias of here.
pub const OPENAI_MODEL_NAMES: [&str; 3] = [
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

/// A request to embed, whichever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    /// The model's name as the client sent it.
    pub model: String,
    pub input: Input,
    pub options: EmbedOptions,
}

/// The vectors, in input order, and the tokens the model saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: usize,
}

/// The allow-listed entry a request names, and its model loaded.
pub struct Resolved<'a> {
    pub spec: &'a ModelSpec,
    pub model: Arc<LoadedModel>,
    pub serving: EntryServing,
}

/// Finds and (if needed) loads the model a client names.
pub async fn resolve<'a>(state: &'a AppState, name: &str) -> Result<Resolved<'a>, ApiError> {
    let registry = state.store.registry();
    let spec = registry
        .resolve(name)
        .ok_or_else(|| ApiError::model_not_found(name, &registry.ids()))?;
    let (model, serving) = state
        .store
        .get(spec)
        .await
        .map_err(|e| ApiError::unavailable(format!("The model {} could not be loaded: {e}", spec.id)))?;
    note(|record| record.model = Some(spec.id.clone()));
    Ok(Resolved { spec, model, serving })
}

impl Resolved<'_> {
    /// The prompt a request gets: the one it names, else the entry's default.
    pub fn prompt(&self, prompt_name: Option<&str>) -> Result<Option<String>, ApiError> {
        match prompt_name {
            Some(name) => self
                .model
                .description
                .prompt(name)
                .map(|p| Some(p.to_owned()))
                .map_err(|e| ApiError::invalid(format!("{}: {e}.", self.spec.id), "prompt_name")),
            None => Ok(self.serving.default_prompt.clone()),
        }
    }
}

pub async fn embed(state: &AppState, request: EmbedRequest) -> Result<Embedded, ApiError> {
    let resolved = resolve(state, &request.model).await?;
    embed_resolved(state, &resolved, request).await
}

/// [`embed`] with the model already resolved (for dialects that time the load apart).
pub async fn embed_resolved(
    state: &AppState,
    resolved: &Resolved<'_>,
    request: EmbedRequest,
) -> Result<Embedded, ApiError> {
    let EmbedRequest {
        model: name,
        input,
        options,
    } = request;
    let model = &resolved.model;
    let dimension = model.description.dimension_with(resolved.serving.pooling);
    if let Some(dimensions) = options.dimensions {
        if dimensions > dimension {
            return Err(ApiError::invalid(
                format!(
                    "`dimensions` is {dimensions}, but {} produces {dimension}-dimensional vectors.",
                    resolved.spec.id
                ),
                "dimensions",
            ));
        }
    }
    let prompt = resolved.prompt(options.prompt_name.as_deref())?;
    let truncation = options.truncation;
    // Rejected by counting, before any tokenizing: every input costs at least its framing tokens.
    let fewest = input.len() * model.frame_tokens().max(1);
    if fewest > state.limits.max_request_tokens {
        return Err(too_many_tokens(fewest, state.limits.max_request_tokens));
    }
    let mut pooling = Pooling::new(resolved.serving.pooling);
    let sequences = match input {
        Input::Tokens(sequences) if !OPENAI_MODEL_NAMES.contains(&name.trim()) => {
            if prompt.as_deref().is_some_and(|p| !p.is_empty()) {
                return Err(ApiError::invalid(
                    format!(
                        "{} puts a prompt before every input, which token ids cannot carry; send the text instead.",
                        excerpt(&name)
                    ),
                    "input",
                ));
            }
            for (i, ids) in sequences.iter().enumerate() {
                model
                    .check_ids(ids)
                    .map_err(|reason| foreign_tokens_error(&name, i, &reason))?;
            }
            sequences
                .into_iter()
                .map(|ids| model.truncate_ids(ids, truncation))
                .collect()
        }
        input => {
            let texts = match input {
                Input::Texts(texts) => texts,
                Input::Tokens(sequences) => sequences
                    .iter()
                    .enumerate()
                    .map(|(i, ids)| {
                        decode_cl100k(ids).map_err(|e| ApiError::invalid(format!("`input[{i}]`: {e}."), "input"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let tokenizing = Arc::clone(model);
            let include_prompt = model.description.include_prompt;
            let (sequences, skip) = tokio::task::spawn_blocking(move || {
                let skip = match prompt.as_deref() {
                    Some(prompt) if !include_prompt => tokenizing.prompt_length(prompt)?,
                    _ => 0,
                };
                Ok::<_, crate::tokenize::TokenizeError>((
                    tokenizing.tokenize(texts, prompt.as_deref(), truncation)?,
                    skip,
                ))
            })
            .await
            .map_err(|_| ApiError::server("tokenization was interrupted"))?
            .map_err(|e| ApiError::invalid(e.to_string(), "input"))?;
            pooling.skip_leading = skip;
            sequences
        }
    };
    let limit = model.description.max_tokens;
    if truncation == Truncation::Off {
        if let Some((i, ids)) = sequences.iter().enumerate().find(|(_, ids)| ids.len() > limit) {
            return Err(ApiError::invalid(
                format!(
                    "Input {i} has more than the {limit} tokens that {} takes ({} counted before stopping), and truncation is off.",
                    resolved.spec.id,
                    ids.len(),
                ),
                "input",
            )
            .with_code("context_length_exceeded")
            .with_kind(ErrorKind::TooLarge));
        }
    }
    let prompt_tokens: usize = sequences.iter().map(Vec::len).sum();
    if prompt_tokens > state.limits.max_request_tokens {
        return Err(too_many_tokens(prompt_tokens, state.limits.max_request_tokens));
    }
    note(|record| {
        record.inputs = sequences.len();
        record.tokens = prompt_tokens;
    });
    let output = model.engine.embed(sequences, pooling).await.map_err(|e| match e {
        EngineError::QueueFull => ApiError::overloaded(),
        EngineError::Stopped | EngineError::Model(_) => ApiError::server(e.to_string()),
    })?;
    note(|record| record.queue_wait = Some(output.queue_wait));
    let vectors = output
        .vectors
        .into_iter()
        .map(|v| finish(v, options.dimensions, options.normalize))
        .collect();
    Ok(Embedded { vectors, prompt_tokens })
}

fn too_many_tokens(tokens: usize, limit: usize) -> ApiError {
    ApiError::invalid(
        format!(
            "This request has {tokens} tokens after truncation; the limit is {limit} per request. Split it into smaller requests."
        ),
        "input",
    )
    .with_code("too_many_tokens")
    .with_kind(ErrorKind::TooLarge)
}

/// The vector as answered: the first `dimensions` components when asked for (the
/// Matryoshka-style shortening OpenAI's `dimensions` parameter performs), at unit length unless
/// the client asked for the pipeline's own vector.
pub fn finish(mut vector: Vec<f32>, dimensions: Option<usize>, normalize: bool) -> Vec<f32> {
    if let Some(dimensions) = dimensions {
        vector.truncate(dimensions);
    }
    if normalize {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Token ids that are not the named model's own tokenization: most often OpenAI tiktoken ids
/// sent under a Hugging Face model name.
fn foreign_tokens_error(model: &str, index: usize, reason: &str) -> ApiError {
    ApiError::invalid(
        format!(
            "`input[{index}]` is not a tokenization by {}'s tokenizer: {reason}. Token arrays are read in the \
             vocabulary of the model named in `model`. If these are OpenAI tiktoken ids, send them under an OpenAI \
             model name this server lists as an alias ({}), or send text (LangChain: \
             OpenAIEmbeddings(check_embedding_ctx_length=False)).",
            excerpt(model),
            OPENAI_MODEL_NAMES.join(", ")
        ),
        "input",
    )
    .with_code("invalid_token_ids")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_shortened_and_normalised_unless_asked_not_to() {
        assert_eq!(finish(vec![3.0, 4.0], None, true), vec![0.6, 0.8]);
        assert_eq!(finish(vec![3.0, 4.0], None, false), vec![3.0, 4.0]);
        assert_eq!(finish(vec![0.6, 0.8, 0.0], Some(3), true), vec![0.6, 0.8, 0.0]);
        let short = finish(vec![0.5, 0.5, 0.5, 0.5], Some(2), true);
        assert!((short.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(finish(vec![2.0, 1.0, 5.0], Some(2), false), vec![2.0, 1.0]);
    }
}
