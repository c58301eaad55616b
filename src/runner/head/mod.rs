//! The modules after pooling in a sentence-transformers pipeline: `Dense` layers (a linear map
//! and an activation) and `Normalize`; and, in [`score`], the heads of scoring models.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

pub mod pooling;
pub mod score;
pub mod sparse;

use super::error::RunnerError;
use pooling::l2_normalize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseActivation {
    Identity,
    Tanh,
    Relu,
    /// torch.nn.GELU's default, the exact erf form.
    Gelu,
    Sigmoid,
}

impl DenseActivation {
    /// Reads the `activation_function` of a Dense config (`torch.nn.modules.activation.Tanh`,
    /// `torch.nn.Tanh`, ...) by its class name.
    pub fn parse(path: &str) -> Option<Self> {
        match path.rsplit('.').next()? {
            "Identity" => Some(Self::Identity),
            "Tanh" => Some(Self::Tanh),
            "ReLU" => Some(Self::Relu),
            "GELU" => Some(Self::Gelu),
            "Sigmoid" => Some(Self::Sigmoid),
            _ => None,
        }
    }

    /// The torch class name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "Identity",
            Self::Tanh => "Tanh",
            Self::Relu => "ReLU",
            Self::Gelu => "GELU",
            Self::Sigmoid => "Sigmoid",
        }
    }

    pub(crate) fn apply(self, x: Tensor) -> Result<Tensor> {
        match self {
            Self::Identity => Ok(x),
            Self::Tanh => x.tanh(),
            Self::Relu => x.relu(),
            Self::Gelu => x.gelu_erf(),
            Self::Sigmoid => candle_nn::ops::sigmoid(&x),
        }
    }
}

/// A Dense module as its folder describes it.
#[derive(Debug, Clone)]
pub struct DenseSpec {
    /// The module's folder in the snapshot (`2_Dense`), for messages.
    pub folder: String,
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
    pub activation: DenseActivation,
    pub weights: Option<PathBuf>,
}

struct Dense {
    weight: Tensor,
    bias: Option<Tensor>,
    activation: DenseActivation,
}

impl Dense {
    fn load(spec: &DenseSpec, weights: &Path, device: &Device) -> Result<Self> {
        // SAFETY: as for the encoder weights: a read-only map of a file nothing rewrites in place.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let vb = vb.pp("linear");
        Ok(Self {
            weight: vb.get((spec.out_features, spec.in_features), "weight")?,
            bias: if spec.bias {
                Some(vb.get(spec.out_features, "bias")?)
            } else {
                None
            },
            activation: spec.activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        self.activation.apply(y)
    }
}

/// A module after pooling, as the snapshot describes it.
#[derive(Debug, Clone)]
pub enum HeadStep {
    Dense(DenseSpec),
    Normalize,
}

enum LoadedStep {
    Dense(Dense),
    Normalize,
}

/// Everything after pooling, in the snapshot's order.
pub struct Head {
    steps: Vec<LoadedStep>,
}

impl Head {
    pub fn load(steps: &[HeadStep], device: &Device) -> std::result::Result<Self, RunnerError> {
        let steps = steps
            .iter()
            .map(|step| match step {
                HeadStep::Normalize => Ok(LoadedStep::Normalize),
                HeadStep::Dense(spec) => {
                    let weights = spec.weights.as_deref().ok_or_else(|| {
                        RunnerError::Weights(format!(
                            "{} has no model.safetensors (only safetensors weights are supported)",
                            spec.folder
                        ))
                    })?;
                    let dense = Dense::load(spec, weights, device)
                        .map_err(|e| RunnerError::Weights(format!("{}: {e}", spec.folder)))?;
                    Ok(LoadedStep::Dense(dense))
                }
            })
            .collect::<std::result::Result<Vec<_>, RunnerError>>()?;
        Ok(Self { steps })
    }

    pub fn forward(&self, pooled: Tensor) -> Result<Tensor> {
        let mut x = pooled;
        for step in &self.steps {
            x = match step {
                LoadedStep::Dense(dense) => dense.forward(&x)?,
                LoadedStep::Normalize => l2_normalize(&x)?,
            };
        }
        Ok(x)
    }
}
