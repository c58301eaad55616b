//! Which packed kernel runs a matrix, chosen at run time from the instruction sets the CPU
//! reports, below an optional cap (`--cpu-kernels`), so that one binary is fast on every x86-64
//! server CPU and still runs (portably) on the rest.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::runner::precision::Precision;

/// The instruction sets the kernels are written for, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust the compiler vectorises for the build's baseline (SSE2 on x86-64, NEON on
    /// arm64): the bfloat16 kernels' floor, so that `--dtype bfloat16` runs anywhere.
    Portable,
    /// AVX2 + FMA: 8 lanes, 16 vector registers (Haswell and later, every AMD Zen).
    Avx2,
    /// AVX-512F: 16 lanes, 32 vector registers.
    Avx512,
}

/// The best instruction set the kernels may use (`--cpu-kernels`): `None` for no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsaCap(pub Option<Isa>);

impl IsaCap {
    pub const NAMES: &'static str = "auto, avx512, avx2, portable";

    pub fn parse(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self(None)),
            "avx512" => Ok(Self(Some(Isa::Avx512))),
            "avx2" => Ok(Self(Some(Isa::Avx2))),
            "portable" => Ok(Self(Some(Isa::Portable))),
            _ => Err(format!("one of {}", Self::NAMES)),
        }
    }
}

/// The packed kernels. Each knows its panel shape and what a 32-bit weight word holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// float32 weights, `vfmadd231ps` on zmm registers.
    Avx512Float32,
    /// bfloat16 weight pairs times activations rounded to bfloat16 pairs, `vdpbf16ps`.
    Avx512Bf16Dot,
    /// bfloat16 weight pairs widened to float32 in zmm registers, times float32 activations.
    Avx512Bf16Widen,
    /// float32 weights, `vfmadd231ps` on ymm registers.
    Avx2Float32,
    /// bfloat16 weight pairs widened to float32 in registers (a shift and a mask), times float32
    /// activations.
    Avx2Bf16Widen,
    PortableFloat32,
    PortableBf16Widen,
}

/// What one 32-bit word of a packed panel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// One float32 weight: a step is one input.
    Float32,
    /// Two bfloat16 weights, inputs `2p` (low half) and `2p + 1`: a step is a pair of inputs.
    Bf16Pairs,
}

impl Kernel {
    pub fn isa(self) -> Isa {
        match self {
            Self::Avx512Float32 | Self::Avx512Bf16Dot | Self::Avx512Bf16Widen => Isa::Avx512,
            Self::Avx2Float32 | Self::Avx2Bf16Widen => Isa::Avx2,
            Self::PortableFloat32 | Self::PortableBf16Widen => Isa::Portable,
        }
    }

    /// Output columns per vector register.
    pub fn lanes(self) -> usize {
        match self.isa() {
            Isa::Avx512 => 16,
            Isa::Avx2 | Isa::Portable => 8,
        }
    }

    /// Output columns per panel: as many blocks of lanes as leave room, beside the 6 rows'
    /// accumulators, for the weights and a broadcast activation (32 zmm: 6 x 4; 16 ymm: 6 x 2).
    pub fn panel(self) -> usize {
        match self.isa() {
            Isa::Avx512 => 64,
            Isa::Avx2 | Isa::Portable => 16,
        }
    }

    pub fn words(self) -> Words {
        match self {
            Self::Avx512Float32 | Self::Avx2Float32 | Self::PortableFloat32 => Words::Float32,
            Self::Avx512Bf16Dot | Self::Avx512Bf16Widen | Self::Avx2Bf16Widen | Self::PortableBf16Widen => {
                Words::Bf16Pairs
            }
        }
    }

    /// Whether activations are rounded to bfloat16 pairs before the kernel (the dot-product
    /// instruction takes bfloat16 on both sides); the others read float32 activations.
    pub fn rounds_activations(self) -> bool {
        self == Self::Avx512Bf16Dot
    }

    /// The float32 kernel of the same instruction set (for the small matrices a widening
    /// bfloat16 kernel leaves in float32).
    pub fn float32_twin(self) -> Self {
        match self.isa() {
            Isa::Avx512 => Self::Avx512Float32,
            Isa::Avx2 => Self::Avx2Float32,
            Isa::Portable => Self::PortableFloat32,
        }
    }

    /// How the kernel's inner step is done, for the `kernels` line.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Avx512Float32 => "packed float32 AVX-512 (vfmadd231ps)",
            Self::Avx512Bf16Dot => "packed bfloat16 AVX512_BF16 (vdpbf16ps)",
            Self::Avx512Bf16Widen => "packed bfloat16 weights widened to float32 in AVX-512 registers",
            Self::Avx2Float32 => "packed float32 AVX2+FMA (vfmadd231ps, 8 lanes)",
            Self::Avx2Bf16Widen => "packed bfloat16 weights widened to float32 in AVX2+FMA registers",
            Self::PortableFloat32 => "packed float32, portable (compiler-vectorised)",
            Self::PortableBf16Widen => "packed bfloat16 weights widened to float32, portable (compiler-vectorised)",
        }
    }
}

