//! Embedding models: a backbone and the sentence-transformers modules after it (pooling, Dense,
//! Normalize), one sequence in, its pipeline vector out (or every token's state).

use std::path::PathBuf;

use candle_core::Device;

use super::{forward, load_backbone, SequenceInput, SequenceModel};
use crate::runner::backbone::{Architecture, Backbone};
use crate::runner::error::RunnerError;
use crate::runner::head::{self, Head, HeadStep};
use crate::runner::kernels::packed;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

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
    ) -> Result<Self, RunnerError> {
        let (backbone, _) = load_backbone(architecture, weights, device, precision)?;
        Ok(Self {
            backbone,
            head: Head::load(head, device)?,
            device: device.clone(),
        })
    }

    /// A model from a backbone already built (the benches' random-weight backbones).
    pub fn from_parts(backbone: Box<dyn Backbone>, head: &[HeadStep], device: &Device) -> Result<Self, RunnerError> {
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

impl SequenceModel for EmbeddingModel {
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError> {
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
