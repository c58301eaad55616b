//! The heads of scoring models: what a cross-encoder, a classifier or an LLM reranker puts
//! after its backbone to turn one sequence into its logits. Each is a pooling of the backbone's
//! tokens (the first, the last or their mean) followed by a few steps read from the checkpoint:
//! BERT's pooler and classifier, RoBERTa's classification head, ModernBERT's head and
//! classifier, or two rows of a causal LM's output layer and their difference.

use candle_core::{Result, Tensor, D};
use candle_nn::{LayerNorm, Linear, Module, VarBuilder};

use super::pooling::PoolingMode;
use super::DenseActivation;
use crate::runner::layers::mlp::Activation;

/// One step of a head, as the checkpoint names its weights.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreStep {
    /// `name.weight` `[output, input]` (and `name.bias` when `bias`).
    Linear {
        name: String,
        input: usize,
        output: usize,
        bias: bool,
    },
    Activation(DenseActivation),
    /// An activation named as the backbone's are (`hidden_act`: BERT's masked-LM transform).
    HiddenActivation(Activation),
    /// `name.weight` (and `name.bias` when `bias`).
    LayerNorm {
        name: String,
        size: usize,
        eps: f64,
        bias: bool,
    },
    /// The rows `rows` of the `[vocab, input]` matrix `name`: those tokens' logits.
    Rows {
        name: String,
        rows: Vec<u32>,
        input: usize,
    },
    /// The first column less the second: `logit[yes] - logit[no]`.
    Difference,
}

impl ScoreStep {
    pub fn linear(name: &str, input: usize, output: usize, bias: bool) -> Self {
        Self::Linear {
            name: name.to_owned(),
            input,
            output,
            bias,
        }
    }
}

/// A head: the pooling that picks each sequence's features, then its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHeadSpec {
    /// `Cls`, `Mean` or `LastToken`.
    pub pooling: PoolingMode,
    pub steps: Vec<ScoreStep>,
}

impl ScoreHeadSpec {
    /// The encoders' common head: the first token through `dense` (hidden to hidden, with bias)
    /// and `activation`, then `classifier` to one logit per label.
    pub fn first_token_dense(
        dense: &str,
        activation: DenseActivation,
        classifier: &str,
        hidden: usize,
        labels: usize,
    ) -> Self {
        Self {
            pooling: PoolingMode::Cls,
            steps: vec![
                ScoreStep::linear(dense, hidden, hidden, true),
                ScoreStep::Activation(activation),
                ScoreStep::linear(classifier, hidden, labels, true),
            ],
        }
    }

    /// How many numbers the head gives per sequence.
    pub fn outputs(&self) -> usize {
        self.steps.iter().fold(0, |width, step| match step {
            ScoreStep::Linear { output, .. } => *output,
            ScoreStep::Rows { rows, .. } => rows.len(),
            ScoreStep::Difference => 1,
            ScoreStep::Activation(_) | ScoreStep::HiddenActivation(_) | ScoreStep::LayerNorm { .. } => width,
        })
    }
}

enum Loaded {
    Linear(Linear),
    Activation(DenseActivation),
    HiddenActivation(Activation),
    LayerNorm(LayerNorm),
    Difference,
}

pub struct ScoreHead {
    pooling: PoolingMode,
    steps: Vec<Loaded>,
}

impl ScoreHead {
    /// Reads the head's weights from the checkpoint's root.
    pub fn load(spec: &ScoreHeadSpec, vb: &VarBuilder) -> Result<Self> {
        let steps = spec
            .steps
            .iter()
            .map(|step| {
                Ok(match step {
                    ScoreStep::Linear {
                        name,
                        input,
                        output,
                        bias,
                    } => {
                        let vb = vb.pp(name);
                        let weight = vb.get((*output, *input), "weight")?;
                        let bias = if *bias { Some(vb.get(*output, "bias")?) } else { None };
                        Loaded::Linear(Linear::new(weight, bias))
                    }
                    ScoreStep::Activation(activation) => Loaded::Activation(*activation),
                    ScoreStep::HiddenActivation(activation) => Loaded::HiddenActivation(*activation),
                    ScoreStep::LayerNorm { name, size, eps, bias } => {
                        let vb = vb.pp(name);
                        let weight = vb.get(*size, "weight")?;
                        let bias = if *bias {
                            vb.get(*size, "bias")?
                        } else {
                            weight.zeros_like()?
                        };
                        Loaded::LayerNorm(LayerNorm::new(weight, bias, *eps))
                    }
                    ScoreStep::Rows { name, rows, input } => {
                        let table = vb.get_unchecked(name)?;
                        let (vocab, width) = table.dims2()?;
                        if width != *input || rows.iter().any(|&row| row as usize >= vocab) {
                            candle_core::bail!(
                                "{name} is [{vocab}, {width}]: it has no rows {rows:?} of width {input}"
                            );
                        }
                        let ids = Tensor::new(rows.as_slice(), table.device())?;
                        Loaded::Linear(Linear::new(table.index_select(&ids, 0)?, None))
                    }
                    ScoreStep::Difference => Loaded::Difference,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            pooling: spec.pooling,
            steps,
        })
    }

    pub fn pooling(&self) -> PoolingMode {
        self.pooling
    }

    /// `[sequences, features]` pooled features to `[sequences, outputs]` logits.
    pub fn forward(&self, pooled: Tensor) -> Result<Tensor> {
        let mut x = pooled;
        for step in &self.steps {
            x = match step {
                Loaded::Linear(linear) => linear.forward(&x)?,
                Loaded::Activation(activation) => activation.apply(x)?,
                Loaded::HiddenActivation(activation) => activation.apply(&x)?,
                Loaded::LayerNorm(norm) => norm.forward(&x)?,
                Loaded::Difference => {
                    let first = x.narrow(D::Minus1, 0, 1)?;
                    let second = x.narrow(D::Minus1, 1, 1)?;
                    (first - second)?
                }
            };
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    #[test]
    fn a_logit_score_head_is_the_difference_of_two_rows() {
        let device = Device::Cpu;
        let table = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [2.0, 2.0]], &device).expect("table");
        let vb = VarBuilder::from_tensors(HashMap::from([("lm.weight".to_owned(), table)]), DType::F32, &device);
        let spec = ScoreHeadSpec {
            pooling: PoolingMode::LastToken,
            steps: vec![
                ScoreStep::Rows {
                    name: "lm.weight".into(),
                    rows: vec![2, 0],
                    input: 2,
                },
                ScoreStep::Difference,
            ],
        };
        assert_eq!(spec.outputs(), 1);
        let head = ScoreHead::load(&spec, &vb).expect("loads");
        let features = Tensor::new(&[[1f32, 3.0]], &device).expect("features");
        let scores: Vec<Vec<f32>> = head.forward(features).expect("runs").to_vec2().expect("host");
        assert_eq!(scores, vec![vec![8.0 - 1.0]]);
        let missing = ScoreStep::Rows {
            name: "lm.weight".into(),
            rows: vec![3],
            input: 2,
        };
        assert!(ScoreHead::load(
            &ScoreHeadSpec {
                steps: vec![missing],
                ..spec
            },
            &vb
        )
        .is_err());
    }
}
