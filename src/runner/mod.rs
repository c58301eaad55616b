//! The model side: load a checkpoint onto a device and turn batches of token sequences
//! into sentence-transformers' pipeline output (backbone, pooling, Dense, Normalize). Nothing
//! here knows about HTTP or JSON requests.
//!
//! Four folders, one job each:
//! - [`architectures`]: which `model_type`s run (the table in its `mod.rs`), one small file per
//!   architecture that reads its config into a [`ModelShape`] and builds its backbone;
//! - [`layers`]: the parts every architecture is built from (input embeddings, attention with
//!   its mask, rotary positions and position bias, norms, MLPs, projections, the two blocks);
//! - [`kernels`]: the CPU code under the layers (packed matmuls, fused softmax and GELU, tiled
//!   attention) and the thread settings;
//! - [`head`]: after the backbone, pooling and the modules that follow it (Dense, Normalize).
//!
//! Between them, the seam: [`backbone`] (an [`Architecture`](backbone::Architecture) and the
//! [`Backbone`] it builds, a forward pass over a packed [`batch`] to `[tokens, hidden]`),
//! [`config`] (what can be wrong with a `config.json`) and the [`shape`] the rest of the service
//! sees.

pub mod architectures;
pub mod backbone;
pub mod batch;
pub mod config;
pub mod device;
pub mod head;
pub mod kernels;
pub mod layers;
pub mod mask;
pub mod precision;
pub mod scoring;
pub mod shape;
pub mod sparse;

use std::path::PathBuf;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use backbone::{Architecture, Backbone};
use batch::PackedBatch;
pub use head::pooling::{Pooling, PoolingMode, PoolingModes};
use head::{Head, HeadStep};
use kernels::packed;
pub use precision::Precision;
use shape::ModelShape;

pub use device::{select_device, DeviceChoice};

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

/// What the batching engine needs from a model: a batch of token sequences in, one vector for
/// each out, in order: the pipeline's embedding, or a scoring model's logits. Implementations
/// must be callable from any thread.
pub trait Embedder: Send + Sync + 'static {
    fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>>;
}

pub struct EmbeddingModel {
    backbone: Box<dyn Backbone>,
    head: Head,
    device: Device,
}

impl EmbeddingModel {
    /// Maps the safetensors weights of the backbone (one file, or every shard of a sharded
    /// checkpoint) and the Dense modules onto `device`. Weights stored as float16 or bfloat16
    /// are converted to float32 as they load.
    pub fn load(
        architecture: &dyn Architecture,
        weights: &[PathBuf],
        head: &[HeadStep],
        device: &Device,
        precision: Precision,
    ) -> anyhow::Result<Self> {
        let (backbone, _) = load_backbone(architecture, weights, device, precision)?;
        Ok(Self {
            backbone,
            head: Head::load(head, device)?,
            device: device.clone(),
        })
    }

    /// A model from a backbone already built (the benches' random-weight backbones).
    pub fn from_parts(backbone: Box<dyn Backbone>, head: &[HeadStep], device: &Device) -> anyhow::Result<Self> {
        Ok(Self {
            backbone,
            head: Head::load(head, device)?,
            device: device.clone(),
        })
    }

    pub fn shape(&self) -> &ModelShape {
        self.backbone.shape()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl Embedder for EmbeddingModel {
    fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let _pass = packed::ForwardPass::begin();
        let (batch, hidden) = forward(self.backbone.as_ref(), sequences, &self.device)?;
        // Requests through differently configured entries of one model may share a batch: pool
        // each group of sequences with its own settings.
        let mut vectors = vec![Vec::new(); sequences.len()];
        let mut done = vec![false; sequences.len()];
        for first in 0..sequences.len() {
            if done[first] {
                continue;
            }
            let pooling = sequences[first].pooling;
            let members: Vec<usize> = (first..sequences.len())
                .filter(|&i| !done[i] && sequences[i].pooling == pooling)
                .collect();
            if pooling.is_every_token() {
                for member in members {
                    let rows = hidden.narrow(0, batch.starts[member], batch.lengths[member])?;
                    vectors[member] = rows.flatten_all()?.to_vec1::<f32>()?;
                    done[member] = true;
                }
                continue;
            }
            let pooled = head::pooling::pool(&hidden, &batch, &members, pooling)?;
            let output = self.head.forward(pooled)?.to_vec2::<f32>()?;
            for (member, vector) in members.into_iter().zip(output) {
                vectors[member] = vector;
                done[member] = true;
            }
        }
        Ok(vectors)
    }
}

/// Maps the checkpoint's weights (one file, or every shard) onto `device`, float16 and bfloat16
/// converted to float32 as they load, and builds the backbone: it and the weights (for a head
/// beside the backbone).
pub(crate) fn load_backbone<'a>(
    architecture: &dyn Architecture,
    weights: &'a [PathBuf],
    device: &Device,
    precision: Precision,
) -> anyhow::Result<(Box<dyn Backbone>, VarBuilder<'a>)> {
    if let Some(reason) = precision.unsupported_on(device) {
        anyhow::bail!(reason);
    }
    anyhow::ensure!(!weights.is_empty(), "no weights file");
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
        .map_err(|e| anyhow::anyhow!("cannot load weights from {names}: {e}"))?;
    Ok((backbone, vb))
}

/// Checks and packs the sequences (typed where some are pairs) and runs the backbone: the batch
/// and every token's last hidden state.
pub(crate) fn forward(
    backbone: &dyn Backbone,
    sequences: &[SequenceInput],
    device: &Device,
) -> anyhow::Result<(PackedBatch, candle_core::Tensor)> {
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
fn check_sequences(sequences: &[SequenceInput], shape: &ModelShape) -> anyhow::Result<()> {
    let vocab = shape.vocab_size as u32;
    let positions = shape.max_positions;
    for sequence in sequences {
        if sequence.tokens.len() > positions {
            anyhow::bail!(
                "a sequence of {} tokens exceeds the model's {positions} positions",
                sequence.tokens.len()
            );
        }
        if let Some(bad) = sequence.tokens.iter().find(|&&id| id >= vocab) {
            anyhow::bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
