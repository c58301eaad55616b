//! A linear layer (`x @ W^T + b`) in the model's [`Precision`]: candle's float32 matmul, or the
//! packed bfloat16 kernel.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::bf16::PackedBf16Linear;
use super::precision::Precision;

pub enum Projection {
    Float32(Linear),
    BFloat16(PackedBf16Linear),
}

impl Projection {
    /// Loads `weight` (`[output, input]`) and `bias` under `vb`.
    pub fn load(vb: VarBuilder, input: usize, output: usize, precision: Precision) -> Result<Self> {
        let weight = vb.get((output, input), "weight")?;
        let bias = vb.get(output, "bias")?;
        Self::new(weight, bias, precision)
    }

    pub fn new(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self> {
        Ok(match precision {
            Precision::BFloat16 if weight.device().is_cpu() => {
                Self::BFloat16(PackedBf16Linear::new(&weight, Some(&bias))?)
            }
            _ => Self::Float32(Linear::new(weight, Some(bias))),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Float32(linear) => linear.forward(x),
            Self::BFloat16(linear) => linear.forward(&x.contiguous()?, true),
        }
    }

    /// `x @ W^T`, the bias left for a fused kernel to add.
    pub fn forward_without_bias(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Float32(linear) => x.matmul(&linear.weight().t()?),
            Self::BFloat16(linear) => linear.forward(&x.contiguous()?, false),
        }
    }
}
