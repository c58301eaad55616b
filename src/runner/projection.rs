//! A linear layer (`x @ W^T + b`) in the model's [`Precision`]: on the CPU, weights packed once
//! for the AVX-512 kernels where the CPU has them; otherwise (GPU, older CPUs, float32 only)
//! candle's matmul.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::packed::{self, PackedLinear};
use super::precision::Precision;

pub enum Projection {
    Candle(Linear),
    Packed(PackedLinear),
}

impl Projection {
    /// Loads `weight` (`[output, input]`) and `bias` under `vb`.
    pub fn load(vb: VarBuilder, input: usize, output: usize, precision: Precision) -> Result<Self> {
        let weight = vb.get((output, input), "weight")?;
        let bias = vb.get(output, "bias")?;
        Self::new(weight, bias, precision)
    }

    pub fn new(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self> {
        if weight.device().is_cpu() && packed::available(precision) {
            return Ok(Self::Packed(PackedLinear::new(&weight, Some(&bias), precision)?));
        }
        if precision != Precision::Float32 {
            candle_core::bail!("{precision} needs a CPU with the packed kernels' instructions");
        }
        Ok(Self::Candle(Linear::new(weight, Some(bias))))
    }

    /// The bias as host values, for kernels that add it themselves; empty when it lives on a GPU.
    pub fn host_bias(&self) -> Result<Vec<f32>> {
        match self {
            Self::Candle(linear) => match linear.bias() {
                Some(bias) if bias.device().is_cpu() => bias.to_vec1::<f32>(),
                _ => Ok(Vec::new()),
            },
            Self::Packed(linear) => Ok(linear.bias().map(<[f32]>::to_vec).unwrap_or_default()),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Candle(linear) => linear.forward(x),
            Self::Packed(linear) => linear.forward(&x.contiguous()?, true),
        }
    }

    /// `x @ W^T`, the bias left for a fused kernel to add.
    pub fn forward_without_bias(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Candle(linear) => x.matmul(&linear.weight().t()?),
            Self::Packed(linear) => linear.forward(&x.contiguous()?, false),
        }
    }
}
