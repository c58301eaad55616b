//! Sparse models: a backbone and a [`SpladeHead`], one text in, its weight for every vocabulary
//! entry out, kept as the nonzero entries only ([`SparseVector`]).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::{forward, load_backbone, SequenceInput, SequenceModel};
use crate::runner::backbone::{Architecture, Backbone};
use crate::runner::error::RunnerError;
use crate::runner::head::sparse::{SparseVector, SpladeHead, SpladeSpec, MAX_VOCAB};
use crate::runner::kernels::packed;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

/// A `SparseStaticEmbedding`: one weight per vocabulary entry (IDF-like), a text's vector is
/// the weight of every distinct token it has.
pub struct StaticWeights {
    weights: Vec<f32>,
}

impl StaticWeights {
    /// Reads `weight` (`[vocab]`) from the module's safetensors file.
    pub fn load(path: &Path) -> Result<Self, RunnerError> {
        let unreadable = |e: candle_core::Error| RunnerError::Weights(format!("{}: {e}", path.display()));
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(unreadable)?;
        let weight = tensors
            .get("weight")
            .ok_or_else(|| RunnerError::Weights(format!("{} has no tensor named weight", path.display())))?;
        let weights = weight
            .to_dtype(candle_core::DType::F32)
            .and_then(|w| w.to_vec1::<f32>())
            .map_err(unreadable)?;
        if weights.len() > MAX_VOCAB {
            return Err(RunnerError::Weights(format!(
                "a vocabulary of {} is too large",
                weights.len()
            )));
        }
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
    ) -> Result<Self, RunnerError> {
        if head.head.vocab > MAX_VOCAB {
            return Err(RunnerError::Weights(format!(
                "a vocabulary of {} is more than a sparse model may have ({MAX_VOCAB})",
                head.head.vocab
            )));
        }
        let (backbone, vb) = load_backbone(architecture, weights, device, precision)?;
        let head = SpladeHead::load(head, &vb, precision)
            .map_err(|e| RunnerError::Weights(format!("cannot load the masked-LM head: {e}")))?;
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

impl SequenceModel for SparseModel {
    /// Each sequence's [`SparseVector`] in its flat form.
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError> {
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
    fn a_static_vector_weighs_each_distinct_token_once() {
        let table = StaticWeights {
            weights: vec![0.5, 0.0, 2.0, 1.5],
        };
        let vector = table.vector(&[3, 2, 3, 1, 9]);
        assert_eq!((vector.indices, vector.values), (vec![2, 3], vec![2.0, 1.5]));
    }
}
