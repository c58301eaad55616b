//! Rotary position embeddings (rotate-half form, over the whole head): inverse frequencies
//! computed in float32 as transformers does, with the NTK scaling GTE uses, and per forward
//! pass the cos/sin rows of every packed token's position.

use candle_core::{Device, Result, Tensor};

use crate::runner::config::LayerType;

/// Which of a model's rotary bases a layer uses. Most rotary models have one (`Global`);
/// ModernBERT and Gemma3 give their local (sliding-window) layers a base of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotaryBase {
    Global,
    Local,
}

impl From<LayerType> for RotaryBase {
    fn from(layer: LayerType) -> Self {
        layer.pick(Self::Global, Self::Local)
    }
}

/// A model's rotary frequencies: the global base, and the local one where there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotaries {
    pub global: Rotary,
    pub local: Option<Rotary>,
}

/// [`Rotaries`]' cos/sin tables for one forward pass's positions.
pub struct RotaryTables {
    global: RotaryTable,
    local: Option<RotaryTable>,
}

impl Rotaries {
    pub fn one(rotary: Rotary) -> Self {
        Self {
            global: rotary,
            local: None,
        }
    }

    pub fn tables(&self, positions: &[u32], device: &Device) -> Result<RotaryTables> {
        Ok(RotaryTables {
            global: self.global.table(positions, device)?,
            local: self.local.as_ref().map(|r| r.table(positions, device)).transpose()?,
        })
    }
}

impl RotaryTables {
    pub fn get(&self, base: RotaryBase) -> Result<&RotaryTable> {
        match base {
            RotaryBase::Global => Ok(&self.global),
            RotaryBase::Local => self
                .local
                .as_ref()
                .ok_or_else(|| candle_core::Error::Msg("this model has no local rotary base".into())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rotary {
    /// `head_dim / 2` inverse frequencies.
    inverse_frequencies: Vec<f32>,
}

/// One forward pass's `[tokens, head_dim / 2]` cos and sin tables.
pub struct RotaryTable {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl Rotary {
    /// `theta^(-2i/d)`, as `1 / theta ** (arange(0, d, 2) / d)` in float32.
    pub fn new(head_dim: usize, theta: f64) -> Self {
        let base = theta as f32;
        Self {
            inverse_frequencies: (0..head_dim / 2)
                .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
                .collect(),
        }
    }

    /// NTK-aware scaling as GTE's `NTKScalingRotaryEmbedding` applies it: the base times
    /// `factor`, then every frequency divided by `factor^(2/d)`.
    pub fn ntk(head_dim: usize, theta: f64, factor: f64) -> Self {
        let divisor = (factor as f32).powf(2.0 / head_dim as f32);
        let mut rotary = Self::new(head_dim, theta * factor);
        for f in &mut rotary.inverse_frequencies {
            *f /= divisor;
        }
        rotary
    }

    pub fn table(&self, positions: &[u32], device: &Device) -> Result<RotaryTable> {
        let half = self.inverse_frequencies.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &position in positions {
            for &frequency in &self.inverse_frequencies {
                let angle = position as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(RotaryTable {
            cos: Tensor::from_vec(cos, (positions.len(), half), device)?,
            sin: Tensor::from_vec(sin, (positions.len(), half), device)?,
        })
    }
}

impl RotaryTable {
    /// Rotates `x`, `[tokens, heads, head_dim]`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (tokens, heads, head_dim) = x.dims3()?;
        let rotated = candle_nn::rotary_emb::rope_thd(
            &x.reshape((1, tokens, heads, head_dim))?.contiguous()?,
            &self.cos,
            &self.sin,
        )?;
        rotated.reshape((tokens, heads, head_dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_pairs_half_a_head_apart_and_position_zero_fixed() {
        let rotary = Rotary::new(4, 10_000.0);
        let table = rotary.table(&[0, 1], &Device::Cpu).expect("table");
        let x = Tensor::new(&[[[1f32, 2., 3., 4.]], [[1., 2., 3., 4.]]], &Device::Cpu).expect("x");
        let y: Vec<Vec<Vec<f32>>> = table.apply(&x).and_then(|y| y.to_vec3()).expect("rotated");
        assert_eq!(y[0][0], vec![1., 2., 3., 4.]);
        // Position 1, pair (x0, x2) at frequency 1: (x0 cos 1 - x2 sin 1, x0 sin 1 + x2 cos 1).
        let (c, s) = (1f32.cos(), 1f32.sin());
        assert!((y[1][0][0] - (c - 3.0 * s)).abs() < 1e-6);
        assert!((y[1][0][2] - (s + 3.0 * c)).abs() < 1e-6);
        let ntk = Rotary::ntk(16, 20_000.0, 8.0);
        let want = (20_000f64 * 8.0).powf(-2.0 / 16.0) / 8f64.powf(2.0 / 16.0);
        assert!((ntk.inverse_frequencies[1] as f64 - want).abs() < 1e-7);
    }
}
