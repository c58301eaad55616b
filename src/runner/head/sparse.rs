//! SPLADE's head: a masked-LM head over every token (transform, then the vocabulary decoder)
//! and sentence-transformers' `SpladePooling` (`log1p(relu(logit))`, max or sum over a text's
//! tokens). The decoder runs a tile of the vocabulary at a time and each tile is pooled at once,
//! so a pass holds `tokens x TILE` logits, never `tokens x vocabulary`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::pooling::PoolingMode;
use super::score::{ScoreHead, ScoreHeadSpec, ScoreStep};
use crate::runner::batch::PackedBatch;
use crate::runner::layers::projection::Projection;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

/// Vocabulary rows per decoder tile: 4,096 x 512 tokens of float32 logits is 8 MiB.
pub const TILE: usize = 4096;

/// How `SpladePooling` folds a text's tokens into one value per vocabulary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpladeStrategy {
    Max,
    Sum,
}

impl SpladeStrategy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Max => "max",
            Self::Sum => "sum",
        }
    }
}

/// A masked-LM head as a checkpoint names it.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedLmSpec {
    /// Hidden to hidden before the decoder (dense, activation, norm).
    pub transform: Vec<ScoreStep>,
    /// The decoder's `[vocab, hidden]` matrix: the first of these names the checkpoint holds
    /// (a tied head stores only the input embeddings).
    pub decoder: Vec<String>,
    /// The decoder's `[vocab]` bias, when it has one: the first of these names present.
    pub bias: Vec<String>,
    pub hidden: usize,
    pub vocab: usize,
}

impl MaskedLmSpec {
    /// The usual masked-LM head: `dense` (hidden to hidden), `activation`, LayerNorm `norm`,
    /// then the decoder (its own weights or the tied input embeddings) and its bias.
    pub fn dense_norm_decoder(
        shape: &ModelShape,
        dense: (&str, bool),
        activation: ScoreStep,
        norm: (&str, f64, bool),
        decoder: &[&str],
        bias: &[&str],
    ) -> Self {
        let hidden = shape.hidden_size;
        Self {
            transform: vec![
                ScoreStep::linear(dense.0, hidden, hidden, dense.1),
                activation,
                ScoreStep::LayerNorm {
                    name: norm.0.to_owned(),
                    size: hidden,
                    eps: norm.1,
                    bias: norm.2,
                },
            ],
            decoder: decoder.iter().map(|&n| n.to_owned()).collect(),
            bias: bias.iter().map(|&n| n.to_owned()).collect(),
            hidden,
            vocab: shape.vocab_size,
        }
    }
}

/// What `SpladePooling` applies to each logit before pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpladeActivation {
    /// `log1p(relu(x))`, every SPLADE model's.
    Relu,
    /// `log1p(log1p(relu(x)))`, OpenSearch's sparse models'.
    Log1pRelu,
}

