//! The three task models, each a backbone with its own head behind one [`SequenceModel`]
//! seam that the batching engine drives: [`embedding`] (pooling, Dense, Normalize),
//! [`scoring`] (cross-encoders, classifiers, LLM rerankers) and [`sparse`] (SPLADE, and an
//! inference-free model's looked-up route). Here too: what they share, loading a backbone and
//! running it over a packed batch, and their one error type ([`RunnerError`], in `runner/error.rs` since the heads raise it too).

pub mod embedding;
pub mod scoring;
pub mod sparse;

use std::path::PathBuf;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use super::backbone::{Architecture, Backbone};
use super::batch::PackedBatch;
use super::error::RunnerError;
use super::head::pooling::Pooling;
use super::precision::Precision;
use super::shape::ModelShape;

/// One sequence to embed (or score) and how to pool it.
#[derive(Debug, Clone, Copy)]
pub struct SequenceInput<'a> {
    pub tokens: &'a [u32],
    pub pooling: Pooling,
    /// Where a pair's second text starts (its tokens are type 1); `None` for a single text.
    pub second_segment: Option<usize>,
}

impl<'a> SequenceInput<'a> {
    /// A single text's tokens.
    pub fn single(tokens: &'a [u32], pooling: Pooling) -> Self {
        Self {
            tokens,
            pooling,
            second_segment: None,
        }
    }
}

/// What the batching engine needs from every task model: a batch of token sequences in, one
/// vector for each out, in order (the pipeline's embedding, a scoring model's logits, a sparse
/// model's `[index, value, ...]` pairs). Implementations must be callable from any thread.
pub trait SequenceModel: Send + Sync + 'static {
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError>;
}

/// Maps the checkpoint's weights (one file, or every shard) onto `device`, float16 and bfloat16
/// converted to float32 as they load, and builds the backbone: it and the weights (for a head
/// beside the backbone).
pub(crate) fn load_backbone<'a>(
    architecture: &dyn Architecture,
    weights: &'a [PathBuf],
    device: &Device,
    precision: Precision,
) -> Result<(Box<dyn Backbone>, VarBuilder<'a>), RunnerError> {
    if let Some(reason) = precision.unsupported_on(device) {
        return Err(RunnerError::Weights(reason));
    }
    if weights.is_empty() {
        return Err(RunnerError::Weights("no weights file".into()));
    }
    // SAFETY: the weights files are memory-mapped read-only; the hub cache never rewrites a
    // blob in place (downloads go to a temporary file that is renamed into place).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, DType::F32, device)? };
    let names = weights
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let backbone = architecture
        .load(vb.clone(), precision)
        .map_err(|e| RunnerError::Weights(format!("cannot load weights from {names}: {e}")))?;
    Ok((backbone, vb))
}

/// Checks and packs the sequences (typed where some are pairs) and runs the backbone: the batch
/// and every token's last hidden state.
pub(crate) fn forward(
    backbone: &dyn Backbone,
    sequences: &[SequenceInput],
    device: &Device,
) -> Result<(PackedBatch, candle_core::Tensor), RunnerError> {
    let shape = backbone.shape();
    check_sequences(sequences, shape)?;
    let tokens: Vec<&[u32]> = sequences.iter().map(|s| s.tokens).collect();
    let segments: Vec<Option<usize>> = sequences.iter().map(|s| s.second_segment).collect();
    let batch = PackedBatch::new(&tokens, shape.positions, device)?.with_second_segments(&segments)?;
    let hidden = backbone.forward(&batch)?;
    Ok((batch, hidden))
}

/// Every sequence fits the position table and the vocabulary (the engine's callers check this
/// long before; a forward pass must not index out of bounds whatever it is handed).
fn check_sequences(sequences: &[SequenceInput], shape: &ModelShape) -> Result<(), RunnerError> {
    let vocab = shape.vocab_size as u32;
    let positions = shape.max_positions;
    for sequence in sequences {
        if sequence.tokens.len() > positions {
            return Err(RunnerError::Input(format!(
                "a sequence of {} tokens exceeds the model's {positions} positions",
                sequence.tokens.len()
            )));
        }
        if let Some(bad) = sequence.tokens.iter().find(|&&id| id >= vocab) {
            return Err(RunnerError::Input(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
    }
    Ok(())
}
