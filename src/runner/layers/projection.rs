//! A linear layer (`x @ W^T (+ b)`) in the model's [`Precision`]: on the CPU, weights packed
//! once for the AVX-512 kernels where the CPU has them; otherwise (GPU, older CPUs, float32
//! only) candle's matmul.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::runner::kernels::packed::{self, PackedLinear};
use crate::runner::precision::Precision;

pub enum Projection {
    Candle(Linear),
    Packed(PackedLinear),
}

/// Whether a checkpoint's linear layer has a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    With,
    Without,
}

impl Projection {
    /// Loads `weight` (`[output, input]`) and, with [`Bias::With`], `bias` under `vb`.
    pub fn load(vb: VarBuilder, input: usize, output: usize, bias: Bias, precision: Precision) -> Result<Self> {
        let (weight, bias) = read_linear(&vb, input, output, bias)?;
        Self::new(weight, bias, precision)
    }

    pub fn new(weight: Tensor, bias: Option<Tensor>, precision: Precision) -> Result<Self> {
        if weight.device().is_cpu() && packed::available(precision) {
            return Ok(Self::Packed(PackedLinear::new(&weight, bias.as_ref(), precision)?));
        }
        if precision != Precision::Float32 {
            candle_core::bail!("{precision} needs a CPU with the packed kernels' instructions");
        }
        Ok(Self::Candle(Linear::new(weight, bias)))
    }

    /// The bias as host values, for kernels that add it themselves; empty when there is none
    /// or it lives on a GPU.
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

/// Stacks the rows of several `[out_i, in]` weights (and their biases, all or none) into one
/// projection's, so that one matmul computes them all.
pub fn stack_rows(weights: &[Tensor], biases: &[Option<Tensor>]) -> Result<(Tensor, Option<Tensor>)> {
    let weight = Tensor::cat(weights, 0)?;
    let bias = if biases.iter().all(Option::is_some) {
        let parts: Vec<Tensor> = biases.iter().flatten().cloned().collect();
        Some(Tensor::cat(&parts, 0)?)
    } else if biases.iter().all(Option::is_none) {
        None
    } else {
        candle_core::bail!("some of the stacked projections have a bias and some do not")
    };
    Ok((weight, bias))
}

/// A checkpoint's `[output, input]` weight and (with [`Bias::With`]) bias under `vb`, as tensors.
pub fn read_linear(vb: &VarBuilder, input: usize, output: usize, bias: Bias) -> Result<(Tensor, Option<Tensor>)> {
    let weight = vb.get((output, input), "weight")?;
    let bias = match bias {
        Bias::With => Some(vb.get(output, "bias")?),
        Bias::Without => None,
    };
    Ok((weight, bias))
}

impl Bias {
    pub fn when(present: bool) -> Self {
        if present {
            Self::With
        } else {
            Self::Without
        }
    }
}
