//! The normalisations the architectures use: LayerNorm with or without a bias, and RMSNorm
//! (Gemma's stores `w - 1`, so its weight is `1 + w`).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

pub enum Norm {
    /// A bias-free LayerNorm holds zeros here.
    Layer {
        weight: Tensor,
        bias: Tensor,
        eps: f32,
    },
    Rms {
        weight: Tensor,
        eps: f32,
    },
}

impl Norm {
    /// LayerNorm with weight and bias (`gamma` / `beta` in checkpoints converted from the
    /// original TensorFlow BERT).
    pub fn layer(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let (weight, bias) = if vb.contains_tensor("weight") {
            (vb.get(size, "weight")?, vb.get(size, "bias")?)
        } else {
            (vb.get(size, "gamma")?, vb.get(size, "beta")?)
        };
        Ok(Self::Layer {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    /// LayerNorm whose checkpoint has no bias (ModernBERT's `norm_bias: false`).
    pub fn layer_without_bias(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let weight = vb.get(size, "weight")?;
        Ok(Self::Layer {
            bias: weight.zeros_like()?,
            weight,
            eps: eps as f32,
        })
    }

    /// RMSNorm: `x / rms(x) * w` (Llama, Qwen, Mistral).
    pub fn rms(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self::Rms {
            weight: vb.get(size, "weight")?,
            eps: eps as f32,
        })
    }

    /// Gemma's RMSNorm: `x / rms(x) * (1 + w)`.
    pub fn rms_one_plus(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self::Rms {
            weight: (vb.get(size, "weight")? + 1.0)?,
            eps: eps as f32,
        })
    }

    /// The same normalisation with its output multiplied by `factor` (a query norm takes the
    /// attention's 1/sqrt(d) this way, since scaling its input would be normalised away).
    pub fn scaled(self, factor: f64) -> Result<Self> {
        Ok(match self {
            Self::Layer { weight, bias, eps } => Self::Layer {
                weight: (weight * factor)?,
                bias: (bias * factor)?,
                eps,
            },
            Self::Rms { weight, eps } => Self::Rms {
                weight: (weight * factor)?,
                eps,
            },
        })
    }

    /// Normalises over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        match self {
            Self::Layer { weight, bias, eps } => candle_nn::ops::layer_norm(&x, weight, bias, *eps),
            Self::Rms { weight, eps } => candle_nn::ops::rms_norm(&x, weight, *eps),
        }
    }
}