impl SpladeActivation {
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Log1pRelu => "log1p_relu",
        }
    }

    fn apply(self, x: f32) -> f32 {
        let once = x.max(0.0).ln_1p();
        match self {
            Self::Relu => once,
            Self::Log1pRelu => once.ln_1p(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpladeSpec {
    pub head: MaskedLmSpec,
    pub strategy: SpladeStrategy,
    pub activation: SpladeActivation,
}

pub struct SpladeHead {
    transform: ScoreHead,
    /// The decoder's rows, [`TILE`] at a time.
    tiles: Vec<Projection>,
    strategy: SpladeStrategy,
    activation: SpladeActivation,
}

impl SpladeHead {
    pub fn load(spec: &SpladeSpec, vb: &VarBuilder, precision: Precision) -> Result<Self> {
        let head = &spec.head;
        let transform = ScoreHead::load(
            &ScoreHeadSpec {
                pooling: PoolingMode::Cls,
                steps: head.transform.clone(),
            },
            vb,
        )?;
        let first_present = |names: &[String]| names.iter().find(|name| vb.contains_tensor(name)).cloned();
        let decoder = first_present(&head.decoder)
            .ok_or_else(|| candle_core::Error::Msg(format!("no decoder weights (looked for {:?})", head.decoder)))?;
        let weight = vb.get((head.vocab, head.hidden), &decoder)?;
        let bias = match first_present(&head.bias) {
            Some(name) => Some(vb.get(head.vocab, &name)?),
            None if head.bias.is_empty() => None,
            None => candle_core::bail!("no decoder bias (looked for {:?})", head.bias),
        };
        let mut tiles = Vec::with_capacity(head.vocab.div_ceil(TILE));
        for first in (0..head.vocab).step_by(TILE) {
            let rows = TILE.min(head.vocab - first);
            let tile_bias = bias.as_ref().map(|b| b.narrow(0, first, rows)).transpose()?;
            tiles.push(Projection::new(
                weight.narrow(0, first, rows)?.contiguous()?,
                tile_bias,
                precision,
            )?);
        }
        Ok(Self {
            transform,
            tiles,
            strategy: spec.strategy,
            activation: spec.activation,
        })
    }

    /// Every sequence's nonzero pooled values, from the backbone's `[tokens, hidden]`. A pass
    /// holds one tile's logits (`tokens x TILE`) and each sequence's nonzero entries, never a
    /// row as wide as the vocabulary.
    pub fn forward(&self, hidden: &Tensor, batch: &PackedBatch) -> Result<Vec<SparseVector>> {
        let transformed = self.transform.forward(hidden.clone())?.contiguous()?;
        let mut pooled = vec![SparseVector::default(); batch.sequences];
        let mut first = 0u32;
        for tile in &self.tiles {
            let logits = tile.forward(&transformed)?;
            let width = logits.dim(1)?;
            let logits = logits.flatten_all()?.to_vec1::<f32>()?;
            for (sequence, vector) in pooled.iter_mut().enumerate() {
                let rows = &logits[batch.starts[sequence] * width..][..batch.lengths[sequence] * width];
                for (column, value) in pool_tile(rows, width, self.strategy, self.activation)
                    .into_iter()
                    .enumerate()
                {
                    if value != 0.0 {
                        vector.indices.push(first + column as u32);
                        vector.values.push(value);
                    }
                }
            }
            first += width as u32;
        }
        Ok(pooled)
    }
}

/// One sequence's logits for one tile (`rows` is `[tokens, width]`) to one value per column.
fn pool_tile(rows: &[f32], width: usize, strategy: SpladeStrategy, activation: SpladeActivation) -> Vec<f32> {
    let activated = |x: f32| activation.apply(x);
    match strategy {
        // Both activations rise with their input, so the max of the activated values is the
        // activation of the max logit.
        SpladeStrategy::Max => {
            let mut best = vec![f32::NEG_INFINITY; width];
            for row in rows.chunks_exact(width) {
                for (b, &x) in best.iter_mut().zip(row) {
                    *b = b.max(x);
                }
            }
            best.into_iter().map(activated).collect()
        }
        SpladeStrategy::Sum => {
            let mut sum = vec![0f32; width];
            for row in rows.chunks_exact(width) {
                for (s, &x) in sum.iter_mut().zip(row) {
                    *s += activated(x);
                }
            }
            sum
        }
    }
}

/// Vocabulary indices travel through the engine as `f32` (see [`SparseVector::to_flat`]),
/// exact below 2^24.
pub const MAX_VOCAB: usize = 1 << 24;

/// The nonzero entries of a vector over the vocabulary, indices ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// The form the engine carries every model's output in (a `Vec<f32>` per sequence):
    /// `[index, value, index, value, ...]`, each index an exact `f32` integer (below
    /// [`MAX_VOCAB`]).
    pub fn to_flat(&self) -> Vec<f32> {
        self.indices
            .iter()
            .zip(&self.values)
            .flat_map(|(&i, &v)| [i as f32, v])
            .collect()
    }

    pub fn from_flat(flat: &[f32]) -> Self {
        let (indices, values) = flat.chunks_exact(2).map(|pair| (pair[0] as u32, pair[1])).unzip();
        Self { indices, values }
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Keeps the `k` largest values (sentence-transformers' `max_active_dims`), indices still
    /// ascending; of equal values the lower index stays.
    pub fn keep_largest(mut self, k: usize) -> Self {
        if self.len() <= k {
            return self;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self.values[b].total_cmp(&self.values[a]).then(a.cmp(&b)));
        order.truncate(k);
        order.sort_unstable();
        self.indices = order.iter().map(|&i| self.indices[i]).collect();
        self.values = order.iter().map(|&i| self.values[i]).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_vector_survives_the_flat_form_and_keeps_its_largest() {
        let vector = SparseVector {
            indices: vec![1, 3, 4, 5],
            values: vec![2.5, 1.0, 2.5, 0.25],
        };
        assert_eq!(vector.indices, vec![1, 3, 4, 5]);
        let wide = SparseVector {
            indices: vec![0, (MAX_VOCAB - 1) as u32],
            values: vec![1.0, 2.0],
        };
        assert_eq!(SparseVector::from_flat(&wide.to_flat()), wide);
        assert_eq!(SparseVector::from_flat(&vector.to_flat()), vector);
        let top = vector.clone().keep_largest(2);
        assert_eq!((top.indices, top.values), (vec![1, 4], vec![2.5, 2.5]));
        let top = vector.clone().keep_largest(3);
        assert_eq!(top.indices, vec![1, 3, 4]);
        assert_eq!(vector.clone().keep_largest(10), vector);
    }

    #[test]
    fn a_tile_pools_log1p_relu_by_max_or_sum() {
        // Two tokens, three columns.
        let rows = [1.0f32, -2.0, 0.5, 3.0, -1.0, 0.0];
        let max = pool_tile(&rows, 3, SpladeStrategy::Max, SpladeActivation::Relu);
        assert_eq!(max, vec![3f32.ln_1p(), 0.0, 0.5f32.ln_1p()]);
        let sum = pool_tile(&rows, 3, SpladeStrategy::Sum, SpladeActivation::Relu);
        assert_eq!(sum, vec![1f32.ln_1p() + 3f32.ln_1p(), 0.0, 0.5f32.ln_1p()]);
        let twice = pool_tile(&rows, 3, SpladeStrategy::Max, SpladeActivation::Log1pRelu);
        assert_eq!(twice, vec![3f32.ln_1p().ln_1p(), 0.0, 0.5f32.ln_1p().ln_1p()]);
    }
}
