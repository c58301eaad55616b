//! Linear layers in bfloat16 on the CPU's bf16 dot-product instructions (AVX512_BF16), for
//! `--dtype bfloat16`.
//!
//! Weights are rounded to bfloat16 once, at load, and packed for the kernel: column blocks of 16
//! outputs, each holding, for every pair of inputs `(2p, 2p + 1)`, the 16 columns' two values side
//! by side — the operand layout of `vdpbf16ps`, which multiplies such pairs and adds both products
//! to a float32 lane. Each call rounds its activations to bfloat16 and accumulates in float32;
//! the bias is added in float32. Everything around the matmuls (layer norm, softmax, attention
//! products, pooling, normalisation) stays float32.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// Output columns per vector register.
const LANES: usize = 16;
/// Column blocks one kernel call covers (64 outputs), and rows: 6 x 4 accumulators leave the
/// other registers for the weight vectors and the broadcast activation pair.
const PANEL_BLOCKS: usize = 4;
const PANEL: usize = PANEL_BLOCKS * LANES;
const ROWS: usize = 6;
/// Matrices with fewer inputs than this take activations and weights as two bfloat16 terms each
/// (about 16 significant bits; the product of the two low terms is left out). Their dot products
/// are too short for rounding errors to average out, and their cost is negligible next to the
/// real models' layers (384 inputs and up), which take one term.
const SPLIT_BELOW: usize = 64;
const SPLIT_TERMS: usize = 3;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Makes [`cpu_supports_bf16`] answer no from now on, as on a CPU without the instructions.
pub fn disable_cpu_bf16() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Whether this CPU has the bf16 dot-product instructions (and AVX-512 around them), and they
/// have not been switched off.
pub fn cpu_supports_bf16() -> bool {
    if DISABLED.load(Ordering::Relaxed) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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

/// A `[outputs, inputs]` weight matrix (PyTorch's Linear layout) in the kernel's packed
/// bfloat16 layout, with its float32 bias.
pub struct PackedBf16Linear {
    inputs: usize,
    outputs: usize,
    /// Input pairs (inputs rounded up to even).
    pairs: usize,
    /// Whether activations and weights are each fed as two bfloat16 terms (value and rounding
    /// error), for matrices with too few inputs for rounding errors to average out (see
    /// [`SPLIT_BELOW`]).
    split: bool,
    /// Packed pair rows the kernel steps through: `pairs`, three times that when `split`
    /// (high x high, low activation x high weight, high activation x low weight).
    steps: usize,
    /// Panels of `PANEL` columns (the last may be narrower, in whole blocks), each stored pair by
    /// pair: `[pair][block][lane]` of `u32` = (even input's bf16) | (odd input's bf16) << 16.
    packed: Vec<u32>,
    bias: Option<Vec<f32>>,
}

impl PackedBf16Linear {
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (outputs, inputs) = weight.dims2()?;
        let rows = weight.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
        let pairs = inputs.div_ceil(2);
        let split = inputs < SPLIT_BELOW;
        let steps = if split { SPLIT_TERMS * pairs } else { pairs };
        let blocks = outputs.div_ceil(LANES);
        let mut packed = vec![0u32; blocks * LANES * steps];
        // The weight's bfloat16 value, or (`low`) the bfloat16 of its rounding error.
        let value = |column: usize, input: usize, low: bool| -> u32 {
            match rows.get(column).and_then(|row| row.get(input)) {
                Some(&x) if low => u32::from(to_bf16(x - widen(to_bf16(x)))),
                Some(&x) => u32::from(to_bf16(x)),
                None => 0,
            }
        };
        for panel_start in (0..blocks).step_by(PANEL_BLOCKS) {
            let panel_blocks = PANEL_BLOCKS.min(blocks - panel_start);
            let base = panel_start * LANES * steps;
            for step in 0..steps {
                let (pair, low) = if split {
                    (step / SPLIT_TERMS, step % SPLIT_TERMS == 2)
                } else {
                    (step, false)
                };
                for block in 0..panel_blocks {
                    for lane in 0..LANES {
                        let column = (panel_start + block) * LANES + lane;
                        let slot = base + (step * panel_blocks + block) * LANES + lane;
                        packed[slot] = value(column, 2 * pair, low) | (value(column, 2 * pair + 1, low) << 16);
                    }
                }
            }
        }
        let bias = bias
            .map(|b| b.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>())
            .transpose()?;
        if let Some(bias) = &bias {
            if bias.len() != outputs {
                candle_core::bail!("bias of {} for {outputs} outputs", bias.len());
            }
        }
        Ok(Self {
            inputs,
            outputs,
            pairs,
            split,
            steps,
            packed,
            bias,
        })
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x @ weight^T (+ bias)` for `x` of shape `[rows, inputs]` (float32, on the CPU).
    pub fn forward(&self, x: &Tensor, with_bias: bool) -> Result<Tensor> {
        x.apply_op1_no_bwd(&Bf16Matmul {
            linear: self,
            with_bias,
        })
    }

    /// The matmul on host slices: `input` is `[rows, inputs]`, `output` `[rows, outputs]`.
    pub fn matmul(&self, input: &[f32], rows: usize, with_bias: bool, output: &mut [f32]) -> Result<()> {
        if input.len() != rows * self.inputs || output.len() != rows * self.outputs {
            candle_core::bail!("bf16 matmul: {} inputs for {rows} rows of {}", input.len(), self.inputs);
        }
        if !cpu_supports_bf16() {
            candle_core::bail!("this CPU has no bf16 dot-product instructions (AVX512_BF16)");
        }
        let bias = if with_bias { self.bias.as_deref() } else { None };
        #[cfg(target_arch = "x86_64")]
        {
            let mut activations = vec![0u16; rows * 2 * self.steps];
            // SAFETY: AVX512F and AVX512_BF16 are present (checked above).
            unsafe { round_rows(input, self.inputs, self.split, 2 * self.steps, &mut activations) };
            let panels = self.outputs.div_ceil(PANEL);
            let run_panel = |panel: usize, out: &mut [f32]| {
                // SAFETY: as above; the slices' sizes were checked against the shapes.
                unsafe { self.panel(panel, &activations, rows, bias, out) }
            };
            let threads = rayon::current_num_threads().min(panels);
            if threads <= 1 {
                let output_ptr = SendPtr(output.as_mut_ptr());
                for panel in 0..panels {
                    run_panel(panel, unsafe { output_ptr.slice(output.len()) });
                }
            } else {
                let output_ptr = SendPtr(output.as_mut_ptr());
                let length = output.len();
                // Panels write disjoint columns of the output.
                rayon::scope(|scope| {
                    for thread in 0..threads {
                        let run_panel = &run_panel;
                        scope.spawn(move |_| {
                            let output_ptr = output_ptr;
                            for panel in (thread..panels).step_by(threads) {
                                run_panel(panel, unsafe { output_ptr.slice(length) });
                            }
                        });
                    }
                });
            }
        }
        Ok(())
    }

    /// All rows of one column panel.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn panel(&self, panel: usize, activations: &[u16], rows: usize, bias: Option<&[f32]>, output: &mut [f32]) {
        let blocks = self.outputs.div_ceil(LANES);
        let first_block = panel * PANEL_BLOCKS;
        let panel_blocks = PANEL_BLOCKS.min(blocks - first_block);
        let columns = (self.outputs - first_block * LANES).min(PANEL);
        let weights = self.packed.as_ptr().add(first_block * LANES * self.steps);
        let bias = bias.map(|b| b.as_ptr().add(first_block * LANES));
        let stride = 2 * self.steps;
        let tile = Tile {
            weights,
            pairs: self.steps,
            columns,
            bias,
            output_stride: self.outputs,
        };
        let mut row = 0;
        while row < rows {
            let take = ROWS.min(rows - row);
            let a = activations.as_ptr().add(row * stride);
            let c = output.as_mut_ptr().add(row * self.outputs + first_block * LANES);
            macro_rules! dispatch {
                ($($r:literal)*) => {
                    match (take, panel_blocks) {
                        $( ($r, 4) => tile.run::<$r, 4>(a, stride, c),
                           ($r, 3) => tile.run::<$r, 3>(a, stride, c),
                           ($r, 2) => tile.run::<$r, 2>(a, stride, c),
                           ($r, _) => tile.run::<$r, 1>(a, stride, c), )*
                        _ => unreachable!(),
                    }
                };
            }
            dispatch!(1 2 3 4 5 6);
            row += take;
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each thread writes a disjoint set of output columns.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    /// # Safety
    /// The pointer addresses `length` floats that outlive the returned slice.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, length: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0, length)
    }
}

#[cfg(target_arch = "x86_64")]
struct Tile {
    weights: *const u32,
    pairs: usize,
    /// Valid output columns in this panel (the last block may be partial).
    columns: usize,
    bias: Option<*const f32>,
    output_stride: usize,
}

#[cfg(target_arch = "x86_64")]
impl Tile {
    /// `R` rows times `B` column blocks, over all input pairs, accumulators in registers.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn run<const R: usize, const B: usize>(&self, a: *const u16, a_stride: usize, c: *mut f32) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_ps(); B]; R];
        let mut w = self.weights;
        for pair in 0..self.pairs {
            let mut wv = [_mm512_setzero_si512(); B];
            for (block, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(w.add(block * LANES) as *const _);
            }
            for (row, acc_row) in acc.iter_mut().enumerate() {
                let pair_bits = (a.add(row * a_stride + 2 * pair) as *const i32).read_unaligned();
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair_bits));
                for (block, acc) in acc_row.iter_mut().enumerate() {
                    *acc = _mm512_dpbf16_ps(*acc, av, std::mem::transmute::<__m512i, __m512bh>(wv[block]));
                }
            }
            w = w.add(B * LANES);
        }
        for (row, acc_row) in acc.iter().enumerate() {
            let out = c.add(row * self.output_stride);
            for (block, &value) in acc_row.iter().enumerate() {
                let valid = self.columns.saturating_sub(block * LANES).min(LANES);
                let mask: __mmask16 = if valid == LANES { !0 } else { (1u16 << valid) - 1 };
                let value = match self.bias {
                    Some(bias) => _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, bias.add(block * LANES))),
                    None => value,
                };
                _mm512_mask_storeu_ps(out.add(block * LANES), mask, value);
            }
        }
    }
}

/// Rounds each `[inputs]` row to bfloat16 into rows of `stride` values, zero-padded. With
/// `split`, each pair of inputs becomes three pairs, matching the packed weights' terms: the
/// rounded values, their rounding errors rounded in turn, the rounded values again.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_rows(input: &[f32], inputs: usize, split: bool, stride: usize, output: &mut [u16]) {
    for (row, out) in input.chunks_exact(inputs).zip(output.chunks_exact_mut(stride)) {
        if split {
            for (index, &x) in row.iter().enumerate() {
                let high = to_bf16(x);
                let slot = (index / 2) * 2 * SPLIT_TERMS + index % 2;
                out[slot] = high;
                out[slot + 2] = to_bf16(x - widen(high));
                out[slot + 4] = high;
            }
        } else {
            for (x, o) in row.iter().zip(out.iter_mut()) {
                *o = to_bf16(*x);
            }
        }
    }
}

struct Bf16Matmul<'a> {
    linear: &'a PackedBf16Linear,
    with_bias: bool,
}

impl CustomOp1 for Bf16Matmul<'_> {
    fn name(&self) -> &'static str {
        "bf16-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, inputs) = layout.shape().dims2()?;
        if inputs != self.linear.inputs {
            candle_core::bail!("bf16 linear of {} inputs applied to {inputs}", self.linear.inputs);
        }
        let values = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(values), Some((start, end))) => &values[start..end],
            _ => candle_core::bail!("bf16 linear needs contiguous float32 input"),
        };
        let mut output = vec![0f32; rows * self.linear.outputs];
        self.linear.matmul(values, rows, self.with_bias, &mut output)?;
        Ok((CpuStorage::F32(output), Shape::from((rows, self.linear.outputs))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn bf16_value(x: f32) -> f32 {
        widen(to_bf16(x))
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is half-way between 1 and the next bf16 (1 + 2^-7): ties go to even (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), half::bf16::from_f32(-2.5).to_bits());
        for x in [0.1f32, -3.3e-5, 1234.567, 7.0e20] {
            assert_eq!(to_bf16(x), half::bf16::from_f32(x).to_bits(), "{x}");
        }
    }

    /// Every shape's tails: rows not a multiple of the tile, columns not a multiple of a block or
    /// a panel, an odd number of inputs. Matrices with one term are compared with the same
    /// products in float64 on the rounded operands, so only the float32 accumulation differs;
    /// split ones (fewer than `SPLIT_BELOW` inputs) with the exact products.
    #[test]
    fn matches_the_rounded_product_on_every_tail() {
        if !cpu_supports_bf16() {
            eprintln!("skipped: no AVX512_BF16 on this CPU");
            return;
        }
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (rows, inputs, outputs) in [
            (1, 1, 1),
            (7, 33, 17),
            (13, 64, 200),
            (6, 384, 64),
            (31, 5, 81),
            (9, 65, 20),
        ] {
            let w: Vec<f32> = (0..outputs * inputs).map(|_| next()).collect();
            let b: Vec<f32> = (0..outputs).map(|_| next()).collect();
            let x: Vec<f32> = (0..rows * inputs).map(|_| next() * 4.0).collect();
            let weight = Tensor::from_vec(w.clone(), (outputs, inputs), &Device::Cpu).unwrap();
            let bias = Tensor::from_vec(b.clone(), outputs, &Device::Cpu).unwrap();
            let linear = PackedBf16Linear::new(&weight, Some(&bias)).unwrap();
            let operand = |v: f32| if inputs < SPLIT_BELOW { v } else { bf16_value(v) };
            let tolerance = if inputs < SPLIT_BELOW { 2e-4 } else { 1e-4 };
            for with_bias in [true, false] {
                let input = Tensor::from_vec(x.clone(), (rows, inputs), &Device::Cpu).unwrap();
                let got = linear.forward(&input, with_bias).unwrap().to_vec2::<f32>().unwrap();
                for r in 0..rows {
                    for o in 0..outputs {
                        let mut want: f64 = (0..inputs)
                            .map(|i| f64::from(operand(x[r * inputs + i])) * f64::from(operand(w[o * inputs + i])))
                            .sum();
                        if with_bias {
                            want += f64::from(b[o]);
                        }
                        let error = (f64::from(got[r][o]) - want).abs();
                        assert!(
                            error < 1e-4,
                            "{rows}x{inputs}x{outputs} [{r},{o}]: {} vs {want}",
                            got[r][o]
                        );
                    }
                }
            }
        }
    }
}
