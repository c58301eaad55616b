//! The matmul roof, measured in the same run as what is compared with it: plain float32
//! matmuls (and the bfloat16 kernel) on every core at once. Shared by the benchmarks.

// Each benchmark uses part of it.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use embeddings::runner::kernels::packed::PackedLinear;
use embeddings::runner::Precision;

/// The yardstick's shape: MiniLM's feed-forward expansion on a large batch.
pub const ROOF_SHAPE: (usize, usize, usize) = (2048, 384, 1536);

/// The float32 roof of `forwards` single-threaded matmuls side by side (one per core), GFLOP/s.
pub fn float32_roof(forwards: usize, budget: Duration) -> anyhow::Result<f64> {
    let (m, k, n) = ROOF_SHAPE;
    parallel_gflops(forwards, 1, budget, move || matmul(m, k, n))
}

/// Runs `work` (which returns the FLOPs it did) on `forwards` threads at once, each limited to
/// `threads` compute threads, for about `budget`; returns the total GFLOP/s.
pub fn parallel_gflops(
    forwards: usize,
    threads: usize,
    budget: Duration,
    work: impl Fn() -> anyhow::Result<f64> + Send + Sync + Clone + 'static,
) -> anyhow::Result<f64> {
    let handles: Vec<_> = (0..forwards)
        .map(|_| {
            let work = work.clone();
            std::thread::spawn(move || -> anyhow::Result<(f64, Duration)> {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
                pool.install(|| {
                    embeddings::runner::kernels::limit_matmul_threads(threads);
                    for _ in 0..2 {
                        work()?;
                    }
                    let start = Instant::now();
                    let mut flops = 0.0;
                    let mut runs = 0;
                    while runs < 3 || start.elapsed() < budget {
                        flops += work()?;
                        runs += 1;
                    }
                    Ok((flops, start.elapsed()))
                })
            })
        })
        .collect();
    let mut total = 0.0;
    for handle in handles {
        let (flops, elapsed) = handle.join().map_err(|_| anyhow::anyhow!("bench thread panicked"))??;
        total += flops / elapsed.as_secs_f64() / 1e9;
    }
    Ok(total)
}

/// Random operands per matmul shape, made once per thread so only the product is timed.
type Operands = std::collections::HashMap<(usize, usize, usize), (Tensor, Tensor)>;

pub fn matmul(m: usize, k: usize, n: usize) -> anyhow::Result<f64> {
    thread_local! {
        static OPERANDS: std::cell::RefCell<Operands> = Default::default();
    }
    let (a, b) = OPERANDS.with(|cache| -> anyhow::Result<(Tensor, Tensor)> {
        let mut cache = cache.borrow_mut();
        if let Some(pair) = cache.get(&(m, k, n)) {
            return Ok(pair.clone());
        }
        let pair = (
            Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?,
            Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?,
        );
        cache.insert((m, k, n), pair.clone());
        Ok(pair)
    })?;
    black_box(a.matmul(&b.t()?)?);
    Ok(2.0 * (m * k * n) as f64)
}

/// The bfloat16 kernel on the yardstick's shape, weights packed once per thread.
pub fn bf16_matmul(m: usize, k: usize, n: usize) -> anyhow::Result<f64> {
    packed_matmul(Precision::BFloat16, m, k, n)
}

/// One `m x k x n` product on the packed kernel the CPU runs `precision` on (operands made once
/// per thread), returning its FLOPs.
pub fn packed_matmul(precision: Precision, m: usize, k: usize, n: usize) -> anyhow::Result<f64> {
    thread_local! {
        static PACKED: std::cell::RefCell<Option<(Tensor, PackedLinear)>> = Default::default();
    }
    PACKED.with(|cell| -> anyhow::Result<f64> {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let weight = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?;
            *cell = Some((
                Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?,
                PackedLinear::new(&weight, None, precision)?,
            ));
        }
        let (input, linear) = cell.as_ref().ok_or_else(|| anyhow::anyhow!("operands"))?;
        black_box(linear.forward(input, false)?);
        Ok(2.0 * (m * k * n) as f64)
    })
}
