//! The number format of a model's matmuls: float32 (exact, the default) or bfloat16 (weights
//! rounded once at load, products accumulated in float32; see [`super::kernels::packed`]).

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

    /// Why this precision cannot run on `device` here, if it cannot. `cpu_bf16` says whether
    /// the CPU's bf16 instructions may be used (false also when they are switched off by flag).
    pub fn unsupported_on(self, device: &Device, cpu_bf16: bool) -> Option<String> {
        match self {
            Self::Float32 => None,
            Self::BFloat16 if !device.is_cpu() => Some(
                "bfloat16 runs on the CPU only in this build; use --dtype float32 (or dtype=float32 on the \
                 model's line) on a GPU"
                    .to_owned(),
            ),
            Self::BFloat16 if !cpu_bf16 => Some(
                "bfloat16 needs a CPU with AVX512_BF16 (bf16 dot-product instructions), which this one lacks; \
                 use --dtype float32 (or dtype=float32 on the model's line)"
                    .to_owned(),
            ),
            Self::BFloat16 => None,
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
    fn names_parse_and_bfloat16_needs_the_instructions() {
        assert_eq!(Precision::parse("BF16"), Some(Precision::BFloat16));
        assert_eq!(Precision::parse("fp32"), Some(Precision::Float32));
        assert_eq!(Precision::parse("int8"), None);
        assert_eq!(Precision::BFloat16.to_string(), "bfloat16");
        assert_eq!(Precision::Float32.unsupported_on(&Device::Cpu, false), None);
        assert_eq!(Precision::BFloat16.unsupported_on(&Device::Cpu, true), None);
        let refused = Precision::BFloat16
            .unsupported_on(&Device::Cpu, false)
            .unwrap_or_default();
        assert!(
            refused.contains("AVX512_BF16") && refused.contains("--dtype float32"),
            "{refused}"
        );
    }
}
