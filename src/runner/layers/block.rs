//! The two transformer blocks every architecture is built from, on packed `[tokens, hidden]`
//! activations:
//! - post-norm (BERT, NomicBERT, GTE): `x = norm(x + attention(x)); x = norm(x + mlp(x))`;
//! - pre-norm (ModernBERT and the decoders): `x = x + attention(norm(x))`, then the same for the
//!   MLP, with Gemma's extra norms on each branch's output.

use candle_core::{Result, Tensor};

use super::attention::{Attention, AttentionContext};
use super::mlp::Mlp;
use super::norm::Norm;

pub enum Block {
    PostNorm {
        attention: Attention,
        attention_norm: Norm,
        mlp: Mlp,
        mlp_norm: Norm,
    },
    PreNorm {
        /// `None`: the identity (ModernBERT's first layer).
        attention_norm: Option<Norm>,
        attention: Attention,
        /// Gemma normalises the attention's output before the residual add.
        attention_output_norm: Option<Norm>,
        mlp_norm: Norm,
        mlp: Mlp,
        mlp_output_norm: Option<Norm>,
    },
}

fn apply(norm: &Option<Norm>, x: Tensor) -> Result<Tensor> {
    match norm {
        Some(norm) => norm.forward(&x),
        None => Ok(x),
    }
}

impl Block {
    pub fn forward(&self, x: &Tensor, context: &AttentionContext) -> Result<Tensor> {
        match self {
            Self::PostNorm {
                attention,
                attention_norm,
                mlp,
                mlp_norm,
            } => {
                let attended = attention_norm.forward(&(attention.forward(x, context)? + x)?)?;
                mlp_norm.forward(&(mlp.forward(&attended)? + attended)?)
            }
            Self::PreNorm {
                attention_norm,
                attention,
                attention_output_norm,
                mlp_norm,
                mlp,
                mlp_output_norm,
            } => {
                let normed = apply(attention_norm, x.clone())?;
                let attended = apply(attention_output_norm, attention.forward(&normed, context)?)?;
                let hidden = (x + attended)?;
                let expanded = apply(mlp_output_norm, mlp.forward(&mlp_norm.forward(&hidden)?)?)?;
                hidden + expanded
            }
        }
    }
}
