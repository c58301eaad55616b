//! Scoring models: a backbone and a [`ScoreHead`], one sequence (a text, or a query and
//! document pair) in, its logits out. Cross-encoders, classifiers and LLM rerankers all run
//! here; what the logits mean (the activation, the labels) is the caller's.

use std::path::PathBuf;

use candle_core::Device;

use super::{forward, load_backbone, SequenceInput, SequenceModel};
use crate::runner::backbone::{Architecture, Backbone};
use crate::runner::error::RunnerError;
use crate::runner::head::pooling::{pool, Pooling, PoolingModes};
use crate::runner::head::score::{ScoreHead, ScoreHeadSpec};
use crate::runner::kernels::packed;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

pub struct ScoringModel {
    backbone: Box<dyn Backbone>,
    head: ScoreHead,
    device: Device,
}

impl ScoringModel {
    /// Maps the checkpoint's weights (the backbone, and the head beside it) onto `device`.
    pub fn load(
        architecture: &dyn Architecture,
        weights: &[PathBuf],
        head: &ScoreHeadSpec,
        device: &Device,
        precision: Precision,
    ) -> Result<Self, RunnerError> {
        let (backbone, vb) = load_backbone(architecture, weights, device, precision)?;
        let head = ScoreHead::load(head, &vb)
            .map_err(|e| RunnerError::Weights(format!("cannot load the scoring head: {e}")))?;
        Ok(Self {
            backbone,
            head,
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

impl SequenceModel for ScoringModel {
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let _pass = packed::ForwardPass::begin();
        let (batch, hidden) = forward(self.backbone.as_ref(), sequences, &self.device)?;
        let members: Vec<usize> = (0..sequences.len()).collect();
        let pooling = Pooling::new(PoolingModes::single(self.head.pooling()));
        let pooled = pool(&hidden, &batch, &members, pooling)?;
        Ok(self.head.forward(pooled)?.to_vec2::<f32>()?)
    }
}
