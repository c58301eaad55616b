//! The embeddings operation itself, shared by every dialect and by the `embed` command: one
//! request type in, vectors out. Resolve the model, apply the prompt, turn the input into token
//! sequences, run the engine, shorten and normalise.

use std::time::Instant;

use tracing::Instrument;

use super::error::{ApiError, ErrorKind};
use super::input::{EmbedOptions, Input, InputItem};
use super::models::{require_kind, resolve, Resolved};
use super::AppState;
use crate::engine::EngineError;
use crate::model_files::ModelKind;
use crate::service::cache::Cached;
use crate::service::record::{note, ComputeRecord};
use inputs::{decode_openai_ids, texts_through_cache, token_sequences, Slot, Work};

mod inputs;
pub mod sparse;
use crate::registry::TokenIds;
use crate::runner::Pooling;
use crate::tokenize::Truncation;

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

pub async fn embed(state: &AppState, request: EmbedRequest) -> Result<Embedded, ApiError> {
    let resolved = resolve(state, &request.model, request.options.keep_alive).await?;
    embed_resolved(state, &resolved, request).await
}

/// [`embed`] with the model already resolved (for dialects that time the load apart). The
/// request's path, step by step: check the options, settle the prompt, turn the input into
/// token sequences (texts through the exact-repeat cache), check the token limits, run the
/// engine, then shorten and normalise.
pub async fn embed_resolved(
    state: &AppState,
    resolved: &Resolved<'_>,
    request: EmbedRequest,
) -> Result<Embedded, ApiError> {
    let (dimensions, normalize) = (request.options.dimensions, request.options.normalize);
    tracing::debug_span!("validate").in_scope(|| {
        require_kind(resolved, &[ModelKind::Embedding], "embedding")?;
        check_dimensions(resolved, dimensions)?;
        if request.options.max_active_dims.is_some() {
            return Err(ApiError::invalid(
                format!(
                    "`max_active_dims` applies to sparse models; {} gives dense vectors.",
                    resolved.spec.public_name()
                ),
                "max_active_dims",
            ));
        }
        Ok(())
    })?;
    let pooling = Pooling::new(resolved.serving.pooling);
    let (vectors, prompt_tokens) = pipeline_vectors(state, resolved, request, pooling).await?;
    let vectors = tracing::debug_span!("encode")
        .in_scope(|| vectors.into_iter().map(|v| finish(v, dimensions, normalize)).collect());
    Ok(Embedded { vectors, prompt_tokens })
}

/// The model's output for every input, as the engine gives it with `pooling`, and the tokens
/// the model read: the prompt settled, the input turned into token sequences (texts through
/// the exact-repeat cache), the token limits checked, the engine run. The caller has checked
/// the model's kind and its own options.
pub(super) async fn pipeline_vectors(
    state: &AppState,
    resolved: &Resolved<'_>,
    request: EmbedRequest,
    pooling: Pooling,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    let EmbedRequest {
        model: name,
        input,
        mut options,
    } = request;
    if !options.truncation_chosen && !state.limits.auto_truncate {
        options.truncation = Truncation::Off;
    }
    let prompt = tracing::debug_span!("validate").in_scope(|| {
        check_input_count(state, input.len())?;
        let prompt = resolved.prompt(options.prompt_name.as_deref())?;
        // Rejected by counting, before any tokenizing: every input costs at least its framing tokens.
        check_request_tokens(state, input.len() * resolved.model.frame_tokens().max(1))?;
        Ok::<_, ApiError>(prompt)
    })?;
    let mut compute = ComputeRecord {
        characters: input.characters(),
        device: resolved.model.device,
        ..ComputeRecord::default()
    };
    let tokenizing = Instant::now();
    let work = token_work(state, resolved, &name, input, prompt, options.truncation, pooling)
        .instrument(tracing::debug_span!("tokenize"))
        .await?;
    compute.tokenization = tokenizing.elapsed();
    crate::metrics::tokenize(&resolved.spec.id, compute.tokenization);
    check_truncation_off(resolved, &work, options.truncation)?;
    let prompt_tokens = work.prompt_tokens();
    check_request_tokens(state, prompt_tokens)?;
    note(|record| {
        record.inputs = work.slots.len();
        record.tokens = prompt_tokens;
    });
    let vectors = run(state, resolved, work, &mut compute).await?;
    note(|record| record.compute = Some(compute));
    Ok((vectors, prompt_tokens))
}

/// Every input's tokens' last hidden states (`[input][token][hidden]`, before pooling), for
/// TEI's `/embed_all`.
pub async fn embed_every_token(state: &AppState, request: EmbedRequest) -> Result<Vec<Vec<Vec<f32>>>, ApiError> {
    let resolved = resolve(state, &request.model, request.options.keep_alive).await?;
    tracing::debug_span!("validate").in_scope(|| {
        require_kind(&resolved, &[ModelKind::Embedding], "token states")?;
        match (request.options.dimensions, request.options.max_active_dims) {
            (None, None) => Ok(()),
            (Some(_), _) => Err(ApiError::invalid(
                "`dimensions` does not apply to token states.",
                "dimensions",
            )),
            (None, Some(_)) => Err(ApiError::invalid(
                "`max_active_dims` does not apply to token states.",
                "max_active_dims",
            )),
        }
    })?;
    let hidden = resolved.model.description.shape().hidden_size;
    let (rows, _) = pipeline_vectors(state, &resolved, request, Pooling::every_token()).await?;
    Ok(rows
        .iter()
        .map(|rows| rows.chunks_exact(hidden).map(<[f32]>::to_vec).collect())
        .collect())
}

