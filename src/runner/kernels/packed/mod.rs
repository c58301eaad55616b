//! Linear layers (`x @ W^T + b`) on weights packed once at load for hand-written AVX-512
//! kernels, in float32 or bfloat16.
//!
//! The packed layout is the same for both: panels of 64 output columns (four blocks of 16, one
//! vector register each), stored step by step, so the kernel streams one panel's weights in
//! order while 6 x 4 accumulators stay in registers. A float32 step is one input; a bfloat16 step
//! is a pair of inputs `(2p, 2p + 1)` side by side in each 32-bit lane, the operand layout of
//! `vdpbf16ps` (AVX512_BF16), which multiplies both and adds the products to a float32 lane.
//! bfloat16 weights are rounded once at load; each call rounds its activations and accumulates
//! in float32; the bias is added in float32. Packing once removes the per-call re-packing a
//! general matmul does, which dominates small batches (one sentence).

mod kernel;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::runner::precision::Precision;

/// Output columns per vector register.
const LANES: usize = 16;
/// Column blocks per panel, and activation rows per kernel call.
const PANEL_BLOCKS: usize = 4;
const PANEL: usize = PANEL_BLOCKS * LANES;
const ROWS: usize = 6;
/// bfloat16 matrices with fewer inputs than this take activations and weights as two bfloat16
/// terms each (about 16 significant bits; the product of the two low terms is left out). Their
/// dot products are too short for rounding errors to average out, and their cost is negligible
/// next to real models' layers (384 inputs and up), which take one term.
const SPLIT_BELOW: usize = 256;
/// Steps per input pair when split: high x high, low activation x high weight, high activation
/// x low weight.
const SPLIT_TERMS: usize = 3;

/// Products smaller than this many multiply-adds run on the calling thread: sharing them out
/// costs more than it saves.
const PARALLEL_FROM: usize = 1 << 18;

/// Forward passes running in this process (see [`ForwardPass`]).
static FORWARDS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Marks a forward pass as running while it lives. A forward pass alone shares its products out
/// over every core; when several run at once (the engine runs one per core under load), each
/// keeps to its own thread, which is faster than interleaving their panels.
pub struct ForwardPass(());

