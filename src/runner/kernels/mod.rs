//! The CPU code under the layers, chosen at run time from what the CPU reports: linear layers
//! on weights [`packed`] once at load, [`fused`] GELU and masked softmax, attention over long
//! sequences in tiles ([`tiled_attention`]), and how many [`threads`] forward passes use.

pub mod fused;
pub mod packed;
pub mod threads;
pub mod tiled_attention;

use candle_core::Device;

use super::precision::Precision;
pub use threads::{compute_threads, configure_cpu_threads, cpu_backend, default_workers, limit_matmul_threads};

/// The kernels a model in `precision` runs on `device` here, in one line: the linear layers'
/// matmul, and how attention runs. Chosen at start from what the CPU reports.
pub fn describe(device: &Device, precision: Precision) -> String {
    if !device.is_cpu() {
        return format!("{} matmuls and attention on the GPU (candle)", precision.name());
    }
    let linear = match precision {
        Precision::Float32 if packed::available(Precision::Float32) => {
            "packed float32 AVX-512 (vfmadd231ps)".to_owned()
        }
        Precision::Float32 => format!("candle's float32 matmul ({})", cpu_backend()),
        Precision::BFloat16 if packed::available(Precision::BFloat16) => {
            "packed bfloat16 AVX512_BF16 (vdpbf16ps)".to_owned()
        }
        Precision::BFloat16 => "none: this CPU cannot run bfloat16".to_owned(),
    };
    format!(
        "linear layers: {linear}; attention: float32, in tiles with an online softmax from {} tokens",
        tiled_attention::TILED_FROM
    )
}
