//! Multi-head attention for every architecture: one fused query/key/value projection (biases
//! optional), optional per-head query and key norms, optional rotary positions, grouped-query
//! heads (several query heads share a key/value head) and any [`MaskKind`], then the output
//! projection. Queries are pre-scaled by the attention scale at load (in the query weights, or
//! in the query norm where there is one), so the scores need no scaling pass.
//!
//! Four ways to run it: over the padded batch with the CPU's fused masked softmax, one sequence
//! at a time (bfloat16 on the CPU, so that a result never depends on the rest of the batch),
//! in tiles with an online softmax for long sequences on the CPU ([`TILED_FROM`]), or with
//! candle's softmax and an additive mask (GPUs). A score bias (a position layer's, see
//! [`super::position_bias`]) is added to the materialised scores; the tiled path takes none.

use candle_core::{Result, Tensor};

use super::norm::Norm;
use super::projection::{stack_rows, Projection};
use super::rotary::{RotaryBase, RotaryTables};
use crate::runner::batch::PackedBatch;
use crate::runner::kernels::fused::MaskedSoftmax;
use crate::runner::kernels::tiled_attention::{self, TILED_FROM};
use crate::runner::mask::{additive_mask, MaskKind};
use crate::runner::precision::Precision;

/// What one layer's attention is made of, as the architecture's module reads it.
pub struct AttentionParts {
    /// Rows `[query; key; value]`, `[(heads + 2 kv_heads) * head_dim, hidden]`, unscaled.
    pub qkv_weight: Tensor,
    pub qkv_bias: Option<Tensor>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// What the scores are multiplied by (1/sqrt(head_dim) unless the model says otherwise).
    pub scale: f64,
    pub query_norm: Option<Norm>,
    pub key_norm: Option<Norm>,
    /// Which of the model's rotary bases this layer's queries and keys turn by, if any.
    pub rotary: Option<RotaryBase>,
    pub mask: MaskKind,
    pub output_weight: Tensor,
    pub output_bias: Option<Tensor>,
}

impl AttentionParts {
    /// An encoder's attention: as many key/value heads as query heads, scores scaled by
    /// 1/sqrt(head_dim), no query/key norms.
    pub fn encoder(
        (qkv_weight, qkv_bias): (Tensor, Option<Tensor>),
        (output_weight, output_bias): (Tensor, Option<Tensor>),
        heads: usize,
        head_dim: usize,
        rotary: Option<RotaryBase>,
        mask: MaskKind,
    ) -> Self {
        Self {
            qkv_weight,
            qkv_bias,
            heads,
            kv_heads: heads,
            head_dim,
            scale: 1.0 / (head_dim as f64).sqrt(),
            query_norm: None,
            key_norm: None,
            rotary,
            mask,
            output_weight,
            output_bias,
        }
    }

    /// The fused projection from separate query, key and value weights (and biases).
    pub fn stack(
        query: (Tensor, Option<Tensor>),
        key: (Tensor, Option<Tensor>),
        value: (Tensor, Option<Tensor>),
    ) -> Result<(Tensor, Option<Tensor>)> {
        stack_rows(&[query.0, key.0, value.0], &[query.1, key.1, value.1])
    }
}

pub struct Attention {
    qkv: Projection,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    query_norm: Option<Norm>,
    key_norm: Option<Norm>,
    rotary: Option<RotaryBase>,
    mask: MaskKind,
    output: Projection,
}

/// Per-forward settings every layer shares.
pub struct AttentionContext<'a> {
    pub batch: &'a PackedBatch,
    /// The model's rotary tables for this batch's positions, if it has rotary positions.
    pub rotary: Option<&'a RotaryTables>,
    /// `[1, heads, longest, longest]`, added to every sequence's scores.
    pub bias: Option<&'a Tensor>,
    /// Attend one sequence at a time instead of over the padded batch, so that every result is
    /// bit-for-bit the same whatever else is in the batch. bfloat16 on `vdpbf16ps` needs it:
    /// there a last-bit difference in an activation can flip its rounding to bfloat16 and grow
    /// (the widening kernels keep activations in float32, as float32 does).
    pub per_sequence: bool,
    /// Off the CPU: the additive mask of each mask kind the model uses, for this batch.
    pub gpu_masks: &'a [(MaskKind, Tensor)],
}

/// The sequences one attention call covers: the whole padded batch, or one sequence.
struct Group<'a> {
    sequences: usize,
    longest: usize,
    lengths: &'a [usize],
    /// Packed rows to padded slots and back, when lengths differ.
    padding: Option<(&'a Tensor, &'a Tensor)>,
}

