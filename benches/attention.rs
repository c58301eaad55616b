//! Long-input attention alone: `tiled_attention::attend` on one sequence (queries, keys and
//! values of nomic-embed-text-v1.5's shape by default: 12 heads of 64), GFLOP/s of its two
//! products (`4 x length^2 x heads x d`), beside the packed float32 kernel on a large matmul
//! (the linear layers' rate) in the same run, per kernel family the CPU has.
//!
//! Run: `cargo bench --bench attention -- [--length 8192] [--heads 12] [--head-dim 64]
//! [--cpu-kernels avx512|avx2|portable]` (one family only).

#[path = "support/cpu.rs"]
mod cpu;

use std::time::Instant;

use candle_core::{Device, Tensor};
use embeddings::runner::kernels::packed::select::{self, Isa, IsaCap};
use embeddings::runner::kernels::packed::PackedLinear;
use embeddings::runner::kernels::tiled_attention::{attend, Heads};
use embeddings::runner::mask::MaskKind;
use embeddings::runner::Precision;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let length = arg(&args, "--length", 8192);
    let heads = arg(&args, "--heads", 12);
    let d = arg(&args, "--head-dim", 64);
    let width = heads * d;
    let random = |rows: usize| -> anyhow::Result<Vec<f32>> {
        Ok(Tensor::randn(0f32, 1.0, (rows, width), &Device::Cpu)?
            .flatten_all()?
            .to_vec1()?)
    };
    let (q, k, v) = (random(length)?, random(length)?, random(length)?);
    let q: Vec<f32> = q.iter().map(|x| x / (d as f32).sqrt()).collect();
    let shape = Heads {
        heads,
        kv_heads: heads,
        head_dim: d,
    };
    println!(
        "# attention alone: {length} tokens, {heads} heads of {d}, {} threads",
        embeddings::runner::kernels::compute_threads()
    );
    println!();
    println!("| kernels | attention ms | attention GFLOP/s | packed matmul 2048x768x3072 GFLOP/s | ratio |");
    println!("|---|---|---|---|---|");
    let only = cpu::cpu_kernels_arg(&args)?;
    for cap in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
        if only.is_some_and(|only| only != cap) {
            continue;
        }
        select::set_isa_cap(IsaCap(Some(cap)));
        if select::best_isa() != cap {
            continue;
        }
        let flops = 4.0 * (length * length * heads * d) as f64;
        std::hint::black_box(attend(&q, &k, &v, length, shape, MaskKind::Full));
        let runs = 3;
        let start = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(attend(&q, &k, &v, length, shape, MaskKind::Full));
        }
        let seconds = start.elapsed().as_secs_f64() / runs as f64;
        let linear_rate = match select::kernel_for(Precision::Float32) {
            Some(_) => format!("{:.0}", packed_matmul_rate(2048, 768, 3072)?),
            None => "none".to_owned(),
        };
        println!(
            "| {} | {:.0} | {:.0} | {linear_rate} | {} |",
            select::float32_kernel().describe(),
            seconds * 1e3,
            flops / seconds / 1e9,
            linear_rate
                .parse::<f64>()
                .map_or("".to_owned(), |rate| format!("{:.2}", flops / seconds / 1e9 / rate))
        );
    }
    Ok(())
}

/// GFLOP/s of the packed float32 kernel on one `m x k x n` product, shared over the cores.
fn packed_matmul_rate(m: usize, k: usize, n: usize) -> anyhow::Result<f64> {
    let weight = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?;
    let input = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?;
    let linear = PackedLinear::new(&weight, None, Precision::Float32)?;
    std::hint::black_box(linear.forward(&input, false)?);
    let runs = 5;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(linear.forward(&input, false)?);
    }
    Ok(2.0 * (m * k * n) as f64 * runs as f64 / start.elapsed().as_secs_f64() / 1e9)
}