impl ForwardPass {
    pub fn begin() -> Self {
        FORWARDS_IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for ForwardPass {
    fn drop(&mut self) {
        FORWARDS_IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The threads a lone forward pass shares panels out over: one per core.
fn kernel_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = super::threads::compute_threads();
        if threads <= 1 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("matmul-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `jobs` independent jobs, shared out over the kernel pool when no other forward pass
/// runs (as the matmuls are), else on the calling thread; returns their results in order.
pub fn share_out<T: Send>(jobs: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use rayon::prelude::*;
    match kernel_pool() {
        Some(pool) if jobs > 1 && FORWARDS_IN_FLIGHT.load(Ordering::Relaxed) <= 1 => {
            pool.install(|| (0..jobs).into_par_iter().map(&work).collect())
        }
        _ => (0..jobs).map(work).collect(),
    }
}

static BF16_DISABLED: AtomicBool = AtomicBool::new(false);

/// Makes [`cpu_supports_bf16`] answer no from now on, as on a CPU without the instructions.
pub fn disable_cpu_bf16() {
    BF16_DISABLED.store(true, Ordering::Relaxed);
}

/// Whether this CPU has the bf16 dot-product instructions (and AVX-512 around them), and they
/// have not been switched off.
pub fn cpu_supports_bf16() -> bool {
    cpu_has_avx512_bf16() && !BF16_DISABLED.load(Ordering::Relaxed)
}

/// Whether the packed kernels can run `precision` on this CPU.
pub fn available(precision: Precision) -> bool {
    match precision {
        Precision::Float32 => cpu_has_avx512(),
        Precision::BFloat16 => cpu_supports_bf16(),
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

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512_bf16() -> bool {
    false
}

#[inline(always)]
fn widen(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// Rounds to the nearest bfloat16, ties to even (finite inputs; activations and weights are).
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// A `[outputs, inputs]` weight matrix (PyTorch's Linear layout) packed for the kernels, with
/// its float32 bias.
pub struct PackedLinear {
    precision: Precision,
    inputs: usize,
    outputs: usize,
    /// bfloat16 with two terms per operand (see [`SPLIT_BELOW`]).
    split: bool,
    /// 32-bit words per activation row and per lane of a panel.
    steps: usize,
    /// `[panel][step][block][lane]`; the last panel may hold fewer blocks.
    packed: Vec<u32>,
    bias: Option<Vec<f32>>,
}

impl PackedLinear {
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, precision: Precision) -> Result<Self> {
        if !available(precision) {
            candle_core::bail!("this CPU cannot run the packed {precision} kernels");
        }
        let (outputs, inputs) = weight.dims2()?;
        let rows = weight.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let split = precision == Precision::BFloat16 && inputs < SPLIT_BELOW;
        let steps = match precision {
            Precision::Float32 => inputs,
            Precision::BFloat16 if split => SPLIT_TERMS * inputs.div_ceil(2),
            Precision::BFloat16 => inputs.div_ceil(2),
        };
        let weight_at = |column: usize, input: usize| rows.get(column).and_then(|row| row.get(input)).copied();
        // The 32-bit word of one lane at one step.
        let word = |column: usize, step: usize| -> u32 {
            let bf16 = |input: usize, low: bool| match weight_at(column, input) {
                Some(x) if low => u32::from(to_bf16(x - widen(to_bf16(x)))),
                Some(x) => u32::from(to_bf16(x)),
                None => 0,
            };
            match precision {
                Precision::Float32 => weight_at(column, step).map_or(0, f32::to_bits),
                Precision::BFloat16 => {
                    let (pair, low) = if split {
                        (step / SPLIT_TERMS, step % SPLIT_TERMS == 2)
                    } else {
                        (step, false)
                    };
                    bf16(2 * pair, low) | (bf16(2 * pair + 1, low) << 16)
                }
            }
        };
        let blocks = outputs.div_ceil(LANES);
        let mut packed = Vec::with_capacity(blocks * LANES * steps);
        for first_block in (0..blocks).step_by(PANEL_BLOCKS) {
            let panel_blocks = PANEL_BLOCKS.min(blocks - first_block);
            for step in 0..steps {
                for column in first_block * LANES..(first_block + panel_blocks) * LANES {
                    packed.push(word(column, step));
                }
            }
        }
        let bias = bias.map(|b| b.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
        if bias.as_ref().is_some_and(|b| b.len() != outputs) {
            candle_core::bail!("a bias of the wrong size for {outputs} outputs");
        }
        Ok(Self {
            precision,
            inputs,
            outputs,
            split,
            steps,
            packed,
            bias,
        })
    }

    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    /// `x @ W^T (+ bias)` for `x` of shape `[rows, inputs]` (float32, on the CPU).
    pub fn forward(&self, x: &Tensor, with_bias: bool) -> Result<Tensor> {
        x.apply_op1_no_bwd(&PackedMatmul {
            linear: self,
            with_bias,
        })
    }

    /// The product on host slices: `input` is `[rows, inputs]`, `output` `[rows, outputs]`, every
    /// element of which is written (so it need not be initialised first). Panels are shared out
    /// over the kernel pool's threads when no other forward pass runs.
    fn matmul(&self, input: &[f32], rows: usize, with_bias: bool, output: &mut [MaybeUninit<f32>]) -> Result<()> {
        if input.len() != rows * self.inputs || output.len() != rows * self.outputs {
            candle_core::bail!(
                "packed matmul: {} values for {rows} rows of {}",
                input.len(),
                self.inputs
            );
        }
        if !available(self.precision) {
            candle_core::bail!("this CPU cannot run the packed {} kernels", self.precision);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let rounded;
            let (activations, activation_stride) = match self.precision {
                Precision::Float32 => (input.as_ptr() as *const u32, self.inputs),
                Precision::BFloat16 => {
                    rounded = round_rows(input, self.inputs, self.split, self.steps);
                    (rounded.as_ptr(), self.steps)
                }
            };
            let bias = if with_bias { self.bias.as_deref() } else { None };
            let blocks = self.outputs.div_ceil(LANES);
            let panels = blocks.div_ceil(PANEL_BLOCKS);
            let output_address = output.as_mut_ptr() as usize;
            let (activations, packed) = (activations as usize, self.packed.as_ptr() as usize);
            let run = |panel: usize| {
                let first_block = panel * PANEL_BLOCKS;
                let job = kernel::PanelJob {
                    weights: (packed as *const u32).wrapping_add(first_block * LANES * self.steps),
                    steps: self.steps,
                    blocks: PANEL_BLOCKS.min(blocks - first_block),
                    columns: (self.outputs - first_block * LANES).min(PANEL),
                    bias: bias.map(|b| b[first_block * LANES..].as_ptr()),
                    activations: activations as *const u32,
                    activation_stride,
                    rows,
                    output: (output_address as *mut f32).wrapping_add(first_block * LANES),
                    output_stride: self.outputs,
                };
                // SAFETY: `available` checked the CPU features; the job's pointers stay within
                // the checked slices, and panels write disjoint output columns.
                unsafe {
                    match self.precision {
                        Precision::Float32 => kernel::float32::run_panel(&job),
                        Precision::BFloat16 => kernel::bfloat16::run_panel(&job),
                    }
                }
            };
            match kernel_pool() {
                Some(pool)
                    if panels > 1
                        && rows * self.inputs * self.outputs >= PARALLEL_FROM
                        && FORWARDS_IN_FLIGHT.load(Ordering::Relaxed) <= 1 =>
                {
                    let threads = pool.current_num_threads().min(panels);
                    pool.scope(|scope| {
                        for thread in 0..threads {
                            let run = &run;
                            scope.spawn(move |_| (thread..panels).step_by(threads).for_each(run));
                        }
                    });
                }
                _ => (0..panels).for_each(run),
            }
        }
        Ok(())
    }
}

/// Rounds each `[inputs]` row to bfloat16 pairs, `steps` words per row, zero-padded. Split
/// rows hold three words per pair, matching the packed weights' terms: the rounded values,
/// their rounding errors rounded in turn, the rounded values again.
fn round_rows(input: &[f32], inputs: usize, split: bool, steps: usize) -> Vec<u32> {
    let mut output = vec![0u32; input.len() / inputs.max(1) * steps];
    for (row, words) in input.chunks_exact(inputs).zip(output.chunks_exact_mut(steps)) {
        if split {
            for (index, &x) in row.iter().enumerate() {
                let high = to_bf16(x);
                let low = to_bf16(x - widen(high));
                let shift = 16 * (index % 2);
                let terms = &mut words[(index / 2) * SPLIT_TERMS..][..SPLIT_TERMS];
                terms[0] |= u32::from(high) << shift;
                terms[1] |= u32::from(low) << shift;
                terms[2] |= u32::from(high) << shift;
            }
        } else {
            let (pairs, odd) = row.split_at(inputs - inputs % 2);
            for (word, pair) in words.iter_mut().zip(pairs.chunks_exact(2)) {
                *word = u32::from(to_bf16(pair[0])) | (u32::from(to_bf16(pair[1])) << 16);
            }
            if let (Some(&last), Some(word)) = (odd.first(), words.get_mut(inputs / 2)) {
                *word = u32::from(to_bf16(last));
            }
        }
    }
    output
}

struct PackedMatmul<'a> {
    linear: &'a PackedLinear,
    with_bias: bool,
}

impl CustomOp1 for PackedMatmul<'_> {
    fn name(&self) -> &'static str {
        "packed-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, inputs) = layout.shape().dims2()?;
        if inputs != self.linear.inputs {
            candle_core::bail!("a linear layer of {} inputs applied to {inputs}", self.linear.inputs);
        }
        let values = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(values), Some((start, end))) => &values[start..end],
            _ => candle_core::bail!("the packed linear layer needs contiguous float32 input"),
        };
        let length = rows * self.linear.outputs;
        let mut output: Vec<f32> = Vec::with_capacity(length);
        self.linear
            .matmul(values, rows, self.with_bias, &mut output.spare_capacity_mut()[..length])?;
        // SAFETY: `matmul` succeeded, so it wrote all `length` elements.
        unsafe { output.set_len(length) };
        Ok((CpuStorage::F32(output), Shape::from((rows, self.linear.outputs))))
    }
}
