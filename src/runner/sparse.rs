//! Sparse models: a backbone and a [`SpladeHead`], one text in, its weight for every vocabulary
//! entry out, kept as the nonzero entries only ([`SparseVector`]).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::backbone::{Architecture, Backbone};
use super::head::sparse::{SpladeHead, SpladeSpec};
use super::kernels::packed;
use super::precision::Precision;
use super::shape::ModelShape;
use super::{forward, load_backbone, Embedder, SequenceInput};

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

/// A `SparseStaticEmbedding`: one weight per vocabulary entry (IDF-like), a text's vector is
/// the weight of every distinct token it has.
pub struct StaticWeights {
    weights: Vec<f32>,
}

impl StaticWeights {
    /// Reads `weight` (`[vocab]`) from the module's safetensors file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)?;
        let weight = tensors
            .get("weight")
            .ok_or_else(|| anyhow::anyhow!("{} has no tensor named weight", path.display()))?;
        let weights = weight.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        anyhow::ensure!(
            weights.len() <= MAX_VOCAB,
            "a vocabulary of {} is too large",
            weights.len()
        );
        Ok(Self { weights })
    }

    pub fn vocab_size(&self) -> usize {
        self.weights.len()
    }

    /// The vector of a text's token ids (those outside the table are skipped).
    pub fn vector(&self, ids: &[u32]) -> SparseVector {
        let mut distinct: Vec<u32> = ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let (indices, values) = distinct
            .into_iter()
            .filter_map(|id| self.weights.get(id as usize).map(|&w| (id, w)))
            .filter(|&(_, w)| w != 0.0)
            .unzip();
        SparseVector { indices, values }
    }
}

pub struct SparseModel {
    backbone: Box<dyn Backbone>,
    head: SpladeHead,
    device: Device,
}

impl SparseModel {
    /// Maps the checkpoint's weights (the backbone, and the masked-LM head beside it) onto
    /// `device`.
    pub fn load(
        architecture: &dyn Architecture,
        weights: &[PathBuf],
        head: &SpladeSpec,
        device: &Device,
        precision: Precision,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            head.head.vocab <= MAX_VOCAB,
            "a vocabulary of {} is more than a sparse model may have ({MAX_VOCAB})",
            head.head.vocab
        );
        let (backbone, vb) = load_backbone(architecture, weights, device, precision)?;
        let head = SpladeHead::load(head, &vb, precision)
            .map_err(|e| anyhow::anyhow!("cannot load the masked-LM head: {e}"))?;
        Ok(Self {
            backbone,
            head,
            device: device.clone(),
        })
    }

    /// A model from a backbone already built (the benches' random-weight backbones).
    pub fn from_parts(backbone: Box<dyn Backbone>, head: SpladeHead, device: &Device) -> Self {
        Self {
            backbone,
            head,
            device: device.clone(),
        }
    }

    pub fn shape(&self) -> &ModelShape {
        self.backbone.shape()
    }
}

impl Embedder for SparseModel {
    /// Each sequence's [`SparseVector`] in its flat form.
    fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let _pass = packed::ForwardPass::begin();
        let (batch, hidden) = forward(self.backbone.as_ref(), sequences, &self.device)?;
        let pooled = self.head.forward(&hidden, &batch)?;
        Ok(pooled.iter().map(SparseVector::to_flat).collect())
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
    fn a_static_vector_weighs_each_distinct_token_once() {
        let table = StaticWeights {
            weights: vec![0.5, 0.0, 2.0, 1.5],
        };
        let vector = table.vector(&[3, 2, 3, 1, 9]);
        assert_eq!((vector.indices, vector.values), (vec![2, 3], vec![2.0, 1.5]));
    }
}
