//! The seam between the pipeline and the architectures. An [`Architecture`] is a checkpoint's
//! config read (its [`ModelShape`], known before any weight loads); it builds a [`Backbone`],
//! which turns a packed batch into the last hidden state of every token. Every architecture's
//! backbone is a [`Transformer`] assembled from the shared layers.

use std::fmt;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::batch::PackedBatch;
use super::kernels;
use super::layers::attention::AttentionContext;
use super::layers::block::Block;
use super::layers::embeddings::InputEmbeddings;
use super::layers::norm::Norm;
use super::layers::position_bias::RelativePositionBias;
use super::layers::rotary::Rotaries;
use super::mask::{additive_mask, MaskKind};
use super::precision::Precision;
use super::shape::ModelShape;

/// A checkpoint's architecture as its config describes it.
pub trait Architecture: Send + Sync + fmt::Debug {
    fn shape(&self) -> &ModelShape;
    /// Builds the backbone from the checkpoint's tensors.
    fn load(&self, weights: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>>;
}

pub trait Backbone: Send + Sync {
    /// The last hidden state of every packed token, `[tokens, hidden]`.
    fn forward(&self, batch: &PackedBatch) -> Result<Tensor>;
    fn shape(&self) -> &ModelShape;
}

/// Checkpoints saved from a task model nest the backbone under a prefix (`bert.`, `model.`,
/// `new.`, ...): the first of `prefixes` under which `probe` exists, else the root.
pub fn nested<'a>(vb: VarBuilder<'a>, probe: &str, prefixes: &[&str]) -> VarBuilder<'a> {
    match prefixes
        .iter()
        .find(|prefix| vb.contains_tensor(&format!("{prefix}.{probe}")))
    {
        Some(prefix) => vb.pp(*prefix),
        None => vb,
    }
}

/// Layers `0..count` under `{prefix}.{i}`, each read by `load_layer(its weights, i)`.
pub fn load_layers(
    vb: &VarBuilder,
    prefix: &str,
    count: usize,
    load_layer: impl Fn(VarBuilder, usize) -> Result<Block>,
) -> Result<Vec<Block>> {
    (0..count).map(|i| load_layer(vb.pp(prefix).pp(i), i)).collect()
}

pub struct Transformer {
    shape: ModelShape,
    embeddings: InputEmbeddings,
    layers: Vec<Block>,
    final_norm: Option<Norm>,
    rotaries: Option<Rotaries>,
    position_bias: Option<RelativePositionBias>,
    /// The linear layers round activations to bfloat16 (the bf16 dot-product kernel), so a
    /// last-bit difference from batch-mates could flip a rounding: attention then runs one
    /// sequence at a time on the CPU (see [`AttentionContext::per_sequence`]).
    rounds_activations: bool,
}

impl Transformer {
    /// Embeddings then blocks; no final norm, rotary positions or position bias until added.
    pub fn new(shape: &ModelShape, embeddings: InputEmbeddings, layers: Vec<Block>, precision: Precision) -> Self {
        Self {
            shape: shape.clone(),
            embeddings,
            layers,
            final_norm: None,
            rotaries: None,
            position_bias: None,
            rounds_activations: precision == Precision::BFloat16
                && kernels::packed::select::kernel_for(precision).is_some_and(|k| k.rounds_activations()),
        }
    }

    pub fn with_final_norm(mut self, norm: Norm) -> Self {
        self.final_norm = Some(norm);
        self
    }

    /// The rotary frequencies the layers' attention refers to.
    pub fn with_rotaries(mut self, rotaries: Rotaries) -> Self {
        self.rotaries = Some(rotaries);
        self
    }

    /// A bias added to every layer's attention scores.
    pub fn with_position_bias(mut self, bias: RelativePositionBias) -> Self {
        self.position_bias = Some(bias);
        self
    }

    pub fn boxed(self) -> Box<dyn Backbone> {
        Box::new(self)
    }
}

impl Backbone for Transformer {
    fn forward(&self, batch: &PackedBatch) -> Result<Tensor> {
        let device = batch.device();
        let rotary = self
            .rotaries
            .as_ref()
            .map(|r| r.tables(&batch.position_ids, device))
            .transpose()?;
        let bias = self
            .position_bias
            .as_ref()
            .map(|b| b.for_length(batch.longest, device))
            .transpose()?;
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
            rotary: rotary.as_ref(),
            bias: bias.as_ref(),
            per_sequence: self.rounds_activations && device.is_cpu(),
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