impl Attention {
    pub fn new(parts: AttentionParts, precision: Precision) -> Result<Self> {
        let query_rows = parts.heads * parts.head_dim;
        let total_rows = (parts.heads + 2 * parts.kv_heads) * parts.head_dim;
        if parts.qkv_weight.dim(0)? != total_rows {
            candle_core::bail!(
                "the query/key/value projection has {} rows, not the {total_rows} of {} query and {} key/value heads of {}",
                parts.qkv_weight.dim(0)?,
                parts.heads,
                parts.kv_heads,
                parts.head_dim
            );
        }
        let scale_queries = |x: &Tensor| -> Result<Tensor> {
            let rest = x.dim(0)? - query_rows;
            Tensor::cat(
                &[
                    (x.narrow(0, 0, query_rows)? * parts.scale)?,
                    x.narrow(0, query_rows, rest)?,
                ],
                0,
            )
        };
        let (weight, bias, query_norm) = match parts.query_norm {
            Some(norm) => (parts.qkv_weight, parts.qkv_bias, Some(norm.scaled(parts.scale)?)),
            None => (
                scale_queries(&parts.qkv_weight)?,
                parts.qkv_bias.as_ref().map(scale_queries).transpose()?,
                None,
            ),
        };
        Ok(Self {
            qkv: Projection::new(weight, bias, precision)?,
            heads: parts.heads,
            kv_heads: parts.kv_heads,
            head_dim: parts.head_dim,
            query_norm,
            key_norm: parts.key_norm,
            rotary: parts.rotary,
            mask: parts.mask,
            output: Projection::new(parts.output_weight, parts.output_bias, precision)?,
        })
    }

    /// `[tokens, hidden]` in, the attention's output projection `[tokens, hidden]` out.
    pub fn forward(&self, x: &Tensor, context: &AttentionContext) -> Result<Tensor> {
        let (q, k, v) = self.project(x, context)?;
        let batch = context.batch;
        let attended = if x.device().is_cpu() && context.bias.is_none() && batch.longest >= TILED_FROM {
            self.attend_tiled(&q, &k, &v, batch)?
        } else if context.per_sequence {
            let mut parts = Vec::with_capacity(batch.sequences);
            for (index, (&start, &length)) in batch.starts.iter().zip(&batch.lengths).enumerate() {
                let group = Group {
                    sequences: 1,
                    longest: length,
                    lengths: &batch.lengths[index..index + 1],
                    padding: None,
                };
                let rows = |t: &Tensor| t.narrow(0, start, length);
                parts.push(self.attend(&rows(&q)?, &rows(&k)?, &rows(&v)?, &group, context)?);
            }
            Tensor::cat(&parts, 0)?
        } else {
            let group = Group {
                sequences: batch.sequences,
                longest: batch.longest,
                lengths: &batch.lengths,
                padding: batch.padding.as_ref().map(|p| (&p.gather, &p.scatter)),
            };
            self.attend(&q, &k, &v, &group, context)?
        };
        self.output.forward(&attended)
    }

    /// Each sequence through [`tiled_attention`], whose memory grows linearly with its length.
    fn attend_tiled(&self, q: &Tensor, k: &Tensor, v: &Tensor, batch: &PackedBatch) -> Result<Tensor> {
        let host = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<f32>();
        let (q, k, v) = (host(q)?, host(k)?, host(v)?);
        let shape = tiled_attention::Heads {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        };
        let (q_width, kv_width) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let mut out = Vec::with_capacity(q.len());
        for (&start, &length) in batch.starts.iter().zip(&batch.lengths) {
            out.extend(tiled_attention::attend(
                &q[start * q_width..(start + length) * q_width],
                &k[start * kv_width..(start + length) * kv_width],
                &v[start * kv_width..(start + length) * kv_width],
                length,
                shape,
                self.mask,
            ));
        }
        let tokens = out.len() / q_width;
        Tensor::from_vec(out, (tokens, q_width), batch.device())
    }

