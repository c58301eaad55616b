//! Linear layers (`x @ W^T + b`) on weights packed once at load for hand-written kernels, in
//! float32 or bfloat16, on whatever instruction set the CPU has ([`select`]).
//!
//! A matrix is packed in panels of output columns stored step by step ([`matrix`]), so that a
//! kernel streams one panel's weights in order while its accumulators stay in registers: 6 rows
//! x 4 blocks of 16 lanes on AVX-512 ([`avx512`]), 6 x 2 blocks of 8 on AVX2 ([`avx2`]) and in
//! the [`portable`] kernels. bfloat16 weights are rounded once at load and stored in pairs (half
//! float32's memory). Where the CPU has AVX512_BF16 and its `vdpbf16ps` outruns widening (timed
//! once, [`race`]), each call rounds its activations to bfloat16 too and `vdpbf16ps` multiplies
//! pairs of both; elsewhere the kernels widen the weights to float32 in registers (exact: a
//! shift) and multiply float32 activations. Either way the
//! products accumulate in float32 and the bias is added in float32. Packing once removes the
//! per-call re-packing a general matmul does, which dominates small batches (one sentence).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod matrix;
mod portable;
mod race;
pub mod select;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::runner::precision::Precision;
use matrix::{PackedMatrix, Product};
pub use select::{Isa, Kernel};

/// bfloat16 matrices with fewer inputs than this keep more than one bfloat16 term a weight:
/// their dot products are too short for rounding errors to average out, and their cost is
/// negligible next to real models' layers (384 inputs and up). The dot-product kernel takes
/// activations and weights as two terms each (about 16 significant bits; the product of the two
/// low terms is left out); the widening kernels keep such a matrix in float32.
const SPLIT_BELOW: usize = 256;
/// Steps per input pair when split: high x high, low activation x high weight, high activation
/// x low weight.
const SPLIT_TERMS: usize = 3;

/// Activation rows a product runs through every panel at a time (a multiple of the kernels'
/// 6-row tiles).
const ROW_BLOCK: usize = 96;

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

/// Whether the packed kernels can run `precision`'s linear layers on this CPU (bfloat16 always
/// can; float32 needs AVX2 or AVX-512, else candle's matmul runs it).
pub fn available(precision: Precision) -> bool {
    select::kernel_for(precision).is_some()
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
    matrix: PackedMatrix,
    bias: Option<Vec<f32>>,
}

