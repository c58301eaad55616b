//! The feed-forward halves of the blocks: a plain two-matrix MLP with an activation (BERT,
//! MPNet, ...) and gated ones (SwiGLU, GeGLU), whose up and gate matrices run as one matmul.

use candle_core::{Result, Tensor};

use super::projection::Projection;
use crate::runner::kernels::fused::BiasGelu;

/// An MLP's activation, read from transformers' `hidden_act` / `hidden_activation` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Activation {
    /// The exact erf form, which BERT's `gelu` means and the weights were trained with.
    GeluErf,
    GeluTanh,
    Relu,
    /// SiLU (swish), SwiGLU's gate.
    Silu,
}

impl TryFrom<String> for Activation {
    type Error = String;

    fn try_from(name: String) -> std::result::Result<Self, String> {
        match name.as_str() {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(format!("unsupported hidden activation {other:?}")),
        }
    }
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::GeluErf => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
            Self::Silu => x.silu(),
        }
    }
}

pub enum Mlp {
    /// `down(act(up(x)))`.
    Plain {
        up: Projection,
        /// The up bias on the host, for the fused CPU bias + GELU kernel.
        up_bias: Vec<f32>,
        activation: Activation,
        down: Projection,
    },
    /// `down(act(gate(x)) * up(x))`; `gate_up` holds the gate's rows, then the up rows.
    Gated {
        gate_up: Projection,
        intermediate: usize,
        activation: Activation,
        down: Projection,
    },
}

impl Mlp {
    pub fn plain(up: Projection, activation: Activation, down: Projection) -> Result<Self> {
        Ok(Self::Plain {
            up_bias: up.host_bias()?,
            up,
            activation,
            down,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Plain {
                up,
                up_bias,
                activation,
                down,
            } => {
                let activated = if *activation == Activation::GeluErf && !up_bias.is_empty() {
                    let expanded = up.forward_without_bias(x)?;
                    expanded.inplace_op1(&BiasGelu(up_bias))?;
                    expanded
                } else {
                    activation.apply(&up.forward(x)?)?
                };
                down.forward(&activated)
            }
            Self::Gated {
                gate_up,
                intermediate,
                activation,
                down,
            } => {
                let both = gate_up.forward(x)?;
                let gate = activation.apply(&both.narrow(1, 0, *intermediate)?.contiguous()?)?;
                let up = both.narrow(1, *intermediate, *intermediate)?;
                down.forward(&(gate * up)?)
            }
        }
    }
}