    /// Queries `[tokens, heads * d]`, keys and values `[tokens, kv_heads * d]`, normed and
    /// rotated where the model does so.
    fn project(&self, x: &Tensor, context: &AttentionContext) -> Result<(Tensor, Tensor, Tensor)> {
        let qkv = self.qkv.forward(x)?;
        let tokens = qkv.dim(0)?;
        let (q_width, kv_width) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let mut q = qkv.narrow(1, 0, q_width)?;
        let mut k = qkv.narrow(1, q_width, kv_width)?;
        let v = qkv.narrow(1, q_width + kv_width, kv_width)?;
        if self.query_norm.is_some() || self.key_norm.is_some() || self.rotary.is_some() {
            let mut q3 = q.reshape((tokens, self.heads, self.head_dim))?;
            let mut k3 = k.reshape((tokens, self.kv_heads, self.head_dim))?;
            if let Some(norm) = &self.query_norm {
                q3 = norm.forward(&q3)?;
            }
            if let Some(norm) = &self.key_norm {
                k3 = norm.forward(&k3)?;
            }
            if let Some(base) = self.rotary {
                let table = context
                    .rotary
                    .ok_or_else(|| candle_core::Error::Msg("no rotary tables for this layer".into()))?
                    .get(base)?;
                q3 = table.apply(&q3)?;
                k3 = table.apply(&k3)?;
            }
            q = q3.reshape((tokens, q_width))?;
            k = k3.reshape((tokens, kv_width))?;
        }
        Ok((q, k, v))
    }

    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, group: &Group, context: &AttentionContext) -> Result<Tensor> {
        let (b, l, d) = (group.sequences, group.longest, self.head_dim);
        let (heads, kv_heads) = (self.heads, self.kv_heads);
        let groups = heads / kv_heads;
        // [tokens, n * d] -> [b, n, l, d]
        let padded = |x: &Tensor, n: usize| -> Result<Tensor> {
            let x = match group.padding {
                Some((gather, _)) => x.contiguous()?.index_select(gather, 0)?,
                None => x.clone(),
            };
            x.reshape((b, l, n, d))?.transpose(1, 2)?.contiguous()
        };
        // Query head h uses key/value head h / groups: as [b, kv_heads, groups * l, d], every
        // query row of a group meets its shared keys in one matmul.
        let query = padded(q, heads)?.reshape((b, kv_heads, groups * l, d))?;
        let key = padded(k, kv_heads)?;
        let value = padded(v, kv_heads)?;
        let scores = query.matmul(&key.t()?)?.reshape((b, heads, l, l))?;
        let scores = match context.bias {
            // Built for the batch's longest sequence; one sequence alone takes its corner.
            Some(bias) => scores.broadcast_add(&bias.narrow(2, 0, l)?.narrow(3, 0, l)?)?,
            None => scores,
        };
        let weights = if scores.device().is_cpu() {
            scores.inplace_op1(&MaskedSoftmax {
                lengths: group.lengths,
                heads,
                longest: l,
                mask: self.mask,
            })?;
            scores
        } else {
            let mask = match context.gpu_masks.iter().find(|(kind, _)| *kind == self.mask) {
                Some((_, mask)) if b == context.batch.sequences => mask.clone(),
                _ => additive_mask(self.mask, group.lengths, l, scores.device())?,
            };
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)?
        };
        let attended = weights
            .reshape((b, kv_heads, groups * l, l))?
            .matmul(&value)?
            .reshape((b, heads, l, d))?
            .transpose(1, 2)?
            .reshape((b * l, heads * d))?;
        match group.padding {
            Some((_, scatter)) => attended.index_select(scatter, 0),
            None => Ok(attended),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::runner::shape::Positions;

    /// The tiled path against the materialised one on a batch of two long sequences of
    /// different lengths, grouped-query heads, for every mask kind.
    #[test]
    fn tiled_attention_agrees_with_the_materialised_scores() {
        let (heads, kv_heads, head_dim) = (4, 2, 8);
        let hidden = heads * head_dim;
        let ids: Vec<Vec<u32>> = [1100usize, 1030].iter().map(|&n| vec![5u32; n]).collect();
        let sequences: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let batch = PackedBatch::new(&sequences, Positions::FromZero, &Device::Cpu).expect("batch");
        let tokens = batch.starts[1] + batch.lengths[1];
        let random = |rows: usize, cols: usize| Tensor::randn(0f32, 1.0, (rows, cols), &Device::Cpu).expect("random");
        let (q, k, v) = (
            random(tokens, hidden),
            random(tokens, kv_heads * head_dim),
            random(tokens, kv_heads * head_dim),
        );
        for mask in [
            MaskKind::Full,
            MaskKind::Causal,
            MaskKind::CausalWindow(300),
            MaskKind::Local(64),
        ] {
            let attention = Attention::new(
                AttentionParts {
                    qkv_weight: random((heads + 2 * kv_heads) * head_dim, hidden),
                    qkv_bias: None,
                    heads,
                    kv_heads,
                    head_dim,
                    scale: 1.0,
                    query_norm: None,
                    key_norm: None,
                    rotary: None,
                    mask,
                    output_weight: random(hidden, hidden),
                    output_bias: None,
                },
                Precision::Float32,
            )
            .expect("attention");
            let context = AttentionContext {
                batch: &batch,
                rotary: None,
                bias: None,
                per_sequence: false,
                gpu_masks: &[],
            };
            let group = Group {
                sequences: batch.sequences,
                longest: batch.longest,
                lengths: &batch.lengths,
                padding: batch.padding.as_ref().map(|p| (&p.gather, &p.scatter)),
            };
            let dense = attention.attend(&q, &k, &v, &group, &context).expect("dense");
            let tiled = attention.attend_tiled(&q, &k, &v, &batch).expect("tiled");
            let diff = (dense - tiled)
                .and_then(|d| d.abs())
                .and_then(|d| d.flatten_all())
                .and_then(|d| d.max(0))
                .and_then(|d| d.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-5, "{mask:?}: {diff}");
        }
    }
}