impl PackedLinear {
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, precision: Precision) -> Result<Self> {
        let Some(kernel) = select::kernel_for(precision) else {
            candle_core::bail!("this CPU has no packed {precision} kernel");
        };
        Self::with_kernel(weight, bias, precision, kernel)
    }

    /// As [`Self::new`], on a kernel of the caller's choosing (the tests run every kernel the
    /// CPU has).
    pub fn with_kernel(weight: &Tensor, bias: Option<&Tensor>, precision: Precision, kernel: Kernel) -> Result<Self> {
        let (outputs, inputs) = weight.dims2()?;
        let small = precision == Precision::BFloat16 && inputs < SPLIT_BELOW;
        let (kernel, split) = match kernel {
            Kernel::Avx512Bf16Dot => (kernel, small),
            _ if small => (kernel.float32_twin(), false),
            _ => (kernel, false),
        };
        let values = weight.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let matrix = PackedMatrix::pack(kernel, outputs, inputs, split, |column, input| {
            values[column * inputs + input]
        });
        let bias = bias.map(|b| b.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
        if bias.as_ref().is_some_and(|b| b.len() != outputs) {
            candle_core::bail!("a bias of the wrong size for {outputs} outputs");
        }
        Ok(Self { matrix, bias })
    }

    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    pub fn kernel(&self) -> Kernel {
        self.matrix.kernel()
    }

    /// The packed weights' size in memory.
    pub fn weight_bytes(&self) -> usize {
        self.matrix.bytes()
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
        let (inputs, outputs) = (self.matrix.inputs(), self.matrix.outputs());
        if input.len() != rows * inputs || output.len() != rows * outputs {
            candle_core::bail!("packed matmul: {} values for {rows} rows of {inputs}", input.len());
        }
        if rows == 0 || outputs == 0 {
            return Ok(());
        }
        let rounded;
        let (activations, activation_stride) = if self.matrix.kernel().rounds_activations() {
            rounded = round_rows(input, inputs, self.matrix.split(), self.matrix.steps());
            (rounded.as_ptr(), self.matrix.steps())
        } else {
            (input.as_ptr() as *const u32, inputs)
        };
        let parallel = rows * inputs * outputs >= PARALLEL_FROM;
        let output = output.as_mut_ptr() as *mut f32;
        let block_product = |first_row: usize| Product {
            // SAFETY: `first_row < rows`: both offsets stay inside their slices.
            activations: unsafe { activations.add(first_row * activation_stride) },
            activation_stride,
            rows: ROW_BLOCK.min(rows - first_row),
            columns: 0..outputs,
            steps: 0..self.matrix.steps(),
            bias: if with_bias { self.bias.as_deref() } else { None },
            output: unsafe { output.add(first_row * outputs) },
            output_stride: outputs,
        };
        // Every block's product has the first's columns and steps: one check covers them all.
        if !self.matrix.fits(&block_product(0)) {
            candle_core::bail!("this CPU cannot run the {:?} kernel", self.matrix.kernel());
        }
        // Every panel of a block of rows before the next block: the block's activations stay
        // in the L2 cache while the panels stream past, instead of every panel streaming all
        // the rows from memory.
        for first_row in (0..rows).step_by(ROW_BLOCK) {
            let product = block_product(first_row);
            let product = SharedProduct(&product);
            run_panels(self.matrix.panels(&product.get().columns), parallel, |panel| {
                // SAFETY: `fits` checked the shapes and the CPU; the slices hold the block's
                // rows of `inputs` and `outputs`; panels write disjoint output columns.
                unsafe { self.matrix.run_panel(product.get(), panel) }
            });
        }
        Ok(())
    }
}

/// A product whose raw pointers the panels' threads share: each panel writes its own columns.
struct SharedProduct<'a, 'b>(&'a Product<'b>);

// SAFETY: the pointers are only read (activations, weights, bias) or written in disjoint
// columns (output) while the borrowed product lives.
unsafe impl Sync for SharedProduct<'_, '_> {}

impl<'b> SharedProduct<'_, 'b> {
    fn get(&self) -> &Product<'b> {
        self.0
    }
}

/// Runs `work` on every panel: shared out over the kernel pool when `parallel` (the product is
/// large enough) and no other forward pass runs, else on the calling thread.
fn run_panels(panels: std::ops::Range<usize>, parallel: bool, work: impl Fn(usize) + Sync) {
    match kernel_pool() {
        Some(pool) if parallel && panels.len() > 1 && FORWARDS_IN_FLIGHT.load(Ordering::Relaxed) <= 1 => {
            let threads = pool.current_num_threads().min(panels.len());
            pool.scope(|scope| {
                for thread in 0..threads {
                    let (work, panels) = (&work, panels.clone());
                    scope.spawn(move |_| panels.skip(thread).step_by(threads).for_each(work));
                }
            });
        }
        _ => panels.for_each(work),
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
        if inputs != self.linear.matrix.inputs() {
            candle_core::bail!(
                "a linear layer of {} inputs applied to {inputs}",
                self.linear.matrix.inputs()
            );
        }
        let values = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(values), Some((start, end))) => &values[start..end],
            _ => candle_core::bail!("the packed linear layer needs contiguous float32 input"),
        };
        let outputs = self.linear.matrix.outputs();
        let length = rows * outputs;
        let mut output: Vec<f32> = Vec::with_capacity(length);
        self.linear
            .matmul(values, rows, self.with_bias, &mut output.spare_capacity_mut()[..length])?;
        // SAFETY: `matmul` succeeded, so it wrote all `length` elements.
        unsafe { output.set_len(length) };
        Ok((CpuStorage::F32(output), Shape::from((rows, outputs))))
    }
}
