//! A matrix packed once for one [`Kernel`]: panels of output columns (the kernel's panel
//! width), each stored step by step (`[panel][step][column]`), so a kernel streams one panel's
//! weights in order while its accumulators stay in registers. A step is one input for float32
//! words, a pair of inputs for bfloat16 pairs.

use std::ops::Range;

use super::select::{self, Kernel, Words};
use super::{to_bf16, widen, SPLIT_TERMS};

/// Activation rows per kernel tile.
pub const ROWS: usize = 6;

/// One column panel's work: pointers into the packed weights, the activations and the output,
/// all checked against the shapes by the caller.
pub struct PanelJob {
    /// The panel's packed weights from its first step: `[step][block][lane]`.
    pub weights: *const u32,
    pub steps: usize,
    /// Column blocks (of the kernel's lanes) in this panel: the last panel may have fewer.
    pub blocks: usize,
    /// Output columns written from this panel (the last block may be partial).
    pub columns: usize,
    /// The bias of the panel's first column, when one is added.
    pub bias: Option<*const f32>,
    /// Row-major activations: float32, or bfloat16 pairs for the dot-product kernel.
    pub activations: *const u32,
    pub activation_stride: usize,
    /// Activations a row (the widening kernels read them one by one, steps being pairs).
    pub inputs: usize,
    pub rows: usize,
    /// The panel's first output column of row 0.
    pub output: *mut f32,
    pub output_stride: usize,
}

pub struct PackedMatrix {
    kernel: Kernel,
    inputs: usize,
    outputs: usize,
    /// bfloat16 with two terms per operand (the dot-product kernel's small matrices).
    split: bool,
    /// Words per column of a panel.
    steps: usize,
    packed: Lines,
}

/// Packed words in 64-byte cache lines. Every panel starts a line and every step of a panel
/// fills whole vectors, so the kernels' weight loads are aligned: a zmm load that straddles two
/// lines costs about two, and a plain `Vec<u32>` starts wherever the allocator puts it, so a
/// kernel's speed (and the bfloat16 kernels' start-up race) could depend on the process.
struct Lines(Vec<Line>);

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u32; LINE_WORDS]);

const LINE_WORDS: usize = 16;

impl Lines {
    /// `len` words from `words` (zeros after them), written straight into the lines: no
    /// unaligned copy of a whole matrix is made first.
    fn collect(len: usize, words: impl Iterator<Item = u32>) -> Self {
        let mut lines = vec![Line([0; LINE_WORDS]); len.div_ceil(LINE_WORDS)];
        for (slot, word) in lines.iter_mut().flat_map(|line| line.0.iter_mut()).zip(words) {
            *slot = word;
        }
        Self(lines)
    }

    fn words(&self) -> &[u32] {
        // SAFETY: a `Line` is 16 `u32`s with no padding (`repr(C)`, size 64 = its alignment),
        // so the lines are `16 * len` initialised words in a row.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr() as *const u32, self.0.len() * LINE_WORDS) }
    }
}

/// A product's operands: `rows` activation rows (`activation_stride` words apart, each from the
/// word of the first step) times the matrix's `columns` (from a panel's first column), over
/// `steps` (a range for float32 words; all of them otherwise), into rows `output_stride` apart
/// starting at the first column's output.
pub struct Product<'a> {
    pub activations: *const u32,
    pub activation_stride: usize,
    pub rows: usize,
    pub columns: Range<usize>,
    pub steps: Range<usize>,
    /// Indexed by column.
    pub bias: Option<&'a [f32]>,
    pub output: *mut f32,
    pub output_stride: usize,
}

