//! The transformer block every supported architecture shares (post-LayerNorm: attention, add &
//! norm, feed-forward, add & norm), on packed tokens. Architectures differ only in where the
//! weights are ([`LayerNames`]) and in an optional attention bias.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::batch::PackedBatch;
use super::config::{Activation, EncoderConfig, LayerNames};
use super::kernels::{BiasGelu, MaskedSoftmax};
use super::precision::Precision;
use super::projection::Projection;

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        // Checkpoints converted from the original TensorFlow BERT name these gamma/beta.
        let (weight, bias) = if vb.contains_tensor("weight") {
            (vb.get(size, "weight")?, vb.get(size, "bias")?)
        } else {
            (vb.get(size, "gamma")?, vb.get(size, "beta")?)
        };
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

pub fn linear(vb: VarBuilder, input: usize, output: usize) -> Result<Linear> {
    Ok(Linear::new(
        vb.get((output, input), "weight")?,
        Some(vb.get(output, "bias")?),
    ))
}

pub struct EncoderLayer {
    /// Query, key and value projections fused into one matmul; the query rows are pre-scaled by
    /// 1/sqrt(head_dim) so the scores need no separate scaling pass.
    qkv: Projection,
    attention_out: Projection,
    attention_norm: LayerNorm,
    intermediate: Projection,
    /// The intermediate bias on the host, for the fused CPU bias + GELU kernel.
    intermediate_bias: Vec<f32>,
    output: Projection,
    output_norm: LayerNorm,
}

impl EncoderLayer {
    pub fn load(vb: VarBuilder, config: &EncoderConfig, precision: Precision) -> Result<Self> {
        let LayerNames {
            query,
            key,
            value,
            attention_out,
            attention_norm,
            intermediate,
            output,
            output_norm,
        } = config.layer_names;
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let head_dim = h / config.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let query = linear(vb.pp(query), h, h)?;
        let key = linear(vb.pp(key), h, h)?;
        let value = linear(vb.pp(value), h, h)?;
        let bias = |l: &Linear| {
            l.bias()
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("missing bias".into()))
        };
        let weight = Tensor::cat(
            &[(query.weight() * scale)?, key.weight().clone(), value.weight().clone()],
            0,
        )?;
        let bias = Tensor::cat(&[(bias(&query)? * scale)?, bias(&key)?, bias(&value)?], 0)?;
        let intermediate = Projection::load(vb.pp(intermediate), h, config.intermediate_size, precision)?;
        Ok(Self {
            qkv: Projection::new(weight, bias, precision)?,
            attention_out: Projection::load(vb.pp(attention_out), h, h, precision)?,
            attention_norm: LayerNorm::load(vb.pp(attention_norm), h, eps)?,
            intermediate_bias: intermediate.host_bias()?,
            intermediate,
            output: Projection::load(vb.pp(output), config.intermediate_size, h, precision)?,
            output_norm: LayerNorm::load(vb.pp(output_norm), h, eps)?,
        })
    }
}

/// Per-forward settings every layer shares.
pub struct LayerContext<'a> {
    pub batch: &'a PackedBatch,
    pub heads: usize,
    pub hidden: usize,
    pub activation: Activation,
    /// `[1, heads, longest, longest]`, added to every sequence's attention scores.
    pub attention_bias: Option<&'a Tensor>,
    /// Attend one sequence at a time instead of over the padded batch, so that every float32
    /// result is bit-for-bit the same whatever else is in the batch. bfloat16 needs it: there a
    /// last-bit difference in an activation can flip its rounding to bfloat16 and grow.
    pub per_sequence: bool,
}

impl EncoderLayer {
    pub fn forward(&self, x: &Tensor, context: &LayerContext) -> Result<Tensor> {
        let attended = self.attention(x, context)?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&attended)? + x)?)?;
        let activated = if context.activation == Activation::GeluErf && !self.intermediate_bias.is_empty() {
            let expanded = self.intermediate.forward_without_bias(&attended)?;
            expanded.inplace_op1(&BiasGelu(&self.intermediate_bias))?;
            expanded
        } else {
            let expanded = self.intermediate.forward(&attended)?;
            match context.activation {
                Activation::GeluErf => expanded.gelu_erf()?,
                Activation::GeluTanh => expanded.gelu()?,
                Activation::Relu => expanded.relu()?,
            }
        };
        self.output_norm
            .forward(&(self.output.forward(&activated)? + attended)?)
    }

    fn attention(&self, x: &Tensor, context: &LayerContext) -> Result<Tensor> {
        let batch = context.batch;
        let (b, l, heads) = (batch.sequences, batch.longest, context.heads);
        let head_dim = context.hidden / heads;
        let qkv = self.qkv.forward(x)?;
        if context.per_sequence {
            return attend_each_sequence(&qkv, context);
        }
        let qkv = match &batch.padding {
            Some(padding) => qkv.index_select(&padding.gather, 0)?,
            None => qkv,
        };
        // [b*l, 3h] -> [3, b, heads, l, head_dim]
        let qkv = qkv.reshape((b, l, 3, heads, head_dim))?.permute((2, 0, 3, 1, 4))?;
        let query = qkv.get(0)?.contiguous()?;
        let key = qkv.get(1)?.contiguous()?;
        let value = qkv.get(2)?.contiguous()?;
        let scores = query.matmul(&key.t()?)?;
        let scores = match context.attention_bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let weights = if scores.device().is_cpu() {
            scores.inplace_op1(&MaskedSoftmax {
                lengths: &batch.lengths,
                heads,
                longest: l,
            })?;
            scores
        } else {
            let scores = match batch.padding.as_ref().and_then(|p| p.mask.as_ref()) {
                Some(mask) => scores.broadcast_add(mask)?,
                None => scores,
            };
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let context = weights
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((b * l, context.hidden))?;
        match &batch.padding {
            Some(padding) => context.index_select(&padding.scatter, 0),
            None => Ok(context),
        }
    }
}

/// Attention over each sequence of the packed `[tokens, 3 * hidden]` projections on its own,
/// with no padding: results depend only on the sequence.
fn attend_each_sequence(qkv: &Tensor, context: &LayerContext) -> Result<Tensor> {
    let batch = context.batch;
    let heads = context.heads;
    let head_dim = context.hidden / heads;
    let mut attended = Vec::with_capacity(batch.sequences);
    for (&start, &length) in batch.starts.iter().zip(&batch.lengths) {
        // [length, 3h] -> [3, heads, length, head_dim]
        let qkv = qkv
            .narrow(0, start, length)?
            .reshape((length, 3, heads, head_dim))?
            .permute((1, 2, 0, 3))?;
        let query = qkv.get(0)?.contiguous()?;
        let key = qkv.get(1)?.contiguous()?;
        let value = qkv.get(2)?.contiguous()?;
        let scores = query.matmul(&key.t()?)?;
        let scores = match context.attention_bias {
            Some(bias) => (scores + bias.get(0)?.narrow(1, 0, length)?.narrow(2, 0, length)?)?,
            None => scores,
        };
        scores.inplace_op1(&MaskedSoftmax {
            lengths: &[length],
            heads,
            longest: length,
        })?;
        attended.push(
            scores
                .matmul(&value)?
                .transpose(0, 1)?
                .reshape((length, context.hidden))?,
        );
    }
    Tensor::cat(&attended, 0)
}
