//! What the rest of the service needs to know about a model's backbone, whatever its
//! architecture: sizes for `/v1/models` and the benches, the longest sequence it takes and how
//! its position ids count. The HTTP layer and the snapshot reader see only this.

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

impl ModelShape {
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
