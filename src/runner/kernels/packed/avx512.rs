//! The AVX-512 kernels: one column panel of a packed matrix times a block of activation rows,
//! accumulators in registers. Generated twice from one template: float32 (`vfmadd231ps`, one
//! input per step) and bfloat16 (`vdpbf16ps`, a pair of inputs per step).

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

macro_rules! panel_kernel {
    ($module:ident, $features:literal, |$acc:ident, $a:ident, $w:ident| $step:expr) => {
        pub mod $module {
            use super::*;

            /// # Safety
            /// The CPU has the module's features; the job's pointers cover its shapes.
            #[target_feature(enable = $features)]
            pub unsafe fn run_panel(job: &PanelJob) {
                let mut row = 0;
                while row < job.rows {
                    let take = ROWS.min(job.rows - row);
                    dispatch_tile!(tile, job, row, take; 1 2 3 4 5 6);
                    row += take;
                }
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
                        let word = activations.add(row * job.activation_stride + step).read_unaligned();
                        let $a = _mm512_set1_epi32(word as i32);
                        for (block, accumulator) in row_accumulators.iter_mut().enumerate() {
                            let $acc = *accumulator;
                            let $w = weight_vectors[block];
                            *accumulator = $step;
                        }
                    }
                    weights = weights.add(B * LANES);
                }
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
