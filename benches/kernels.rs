//! The packed kernels alone, per layer shape of all-MiniLM-L6-v2 and all-mpnet-base-v2 (a
//! 96-row block, as the server's batches reach them, and 2,048 rows), on one thread and on every
//! core, beside candle's gemm on the same shapes in the same run: GFLOP/s, for each kernel family
//! the CPU has (float32 and bfloat16). The yardstick to compare with torch's GEMM on the same
//! shapes (`benches/torch_reference.py --gemm-shapes`).
//!
//! Run: `cargo bench --bench kernels -- [--seconds S] [--cpu-kernels avx512|avx2|portable]`
//! (that family only).

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/roof.rs"]
mod roof;

use embeddings::runner::kernels::packed::select::{self, Isa};
use embeddings::runner::kernels::packed::ForwardPass;
use embeddings::runner::Precision;

/// `(inputs, outputs)` of each linear layer: MiniLM's attention in, attention out, feed-forward
/// up and down, then MPNet's.
const LAYERS: [(usize, usize); 8] = [
    (384, 1152),
    (384, 384),
    (384, 1536),
    (1536, 384),
    (768, 2304),
    (768, 768),
    (768, 3072),
    (3072, 768),
];
const ROWS: [usize; 2] = [96, 2048];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let budget = cpu::seconds_arg(&args, 0.5);
    let only = cpu::cpu_kernels_arg(&args)?;
    let cores = embeddings::runner::kernels::compute_threads();
    println!("# packed kernels alone, CPU {}, {cores} cores", cpu::cpu_name());
    for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
        if only.is_some_and(|only| only != isa) {
            continue;
        }
        select::cap_isa(isa);
        if select::best_isa() != isa {
            println!("\nskipped {isa:?}: this CPU lacks its instructions");
            continue;
        }
        println!();
        println!("| rows x inputs x outputs | threads | candle gemm | float32 kernel | bfloat16 kernel |");
        println!("|---|---|---|---|---|");
        let describe = |precision| select::kernel_for(precision).map_or("none", |k| k.describe());
        for threads in [1, cores] {
            for rows in ROWS {
                for (inputs, outputs) in LAYERS {
                    let gemm = roof::parallel_gflops(1, threads, budget, move || roof::matmul(rows, inputs, outputs))?;
                    let mut packed = Vec::new();
                    for precision in [Precision::Float32, Precision::BFloat16] {
                        let rate = if select::kernel_for(precision).is_some() {
                            // Two forward passes in flight keep the kernel on the calling thread.
                            roof::parallel_gflops(1, 1, budget, move || {
                                let _alone = (threads == 1).then(|| (ForwardPass::begin(), ForwardPass::begin()));
                                roof::packed_matmul(precision, rows, inputs, outputs)
                            })?
                        } else {
                            f64::NAN
                        };
                        packed.push(rate);
                    }
                    println!(
                        "| {rows} x {inputs} x {outputs} | {threads} | {gemm:.1} | {:.1} ({:.0}%) | {:.1} ({:.0}%) |",
                        packed[0],
                        100.0 * packed[0] / gemm,
                        packed[1],
                        100.0 * packed[1] / gemm
                    );
                }
            }
        }
        println!(
            "\nkernels: float32 {}, bfloat16 {}",
            describe(Precision::Float32),
            describe(Precision::BFloat16)
        );
    }
    Ok(())
}
