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
    let linear = match packed::select::kernel_for(precision) {
        Some(kernel) => kernel.describe().to_owned(),
        None => format!("candle's float32 matmul ({})", cpu_backend()),
    };
    format!(
        "linear layers: {linear}; attention: float32, in tiles with an online softmax on the {} kernel from {} tokens",
        packed::select::float32_kernel().describe(),
        tiled_attention::TILED_FROM
    )
}
