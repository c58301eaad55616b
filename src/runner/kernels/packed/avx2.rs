//! The AVX2 + FMA kernels: one column panel (two blocks of 8 lanes) times up to 6 activation
//! rows (5 when widening), the accumulators, the panel's weights and a broadcast activation in
//! the 16 ymm registers. float32 weights take one input a step; bfloat16 weight pairs are widened to
//! float32 in registers (a bfloat16 is the high half of a float32: the low weight of a word is
//! the word shifted left by 16, the high one the word with its low half masked off), exactly,
//! and multiply float32 activations, so the weights' memory and bandwidth halve and only their
//! own rounding differs from float32.

use std::arch::x86_64::*;

use super::matrix::{PanelJob, ROWS};

const LANES: usize = 8;
const PANEL_BLOCKS: usize = 2;
/// Rows per widening tile: its two raw weight words, two widened vectors and the mask that
/// widens the high halves take four registers, so 5 x 2 accumulators fit where 6 x 2 spill.
const WIDEN_ROWS: usize = 5;

/// Calls the `tile` instance for `take` rows (the listed counts, else `$full`, the kernel's
/// tile height) and the job's block count (const generics, so that each shape's accumulators
/// live in registers).
macro_rules! dispatch_tile {
    ($tile:ident, $job:expr, $row:expr, $take:expr; $($rows:literal)*; $full:expr) => {
        match ($take, $job.blocks) {
            $( ($rows, 1) => $tile::<$rows, 1>($job, $row),
               ($rows, _) => $tile::<$rows, PANEL_BLOCKS>($job, $row), )*
            (_, 1) => $tile::<$full, 1>($job, $row),
            _ => $tile::<$full, PANEL_BLOCKS>($job, $row),
        }
    };
}

/// # Safety
/// The CPU has AVX2 and FMA; the job's pointers cover its shapes (float32 weights).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn run_float32(job: &PanelJob) {
    let mut row = 0;
    while row < job.rows {
        let take = ROWS.min(job.rows - row);
        dispatch_tile!(float32_tile, job, row, take; 1 2 3 4 5; ROWS);
        row += take;
    }
}

/// # Safety
/// The CPU has AVX2 and FMA; the job's pointers cover its shapes (bfloat16 weight pairs,
/// `job.inputs` float32 activations a row).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn run_bf16_widen(job: &PanelJob) {
    let mut row = 0;
    while row < job.rows {
        let take = WIDEN_ROWS.min(job.rows - row);
        dispatch_tile!(widen_tile, job, row, take; 1 2 3 4; WIDEN_ROWS);
        row += take;
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn float32_tile<const R: usize, const B: usize>(job: &PanelJob, first_row: usize) {
    let mut accumulators = [[_mm256_setzero_ps(); B]; R];
    let activations = (job.activations as *const f32).add(first_row * job.activation_stride);
    let mut weights = job.weights as *const f32;
    for step in 0..job.steps {
        let mut weight_vectors = [_mm256_setzero_ps(); B];
        for (block, vector) in weight_vectors.iter_mut().enumerate() {
            *vector = _mm256_loadu_ps(weights.add(block * LANES));
        }
        accumulate(
            &mut accumulators,
            &weight_vectors,
            activations.add(step),
            job.activation_stride,
        );
        weights = weights.add(B * LANES);
    }
    store(job, first_row, &accumulators);
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn widen_tile<const R: usize, const B: usize>(job: &PanelJob, first_row: usize) {
    let mut accumulators = [[_mm256_setzero_ps(); B]; R];
    let activations = (job.activations as *const f32).add(first_row * job.activation_stride);
    let high_half = _mm256_set1_epi32(0xffff_0000u32 as i32);
    let mut weights = job.weights as *const __m256i;
    let pairs = job.inputs / 2;
    for step in 0..job.steps {
        let mut low = [_mm256_setzero_ps(); B];
        let mut high = [_mm256_setzero_ps(); B];
        for block in 0..B {
            let word = _mm256_loadu_si256(weights.add(block));
            low[block] = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(word));
            high[block] = _mm256_castsi256_ps(_mm256_and_si256(word, high_half));
        }
        accumulate(
            &mut accumulators,
            &low,
            activations.add(2 * step),
            job.activation_stride,
        );
        // An odd input count leaves the last word's high half empty, and no activation for it.
        if step < pairs {
            accumulate(
                &mut accumulators,
                &high,
                activations.add(2 * step + 1),
                job.activation_stride,
            );
        }
        weights = weights.add(B);
    }
    store(job, first_row, &accumulators);
}

/// Adds each row's activation at `input` (broadcast) times the weights to its accumulators.
#[inline(always)]
unsafe fn accumulate<const R: usize, const B: usize>(
    accumulators: &mut [[__m256; B]; R],
    weights: &[__m256; B],
    input: *const f32,
    stride: usize,
) {
    for (row, row_accumulators) in accumulators.iter_mut().enumerate() {
        let a = _mm256_broadcast_ss(&*input.add(row * stride));
        for (accumulator, &w) in row_accumulators.iter_mut().zip(weights) {
            *accumulator = _mm256_fmadd_ps(a, w, *accumulator);
        }
    }
}

/// Writes the tile's valid columns (bias added) to the output rows.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store<const R: usize, const B: usize>(job: &PanelJob, first_row: usize, accumulators: &[[__m256; B]; R]) {
    let lane_numbers = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut masks = [_mm256_setzero_si256(); B];
    for (block, mask) in masks.iter_mut().enumerate() {
        let valid = job.columns.saturating_sub(block * LANES).min(LANES) as i32;
        *mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lane_numbers);
    }
    for (row, row_accumulators) in accumulators.iter().enumerate() {
        let output = job.output.add((first_row + row) * job.output_stride);
        for (block, (&sum, &mask)) in row_accumulators.iter().zip(&masks).enumerate() {
            let sum = match job.bias {
                Some(bias) => _mm256_add_ps(sum, _mm256_maskload_ps(bias.add(block * LANES), mask)),
                None => sum,
            };
            _mm256_maskstore_ps(output.add(block * LANES), mask, sum);
        }
    }
}
