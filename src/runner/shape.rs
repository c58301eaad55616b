//! What the rest of the service needs to know about a model's backbone, whatever its
//! architecture: sizes for `/v1/models` and the benches, the longest sequence it takes and how
//! its position ids count. The HTTP layer and the snapshot reader see only this.

use super::config::{ConfigError, ConfigResult};
use super::mask::MaskKind;

/// How position ids are assigned to a sequence's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, ... (BERT, DistilBERT, and every rotary model).
    FromZero,
    /// RoBERTa's scheme: padding tokens sit at `pad`, the others count up from `pad + 1`.
    AfterPadding { pad: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    /// The family's module (`bert`, `modernbert`, `qwen3`, ...).
    pub architecture: &'static str,
    /// `model_type` as written in config.json (`xlm-roberta`, `new`, ...), for display.
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    /// Gated MLPs (SwiGLU, GeGLU) have a third matrix.
    pub gated_mlp: bool,
    /// The longest sequence the model takes (its position table or trained context).
    pub max_positions: usize,
    pub positions: Positions,
    /// Each layer's attention mask.
    pub layer_masks: Vec<MaskKind>,
}

/// The sizes a config states, before anything follows from them.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    /// `None`: one per query head.
    pub kv_heads: Option<usize>,
    /// `None`: `hidden_size / heads`, which must then divide evenly.
    pub head_dim: Option<usize>,
    pub intermediate_size: usize,
    pub max_positions: usize,
}

impl ModelShape {
    /// The one check of a config's sizes, and what follows from them until the architecture
    /// says otherwise: positions from zero, every layer attending to the whole sequence, a plain
    /// two-matrix MLP.
    pub fn new(architecture: &'static str, model_type: impl Into<String>, sizes: Sizes) -> ConfigResult<Self> {
        let Sizes { heads, hidden_size, .. } = sizes;
        let kv_heads = sizes.kv_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(ConfigError::Shape(format!(
                "{heads} attention heads cannot share {kv_heads} key/value heads"
            )));
        }
        let head_dim = match sizes.head_dim {
            Some(head_dim) => head_dim,
            None if hidden_size.is_multiple_of(heads) => hidden_size / heads,
            None => {
                return Err(ConfigError::Shape(format!(
                    "the hidden size {hidden_size} is not a multiple of the {heads} attention heads"
                )))
            }
        };
        if sizes.max_positions == 0 {
            return Err(ConfigError::Shape(
                "the model takes no tokens (its position table is empty)".to_owned(),
            ));
        }
        Ok(Self {
            architecture,
            model_type: model_type.into(),
            vocab_size: sizes.vocab_size,
            hidden_size,
            layers: sizes.layers,
            heads,
            kv_heads,
            head_dim,
            intermediate_size: sizes.intermediate_size,
            gated_mlp: false,
            max_positions: sizes.max_positions,
            positions: Positions::FromZero,
            layer_masks: vec![MaskKind::Full; sizes.layers],
        })
    }

    /// SwiGLU, GeGLU: the MLP has a third matrix.
    pub fn with_gated_mlp(mut self) -> Self {
        self.gated_mlp = true;
        self
    }

    /// Each layer's attention mask, one per layer.
    pub fn with_layer_masks(mut self, masks: Vec<MaskKind>) -> Self {
        debug_assert_eq!(masks.len(), self.layers);
        self.layer_masks = masks;
        self
    }

    /// The backbone's arithmetic per token of a `len`-token sequence, multiply-adds counted as
    /// two FLOPs: the linear layers plus the two attention products over the keys each query
    /// sees. (Benchmarks turn tokens/s into a share of the matmul roof with it.)
    pub fn flops_per_token(&self, len: usize) -> f64 {
        let h = self.hidden_size as f64;
        let attention_width = (self.heads * self.head_dim) as f64;
        let kv_width = (self.kv_heads * self.head_dim) as f64;
        let mlp_matrices = if self.gated_mlp { 3.0 } else { 2.0 };
        let linear = 2.0 * (h * (attention_width + 2.0 * kv_width) + attention_width * h)
            + 2.0 * mlp_matrices * h * self.intermediate_size as f64;
        let mut total = 0.0;
        for layer in 0..self.layers {
            let mask = self.layer_masks.get(layer).copied().unwrap_or(MaskKind::Full);
            let keys = mask.mean_keys(len);
            total += linear + 2.0 * 2.0 * keys * attention_width;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(heads: usize, kv_heads: Option<usize>, head_dim: Option<usize>) -> Sizes {
        Sizes {
            vocab_size: 10,
            hidden_size: 32,
            layers: 2,
            heads,
            kv_heads,
            head_dim,
            intermediate_size: 64,
            max_positions: 16,
        }
    }

    #[test]
    fn sizes_are_checked_once_here() {
        let shape = ModelShape::new("bert", "bert", sizes(4, None, None)).expect("valid");
        assert_eq!((shape.kv_heads, shape.head_dim), (4, 8));
        assert_eq!(shape.layer_masks, vec![MaskKind::Full; 2]);
        let grouped = ModelShape::new("llama", "llama", sizes(4, Some(2), Some(16))).expect("valid");
        assert_eq!((grouped.kv_heads, grouped.head_dim), (2, 16));
        for (bad, says) in [
            (sizes(0, None, None), "0 attention heads"),
            (sizes(4, Some(3), Some(8)), "cannot share 3 key/value heads"),
            (sizes(5, None, None), "not a multiple of the 5 attention heads"),
        ] {
            let error = ModelShape::new("x", "x", bad).map(|_| ()).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
        let empty = Sizes {
            max_positions: 0,
            ..sizes(4, None, None)
        };
        assert!(ModelShape::new("x", "x", empty).is_err());
    }
}