/// The input as token sequences: the model's own ids checked and truncated; texts (and
/// cl100k ids decoded to text) looked up in the cache and the rest tokenized.
async fn token_work(
    state: &AppState,
    resolved: &Resolved<'_>,
    name: &str,
    input: Input,
    prompt: Option<String>,
    truncation: Truncation,
    pooling: Pooling,
) -> Result<Work, ApiError> {
    match input {
        Input::Mixed(items) => {
            let (mut text_positions, mut texts) = (Vec::new(), Vec::new());
            let (mut id_positions, mut id_sequences) = (Vec::new(), Vec::new());
            for (position, item) in items.into_iter().enumerate() {
                match item {
                    InputItem::Text(text) => (text_positions.push(position), texts.push(text)),
                    InputItem::Tokens(ids) => (id_positions.push(position), id_sequences.push(ids)),
                };
            }
            let texts_work = texts_through_cache(state, resolved, texts, prompt.clone(), truncation, pooling).await?;
            let ids_work = ids_work(state, resolved, name, id_sequences, prompt, truncation, pooling).await?;
            let parts = vec![(text_positions, texts_work), (id_positions, ids_work)];
            Ok(Work::interleave(parts, pooling))
        }
        Input::Tokens(sequences) => ids_work(state, resolved, name, sequences, prompt, truncation, pooling).await,
        Input::Texts(texts) => texts_through_cache(state, resolved, texts, prompt, truncation, pooling).await,
    }
}

/// Client token ids: the model's own checked and truncated, OpenAI's decoded to text.
async fn ids_work(
    state: &AppState,
    resolved: &Resolved<'_>,
    name: &str,
    sequences: Vec<Vec<u32>>,
    prompt: Option<String>,
    truncation: Truncation,
    pooling: Pooling,
) -> Result<Work, ApiError> {
    if resolved.spec.token_ids_under(name) == TokenIds::Model {
        return token_sequences(resolved, name, prompt.as_deref(), sequences, truncation, pooling);
    }
    let texts = decode_openai_ids(&sequences)?;
    texts_through_cache(state, resolved, texts, prompt, truncation, pooling).await
}

fn check_input_count(state: &AppState, inputs: usize) -> Result<(), ApiError> {
    let limit = state.limits.max_inputs;
    if inputs > limit {
        return Err(ApiError::invalid(
            format!("This request has {inputs} inputs; the limit is {limit} per request."),
            "input",
        )
        .with_code("too_many_inputs")
        .with_kind(ErrorKind::TooLarge));
    }
    Ok(())
}

fn check_request_tokens(state: &AppState, tokens: usize) -> Result<(), ApiError> {
    if tokens > state.limits.max_request_tokens {
        return Err(too_many_tokens(tokens, state.limits.max_request_tokens));
    }
    Ok(())
}

fn check_dimensions(resolved: &Resolved<'_>, dimensions: Option<usize>) -> Result<(), ApiError> {
    let dimension = resolved.model.description.dimension_with(resolved.serving.pooling);
    match dimensions {
        Some(dimensions) if dimensions > dimension => Err(ApiError::invalid(
            format!(
                "`dimensions` is {dimensions}, but {} produces {dimension}-dimensional vectors.",
                resolved.spec.public_name()
            ),
            "dimensions",
        )),
        _ => Ok(()),
    }
}

/// With truncation off, an over-long input is the client's error.
fn check_truncation_off(resolved: &Resolved<'_>, work: &Work, truncation: Truncation) -> Result<(), ApiError> {
    if truncation != Truncation::Off {
        return Ok(());
    }
    let limit = resolved.model.description.max_tokens;
    let over = work.slots.iter().enumerate().find_map(|(i, slot)| match slot {
        Slot::Computed(index) if work.sequences[*index].len() > limit => Some((i, work.sequences[*index].len())),
        _ => None,
    });
    match over {
        Some((i, counted)) => Err(ApiError::invalid(
            format!(
                "Input {i} has more than the {limit} tokens that {} takes ({counted} counted before stopping), and truncation is off.",
                resolved.spec.public_name(),
            ),
            "input",
        )
        .with_code("context_length_exceeded")
        .with_kind(ErrorKind::TooLarge)),
        None => Ok(()),
    }
}

/// The engine computes what the cache did not have; every input gets its pipeline vector.
async fn run(
    state: &AppState,
    resolved: &Resolved<'_>,
    work: Work,
    compute: &mut ComputeRecord,
) -> Result<Vec<Vec<f32>>, ApiError> {
    let Work {
        slots,
        sequences,
        pooling,
        keys,
    } = work;
    let tokens: Vec<usize> = sequences.iter().map(Vec::len).collect();
    let computed = if sequences.is_empty() {
        Vec::new()
    } else {
        let output = resolved
            .model
            .engine
            .embed(sequences, pooling)
            .await
            .map_err(|e| match e {
                EngineError::QueueFull => ApiError::overloaded(),
                EngineError::Stopped | EngineError::Model(_) => ApiError::server(e.to_string()),
            })?;
        (compute.queue, compute.inference) = (output.queue, output.inference);
        output.vectors
    };
    for ((key, vector), &tokens) in keys.iter().zip(&computed).zip(&tokens) {
        if let Some(key) = key {
            state.cache.put(
                *key,
                Cached {
                    vector: vector.clone(),
                    tokens,
                },
            );
        }
    }
    Ok(slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Cached(hit) => hit.vector.clone(),
            Slot::Computed(index) => computed[index].clone(),
        })
        .collect())
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