/// No cap: every instruction set the CPU has.
const NO_CAP: u8 = u8::MAX;
static CAP: AtomicU8 = AtomicU8::new(NO_CAP);

/// Keeps the kernels at or below `isa` from now on (`--cpu-kernels`): to compare kernels on one
/// machine, or to pin what a fleet of mixed CPUs runs. Call before any model loads.
pub fn cap_isa(isa: Isa) {
    set_isa_cap(IsaCap(Some(isa)));
}

/// Sets (or, with `IsaCap(None)`, lifts) the cap. Models keep the kernels they were packed for;
/// what runs unpacked (attention's tiles, the fused kernels) follows the cap at once.
pub fn set_isa_cap(cap: IsaCap) {
    CAP.store(cap.0.map_or(NO_CAP, |isa| isa as u8), Ordering::Relaxed);
}

fn allowed(isa: Isa) -> bool {
    let cap = CAP.load(Ordering::Relaxed);
    cap == NO_CAP || isa as u8 <= cap
}

/// The best instruction set the CPU has, within the cap.
pub fn best_isa() -> Isa {
    if allowed(Isa::Avx512) && cpu_has_avx512() {
        Isa::Avx512
    } else if allowed(Isa::Avx2) && cpu_has_avx2_fma() {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

/// Whether the CPU's bfloat16 dot-product instruction may be used.
pub fn bf16_dot_available() -> bool {
    best_isa() == Isa::Avx512 && cpu_has_avx512_bf16()
}

/// The kernel for a model's linear layers in `precision`: float32 has none below AVX2 (candle's
/// matmul runs it there), bfloat16 always has one.
pub fn kernel_for(precision: Precision) -> Option<Kernel> {
    match precision {
        Precision::Float32 => match best_isa() {
            Isa::Avx512 => Some(Kernel::Avx512Float32),
            Isa::Avx2 => Some(Kernel::Avx2Float32),
            Isa::Portable => None,
        },
        Precision::BFloat16 if bf16_dot_available() && dot_outruns_widening() => Some(Kernel::Avx512Bf16Dot),
        Precision::BFloat16 => Some(match best_isa() {
            Isa::Avx512 => Kernel::Avx512Bf16Widen,
            Isa::Avx2 => Kernel::Avx2Bf16Widen,
            Isa::Portable => Kernel::PortableBf16Widen,
        }),
    }
}

/// Whether `vdpbf16ps` outruns widening the weights to float32 on this CPU. The instruction
/// does two multiply-adds a lane, so on AMD Zen 4 bfloat16 runs at about twice float32; on an
/// Intel Xeon VM (avx512_bf16, avx512_fp16) it ran at about 0.55x float32's rate, where the
/// widening kernel keeps about float32's. Instruction costs differ by core and hypervisors hide
/// the model, so both kernels are timed once, on a layer of an encoder's shape, the first time
/// a bfloat16 kernel is chosen (about 10 ms); the faster runs every bfloat16 model of the
/// process.
fn dot_outruns_widening() -> bool {
    static OUTRUNS: OnceLock<bool> = OnceLock::new();
    *OUTRUNS.get_or_init(|| {
        let outruns =
            super::race::fastest(&[Kernel::Avx512Bf16Dot, Kernel::Avx512Bf16Widen]) == Some(Kernel::Avx512Bf16Dot);
        tracing::info!(
            kernel = if outruns { "vdpbf16ps" } else { "widening" },
            "timed the bfloat16 kernels on this CPU"
        );
        outruns
    })
}

/// The float32 kernel for products that must run packed whatever the CPU (attention's tiles).
pub fn float32_kernel() -> Kernel {
    kernel_for(Precision::Float32).unwrap_or(Kernel::PortableFloat32)
}

/// Whether this CPU has `kernel`'s instructions, whatever the cap (a model packed before the
/// cap was lowered keeps running on its kernels).
pub fn cpu_can_run(kernel: Kernel) -> bool {
    match kernel.isa() {
        Isa::Avx512 if kernel == Kernel::Avx512Bf16Dot => cpu_has_avx512_bf16(),
        Isa::Avx512 => cpu_has_avx512(),
        Isa::Avx2 => cpu_has_avx2_fma(),
        Isa::Portable => true,
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx512_bf16() -> bool {
    cpu_has_avx512() && std::arch::is_x86_feature_detected!("avx512bf16")
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512_bf16() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx2_fma() -> bool {
    false
}
