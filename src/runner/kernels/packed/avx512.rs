//! The AVX-512 kernels: one column panel of a packed matrix times a block of activation rows,
//! accumulators in registers. Generated twice from one template: float32 (`vfmadd231ps`, one
//! input per step) and bfloat16 (`vdpbf16ps`, a pair of inputs per step); and bfloat16 weights
//! widened to float32 in registers ([`bfloat16_widen`]), for AVX-512 CPUs without `vdpbf16ps`
//! and those whose `vdpbf16ps` is slower than two float32 multiply-adds (see
//! [`super::select`]).

use std::arch::x86_64::*;

use super::matrix::{PanelJob, ROWS};

const LANES: usize = 16;
const PANEL_BLOCKS: usize = 4;

/// Calls the `tile` instance for `take` rows and the job's block count (const generics, so that
/// each shape's accumulators live in registers).
macro_rules! dispatch_tile {
    ($tile:ident, $job:expr, $row:expr, $take:expr; $($rows:literal)*) => {
        match ($take, $job.blocks) {
            $( ($rows, 4) => $tile::<$rows, 4>($job, $row),
               ($rows, 3) => $tile::<$rows, 3>($job, $row),
               ($rows, 2) => $tile::<$rows, 2>($job, $row),
               ($rows, _) => $tile::<$rows, 1>($job, $row), )*
            _ => unreachable!("at most {ROWS} rows and {PANEL_BLOCKS} blocks"),
        }
    };
}

/// Runs `tile` over the job's rows, 6 at a time (fewer for the last).
macro_rules! run_tiles {
    ($tile:ident, $job:expr) => {{
        let mut row = 0;
        while row < $job.rows {
            let take = ROWS.min($job.rows - row);
            dispatch_tile!($tile, $job, row, take; 1 2 3 4 5 6);
            row += take;
        }
    }};
}

macro_rules! panel_kernel {
    ($module:ident, $features:literal, |$acc:ident, $a:ident, $w:ident| $step:expr) => {
        pub mod $module {
            use super::*;

            /// # Safety
            /// The CPU has the module's features; the job's pointers cover its shapes.
            #[target_feature(enable = $features)]
            pub unsafe fn run_panel(job: &PanelJob) {
                run_tiles!(tile, job);
            }

            /// `R` rows from `first_row` times `B` column blocks, over every step.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const R: usize, const B: usize>(job: &PanelJob, first_row: usize) {
                let mut accumulators = [[_mm512_setzero_ps(); B]; R];
                let activations = job.activations.add(first_row * job.activation_stride);
                let mut weights = job.weights;
                for step in 0..job.steps {
                    let mut weight_vectors = [_mm512_setzero_si512(); B];
                    for (block, vector) in weight_vectors.iter_mut().enumerate() {
                        *vector = _mm512_loadu_si512(weights.add(block * LANES) as *const _);
                    }
                    for (row, row_accumulators) in accumulators.iter_mut().enumerate() {
                        let word = activations
                            .add(row * job.activation_stride + step)
                            .read_unaligned();
                        let $a = _mm512_set1_epi32(word as i32);
                        for (block, accumulator) in row_accumulators.iter_mut().enumerate() {
                            let $acc = *accumulator;
                            let $w = weight_vectors[block];
                            *accumulator = $step;
                        }
                    }
                    weights = weights.add(B * LANES);
                }
                store(job, first_row, &accumulators);
            }
        }
    };
}

panel_kernel!(float32, "avx512f", |acc, a, w| _mm512_fmadd_ps(
    _mm512_castsi512_ps(a),
    _mm512_castsi512_ps(w),
    acc
));
panel_kernel!(bfloat16, "avx512f,avx512bf16", |acc, a, w| _mm512_dpbf16_ps(
    acc,
    std::mem::transmute::<__m512i, __m512bh>(a),
    std::mem::transmute::<__m512i, __m512bh>(w)
));

/// Writes a tile's valid columns (bias added) to its output rows.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store<const R: usize, const B: usize>(job: &PanelJob, first_row: usize, accumulators: &[[__m512; B]; R]) {
    for (row, row_accumulators) in accumulators.iter().enumerate() {
        let output = job.output.add((first_row + row) * job.output_stride);
        for (block, &sum) in row_accumulators.iter().enumerate() {
            let valid = job.columns.saturating_sub(block * LANES).min(LANES);
            let mask: __mmask16 = if valid == LANES { !0 } else { (1u16 << valid) - 1 };
            let sum = match job.bias {
                Some(bias) => _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, bias.add(block * LANES))),
                None => sum,
            };
            _mm512_mask_storeu_ps(output.add(block * LANES), mask, sum);
        }
    }
}

/// bfloat16 weight pairs widened to float32 (the low weight of a word shifted left by 16, the
/// high one masked), times float32 activations: exact widening, so only the weights' rounding
/// differs from float32. Each half is widened from the packed word where it is used, so the 6 x
/// 4 accumulators, the 4 widened vectors, the broadcast and the mask fit in 32 registers.
pub mod bfloat16_widen {
    use super::*;

    /// # Safety
    /// The CPU has AVX-512F; the job's pointers cover its shapes (bfloat16 weight pairs,
    /// `job.inputs` float32 activations a row).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn run_panel(job: &PanelJob) {
        run_tiles!(tile, job);
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const B: usize>(job: &PanelJob, first_row: usize) {
        let mut accumulators = [[_mm512_setzero_ps(); B]; R];
        let activations = (job.activations as *const f32).add(first_row * job.activation_stride);
        let high_half = _mm512_set1_epi32(0xffff_0000u32 as i32);
        let mut words = job.weights as *const __m512i;
        let pairs = job.inputs / 2;
        for step in 0..job.steps {
            let mut low = [_mm512_setzero_ps(); B];
            for (block, vector) in low.iter_mut().enumerate() {
                *vector = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_loadu_si512(words.add(block))));
            }
            accumulate(
                &mut accumulators,
                &low,
                activations.add(2 * step),
                job.activation_stride,
            );
            // An odd input count leaves the last word's high half empty, and no activation for it.
            if step < pairs {
                let mut high = [_mm512_setzero_ps(); B];
                for (block, vector) in high.iter_mut().enumerate() {
                    *vector = _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512(words.add(block)), high_half));
                }
                accumulate(
                    &mut accumulators,
                    &high,
                    activations.add(2 * step + 1),
                    job.activation_stride,
                );
            }
            words = words.add(B);
        }
        store(job, first_row, &accumulators);
    }

    /// Adds each row's activation at `input` (broadcast) times the weights to its accumulators.
    #[inline(always)]
    unsafe fn accumulate<const R: usize, const B: usize>(
        accumulators: &mut [[__m512; B]; R],
        weights: &[__m512; B],
        input: *const f32,
        stride: usize,
    ) {
        for (row, row_accumulators) in accumulators.iter_mut().enumerate() {
            let a = _mm512_set1_ps(*input.add(row * stride));
            for (accumulator, &w) in row_accumulators.iter_mut().zip(weights) {
                *accumulator = _mm512_fmadd_ps(a, w, *accumulator);
            }
        }
    }
}
