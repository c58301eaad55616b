//! The step from a request's input to the token sequences the engine runs: client token ids
//! checked and truncated, OpenAI ids decoded, texts looked up in the exact-repeat cache and the
//! rest (each distinct text once) tokenized. A [`Work`] says where every input's vector will
//! come from.

use std::collections::HashMap;
use std::sync::Arc;

use crate::registry::OPENAI_MODEL_NAMES;
use crate::runner::Pooling;
use crate::service::cache::{self, Cached};
use crate::service::error::{excerpt, ApiError};
use crate::service::models::Resolved;
use crate::service::AppState;
use crate::tokenize::{decode_cl100k, Truncation};

/// Where each input's vector comes from.
pub(super) enum Slot {
    /// The cache had it.
    Cached(Arc<Cached>),
    /// Sequence `index` of [`Work::sequences`] computes it (inputs repeated within a request
    /// share one sequence).
    Computed(usize),
}

/// What a request still has to compute, and where every input's vector will come from.
pub(super) struct Work {
    pub(super) slots: Vec<Slot>,
    pub(super) sequences: Vec<Vec<u32>>,
    pub(super) pooling: Pooling,
    /// The cache address of each sequence, when it may be stored.
    pub(super) keys: Vec<Option<cache::Key>>,
}

impl Work {
    fn uncached(sequences: Vec<Vec<u32>>, pooling: Pooling) -> Self {
        Self {
            slots: (0..sequences.len()).map(Slot::Computed).collect(),
            keys: vec![None; sequences.len()],
            sequences,
            pooling,
        }
    }

    /// One work for a request whose inputs came in parts (a mixed batch's texts and token
    /// arrays): each part with the positions its inputs hold in the request.
    pub(super) fn interleave(parts: Vec<(Vec<usize>, Work)>, pooling: Pooling) -> Self {
        let inputs = parts.iter().map(|(positions, _)| positions.len()).sum();
        let mut slots: Vec<Option<Slot>> = (0..inputs).map(|_| None).collect();
        let (mut sequences, mut keys) = (Vec::new(), Vec::new());
        for (positions, part) in parts {
            let offset = sequences.len();
            for (position, slot) in positions.into_iter().zip(part.slots) {
                slots[position] = Some(match slot {
                    Slot::Computed(index) => Slot::Computed(offset + index),
                    cached => cached,
                });
            }
            sequences.extend(part.sequences);
            keys.extend(part.keys);
        }
        Self {
            slots: slots.into_iter().flatten().collect(),
            sequences,
            pooling,
            keys,
        }
    }

    /// The tokens the model reads for every input (a repeated or cached input counts each time).
    pub(super) fn prompt_tokens(&self) -> usize {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Cached(hit) => hit.tokens,
                Slot::Computed(index) => self.sequences[*index].len(),
            })
            .sum()
    }
}

/// Client-supplied token ids in the model's own vocabulary, checked and truncated.
pub(super) fn token_sequences(
    resolved: &Resolved<'_>,
    name: &str,
    prompt: Option<&str>,
    sequences: Vec<Vec<u32>>,
    truncation: Truncation,
    pooling: Pooling,
) -> Result<Work, ApiError> {
    if prompt.is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::invalid(
            format!(
                "{} puts a prompt before every input, which token ids cannot carry; send the text instead.",
                excerpt(name)
            ),
            "input",
        ));
    }
    let model = &resolved.model;
    for (i, ids) in sequences.iter().enumerate() {
        model
            .check_ids(ids)
            .map_err(|reason| foreign_tokens_error(name, i, &reason.to_string()))?;
    }
    Ok(Work::uncached(
        sequences
            .into_iter()
            .map(|ids| model.truncate_ids(ids, truncation))
            .collect(),
        pooling,
    ))
}

/// OpenAI `cl100k_base` ids back to the texts they encode.
pub(super) fn decode_openai_ids(sequences: &[Vec<u32>]) -> Result<Vec<String>, ApiError> {
    sequences
        .iter()
        .enumerate()
        .map(|(i, ids)| decode_cl100k(ids).map_err(|e| ApiError::invalid(format!("`input[{i}]`: {e}."), "input")))
        .collect()
}

/// Texts looked up in the exact-repeat cache; the rest (each distinct text once) tokenized.
pub(super) async fn texts_through_cache(
    state: &AppState,
    resolved: &Resolved<'_>,
    texts: Vec<String>,
    prompt: Option<String>,
    truncation: Truncation,
    pooling: Pooling,
) -> Result<Work, ApiError> {
    let model = &resolved.model;
    let weights = resolved.spec.weights_key();
    let truncation_name = format!("{truncation:?}");
    let scope = cache::Scope {
        weights: &weights,
        pooling: pooling.cache_label(),
        prompt: prompt.as_deref(),
        truncation: &truncation_name,
    };
    let cache = &state.cache;
    let mut slots = Vec::with_capacity(texts.len());
    let mut keys: Vec<Option<cache::Key>> = Vec::new();
    // The sequence computing each distinct text's address, so a repeat is found at once.
    let mut computing: HashMap<cache::Key, usize> = HashMap::new();
    let mut pending: Vec<String> = Vec::new();
    let (mut hits, mut misses) = (0u64, 0u64);
    for text in texts {
        let key = scope.key(&text);
        if let Some(hit) = cache.get(&key) {
            hits += 1;
            slots.push(Slot::Cached(hit));
        } else if let Some(&index) = computing.get(&key) {
            slots.push(Slot::Computed(index));
        } else {
            misses += 1;
            computing.insert(key, pending.len());
            slots.push(Slot::Computed(pending.len()));
            keys.push(Some(key));
            pending.push(text);
        }
    }
    if cache.enabled() {
        crate::metrics::cache_lookups(&resolved.spec.id, hits, misses);
    }
    let (sequences, skip) = if pending.is_empty() {
        (Vec::new(), 0)
    } else {
        let tokenizing = model.shared();
        let include_prompt = model.description.include_prompt;
        tokio::task::spawn_blocking(move || {
            let skip = match prompt.as_deref() {
                Some(prompt) if !include_prompt => tokenizing.prompt_length(prompt)?,
                _ => 0,
            };
            Ok::<_, crate::tokenize::TokenizeError>((
                tokenizing.tokenize(pending, prompt.as_deref(), truncation)?,
                skip,
            ))
        })
        .await
        .map_err(|_| ApiError::server("tokenization was interrupted"))?
        .map_err(|e| ApiError::invalid(e.to_string(), "input"))?
    };
    Ok(Work {
        slots,
        sequences,
        keys,
        pooling: Pooling {
            skip_leading: skip,
            ..pooling
        },
    })
}

/// Token ids that are not the named model's own tokenization: most often OpenAI tiktoken ids
/// sent under a Hugging Face model name.
fn foreign_tokens_error(model: &str, index: usize, reason: &str) -> ApiError {
    ApiError::invalid(
        format!(
            "`input[{index}]` is not a tokenization by {}'s tokenizer: {reason}. Token arrays are read in the \
             vocabulary of the model named in `model`. If these are OpenAI tiktoken ids, send them under an OpenAI \
             model name this server lists as an alias ({}) or to an entry with token_ids=cl100k in the models file, or send \
             text (LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False)).",
            excerpt(model),
            OPENAI_MODEL_NAMES.join(", ")
        ),
        "input",
    )
    .with_code("invalid_token_ids")
}
