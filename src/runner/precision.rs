//! The number format of a model's matmuls: float32 (exact, the default) or bfloat16 (weights
//! rounded once at load and stored in half the memory, products accumulated in float32; see
//! [`super::kernels::packed`]).

use std::fmt;

use candle_core::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Precision {
    #[default]
    Float32,
    BFloat16,
}

impl Precision {
    pub const NAMES: &'static str = "float32, bfloat16";

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "float32" | "f32" | "fp32" => Some(Self::Float32),
            "bfloat16" | "bf16" => Some(Self::BFloat16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::BFloat16 => "bfloat16",
        }
    }

    /// Why this precision cannot run on `device` here, if it cannot: bfloat16 runs on every CPU
    /// (on the bf16 dot-product instruction where there is one, else widened to float32 in the
    /// kernels), not on a GPU in this build.
    pub fn unsupported_on(self, device: &Device) -> Option<String> {
        match self {
            Self::BFloat16 if !device.is_cpu() => Some(
                "bfloat16 runs on the CPU only in this build; use --dtype float32 (or dtype=float32 on the \
                 model's line) on a GPU"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bfloat16_runs_on_every_cpu() {
        assert_eq!(Precision::parse("BF16"), Some(Precision::BFloat16));
        assert_eq!(Precision::parse("fp32"), Some(Precision::Float32));
        assert_eq!(Precision::parse("int8"), None);
        assert_eq!(Precision::BFloat16.to_string(), "bfloat16");
        assert_eq!(Precision::Float32.unsupported_on(&Device::Cpu), None);
        assert_eq!(Precision::BFloat16.unsupported_on(&Device::Cpu), None);
    }
}
