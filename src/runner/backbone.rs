//! The seam between the pipeline and the architectures: a [`Backbone`] turns a packed batch
//! into the last hidden state of every token. Each architecture's module builds a
//! [`Transformer`] from the shared parts (embeddings, blocks, a final norm, rotary tables).

use candle_core::{Result, Tensor};

use super::attention::AttentionContext;
use super::batch::PackedBatch;
use super::block::Block;
use super::embeddings::Embeddings;
use super::mask::{additive_mask, MaskKind};
use super::mpnet;
use super::norm::Norm;
use super::precision::Precision;
use super::rotary::Rotary;
use super::shape::ModelShape;

pub trait Backbone: Send + Sync {
    /// The last hidden state of every packed token, `[tokens, hidden]`.
    fn forward(&self, batch: &PackedBatch) -> Result<Tensor>;
    fn shape(&self) -> &ModelShape;
}

/// A bias added to every layer's attention scores, computed per batch.
pub enum ScoreBias {
    /// MPNet's `[buckets, heads]` table, looked up by bucketed relative distance.
    RelativeBuckets(Tensor),
}

pub struct Transformer {
    pub shape: ModelShape,
    pub embeddings: Embeddings,
    pub layers: Vec<Block>,
    pub final_norm: Option<Norm>,
    /// The rotary tables the layers refer to by index (ModernBERT and Gemma have two bases).
    pub rotaries: Vec<Rotary>,
    pub score_bias: Option<ScoreBias>,
    pub precision: Precision,
}

impl Backbone for Transformer {
    fn forward(&self, batch: &PackedBatch) -> Result<Tensor> {
        let device = batch.device();
        let rotary = self
            .rotaries
            .iter()
            .map(|r| r.table(&batch.position_ids, device))
            .collect::<Result<Vec<_>>>()?;
        let bias = match &self.score_bias {
            Some(ScoreBias::RelativeBuckets(table)) => Some(mpnet::relative_bias(table, batch.longest, device)?),
            None => None,
        };
        let mut gpu_masks: Vec<(MaskKind, Tensor)> = Vec::new();
        if !device.is_cpu() {
            for &kind in &self.shape.layer_masks {
                if !gpu_masks.iter().any(|(k, _)| *k == kind) {
                    gpu_masks.push((kind, additive_mask(kind, &batch.lengths, batch.longest, device)?));
                }
            }
        }
        let context = AttentionContext {
            batch,
            rotary: &rotary,
            bias: bias.as_ref(),
            per_sequence: self.precision == Precision::BFloat16 && device.is_cpu(),
            gpu_masks: &gpu_masks,
        };
        let mut hidden = self.embeddings.forward(batch)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &context)?;
        }
        match &self.final_norm {
            Some(norm) => norm.forward(&hidden),
            None => Ok(hidden),
        }
    }

    fn shape(&self) -> &ModelShape {
        &self.shape
    }
}
