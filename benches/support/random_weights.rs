//! Random weights for any architecture's real shape: a VarBuilder backend that makes up each
//! tensor a backbone asks for (small random matrices, unit norms, zero biases), so the runner
//! bench can time Qwen3-Embedding, EmbeddingGemma, ... at their real sizes without their files.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

pub struct RandomWeights;

/// Weights that sit under a task model's prefix, or that the real checkpoints lack.
const ABSENT: [&str; 1] = ["layers.0.attn_norm.weight"];
const NESTED: [&str; 6] = ["bert.", "model.", "new.", "roberta.", "mpnet.", "distilbert."];

impl SimpleBackend for RandomWeights {
    fn get(&self, shape: Shape, name: &str, _: candle_nn::Init, dtype: DType, device: &Device) -> Result<Tensor> {
        let count = shape.elem_count();
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let lower = name.to_ascii_lowercase();
        let is_norm = shape.rank() == 1 && (lower.contains("norm") || lower.contains("ln") || leaf == "gamma");
        let values: Vec<f32> = if is_norm && leaf != "bias" {
            vec![1.0; count]
        } else if shape.rank() == 1 {
            vec![0.0; count]
        } else {
            // A cheap xorshift: the values only need to be ordinary, not good random numbers.
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ name.len() as u64;
            (0..count)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
                })
                .collect()
        };
        Tensor::from_vec(values, shape, device)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        !ABSENT.contains(&name) && !NESTED.iter().any(|prefix| name.starts_with(prefix))
    }
}