impl PackedMatrix {
    /// Packs the `[outputs, inputs]` matrix whose element is `value(output, input)`; `split`
    /// (bfloat16 pairs only) stores each weight as two bfloat16 terms, high and low.
    pub fn pack(
        kernel: Kernel,
        outputs: usize,
        inputs: usize,
        split: bool,
        value: impl Fn(usize, usize) -> f32,
    ) -> Self {
        let split = split && kernel.words() == Words::Bf16Pairs;
        let steps = match kernel.words() {
            Words::Float32 => inputs,
            Words::Bf16Pairs if split => SPLIT_TERMS * inputs.div_ceil(2),
            Words::Bf16Pairs => inputs.div_ceil(2),
        };
        let weight_at =
            |column: usize, input: usize| (column < outputs && input < inputs).then(|| value(column, input));
        let word = |column: usize, step: usize| -> u32 {
            let bf16 = |input: usize, low: bool| match weight_at(column, input) {
                Some(x) if low => u32::from(to_bf16(x - widen(to_bf16(x)))),
                Some(x) => u32::from(to_bf16(x)),
                None => 0,
            };
            match kernel.words() {
                Words::Float32 => weight_at(column, step).map_or(0, f32::to_bits),
                Words::Bf16Pairs => {
                    let (pair, low) = if split {
                        (step / SPLIT_TERMS, step % SPLIT_TERMS == 2)
                    } else {
                        (step, false)
                    };
                    bf16(2 * pair, low) | (bf16(2 * pair + 1, low) << 16)
                }
            }
        };
        let (lanes, panel) = (kernel.lanes(), kernel.panel());
        let blocks = outputs.div_ceil(lanes);
        let word = &word;
        let words = (0..blocks * lanes).step_by(panel).flat_map(|first_column| {
            let panel_columns = panel.min(blocks * lanes - first_column);
            (0..steps).flat_map(move |step| {
                (first_column..first_column + panel_columns).map(move |column| word(column, step))
            })
        });
        Self {
            kernel,
            inputs,
            outputs,
            split,
            steps,
            packed: Lines::collect(blocks * lanes * steps, words),
        }
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(self.packed.0.as_slice())
    }

    pub fn split(&self) -> bool {
        self.split
    }

    /// Words per activation row the kernel reads (bfloat16 pairs for the dot-product kernel).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// How many column panels `columns` spans (the unit [`Self::run_panel`] takes).
    pub fn panels(&self, columns: &Range<usize>) -> Range<usize> {
        let panel = self.kernel.panel();
        columns.start / panel..columns.end.div_ceil(panel)
    }

    /// Whether `product`'s shapes fit this matrix (checked once before its panels run).
    pub fn fits(&self, product: &Product) -> bool {
        let panel_aligned = product.columns.start.is_multiple_of(self.kernel.panel());
        let whole_steps = product.steps == (0..self.steps) || self.kernel.words() == Words::Float32;
        panel_aligned
            && whole_steps
            && product.columns.start < product.columns.end
            && product.columns.end <= self.outputs
            && product.steps.start < product.steps.end
            && product.steps.end <= self.steps
            && product.bias.is_none_or(|bias| bias.len() >= self.outputs)
            && select::cpu_can_run(self.kernel)
    }

    /// Runs one panel of `product` (an index from [`Self::panels`]).
    ///
    /// # Safety
    /// `self.fits(product)`; the activations hold `rows` rows of the steps read, the output
    /// `rows` rows of the columns written; no other thread writes the panel's output columns.
    pub unsafe fn run_panel(&self, product: &Product, panel: usize) {
        let (lanes, width) = (self.kernel.lanes(), self.kernel.panel());
        let first_column = panel * width;
        let panel_columns = width.min(self.outputs.div_ceil(lanes) * lanes - first_column);
        let job = PanelJob {
            // A step holds one word per column of the panel.
            weights: self
                .packed
                .words()
                .as_ptr()
                .add(first_column * self.steps + product.steps.start * panel_columns),
            steps: product.steps.len(),
            blocks: panel_columns / lanes,
            columns: (product.columns.end - first_column).min(width),
            bias: product.bias.map(|bias| bias.as_ptr().add(first_column)),
            activations: product.activations,
            activation_stride: product.activation_stride,
            inputs: if self.kernel.words() == Words::Float32 {
                product.steps.len()
            } else {
                self.inputs
            },
            rows: product.rows,
            output: product.output.add(first_column - product.columns.start),
            output_stride: product.output_stride,
        };
        run_job(self.kernel, &job);
    }
}

/// # Safety
/// As [`PackedMatrix::run_panel`]: the job fits the kernel, whose instructions the CPU has.
unsafe fn run_job(kernel: Kernel, job: &PanelJob) {
    use super::portable;
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Float32 => super::avx512::float32::run_panel(job),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Bf16Dot => super::avx512::bfloat16::run_panel(job),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Bf16Widen => super::avx512::bfloat16_widen::run_panel(job),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Float32 => super::avx2::run_float32(job),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Bf16Widen => super::avx2::run_bf16_widen(job),
        Kernel::PortableFloat32 => portable::run_float32(job),
        Kernel::PortableBf16Widen => portable::run_bf16_widen(job),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("x86 kernels are never chosen on this architecture"),
    }
}
