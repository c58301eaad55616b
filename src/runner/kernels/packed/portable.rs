//! The portable kernels: the same panels in plain Rust, 8 lanes per block, which the compiler
//! vectorises for the build's baseline (SSE2 on x86-64, NEON on arm64). They are what makes
//! bfloat16 weights run on any CPU (widened exactly by a shift, as the AVX2 kernel does), and the
//! floor under attention's tiles.

use super::matrix::{PanelJob, ROWS};

const LANES: usize = 8;
const PANEL_BLOCKS: usize = 2;

macro_rules! dispatch_tile {
    ($job:expr, $row:expr, $take:expr, $widen:literal) => {
        match ($take, $job.blocks) {
            (1, 1) => tile::<1, 1, $widen>($job, $row),
            (2, 1) => tile::<2, 1, $widen>($job, $row),
            (3, 1) => tile::<3, 1, $widen>($job, $row),
            (4, 1) => tile::<4, 1, $widen>($job, $row),
            (5, 1) => tile::<5, 1, $widen>($job, $row),
            (6, 1) => tile::<6, 1, $widen>($job, $row),
            (1, _) => tile::<1, PANEL_BLOCKS, $widen>($job, $row),
            (2, _) => tile::<2, PANEL_BLOCKS, $widen>($job, $row),
            (3, _) => tile::<3, PANEL_BLOCKS, $widen>($job, $row),
            (4, _) => tile::<4, PANEL_BLOCKS, $widen>($job, $row),
            (5, _) => tile::<5, PANEL_BLOCKS, $widen>($job, $row),
            _ => tile::<ROWS, PANEL_BLOCKS, $widen>($job, $row),
        }
    };
}

/// # Safety
/// The job's pointers cover its shapes (float32 weights).
pub unsafe fn run_float32(job: &PanelJob) {
    let mut row = 0;
    while row < job.rows {
        let take = ROWS.min(job.rows - row);
        dispatch_tile!(job, row, take, false);
        row += take;
    }
}

/// # Safety
/// The job's pointers cover its shapes (bfloat16 weight pairs, `job.inputs` float32
/// activations a row).
pub unsafe fn run_bf16_widen(job: &PanelJob) {
    let mut row = 0;
    while row < job.rows {
        let take = ROWS.min(job.rows - row);
        dispatch_tile!(job, row, take, true);
        row += take;
    }
}

type Block = [f32; LANES];

#[inline(always)]
fn multiply_add<const R: usize, const B: usize>(accumulators: &mut [[Block; B]; R], weights: &[Block; B], a: [f32; R]) {
    for (row_accumulators, &a) in accumulators.iter_mut().zip(&a) {
        for (accumulator, w) in row_accumulators.iter_mut().zip(weights) {
            for (sum, &w) in accumulator.iter_mut().zip(w) {
                *sum += a * w;
            }
        }
    }
}

unsafe fn tile<const R: usize, const B: usize, const WIDEN: bool>(job: &PanelJob, first_row: usize) {
    let mut accumulators = [[[0f32; LANES]; B]; R];
    let activations = (job.activations as *const f32).add(first_row * job.activation_stride);
    let activation = |row: usize, input: usize| *activations.add(row * job.activation_stride + input);
    let pairs = job.inputs / 2;
    for step in 0..job.steps {
        let words = job.weights.add(step * B * LANES);
        let word = |block: usize, lane: usize| *words.add(block * LANES + lane);
        if WIDEN {
            let halves = if step < pairs { 2 } else { 1 };
            for half in 0..halves {
                let weights: [Block; B] = std::array::from_fn(|block| {
                    std::array::from_fn(|lane| {
                        let word = word(block, lane);
                        f32::from_bits(if half == 0 { word << 16 } else { word & 0xffff_0000 })
                    })
                });
                multiply_add(
                    &mut accumulators,
                    &weights,
                    std::array::from_fn(|row| activation(row, 2 * step + half)),
                );
            }
        } else {
            let weights: [Block; B] =
                std::array::from_fn(|block| std::array::from_fn(|lane| f32::from_bits(word(block, lane))));
            multiply_add(
                &mut accumulators,
                &weights,
                std::array::from_fn(|row| activation(row, step)),
            );
        }
    }
    for (row, row_accumulators) in accumulators.iter().enumerate() {
        let output = job.output.add((first_row + row) * job.output_stride);
        for (block, sums) in row_accumulators.iter().enumerate() {
            let valid = job.columns.saturating_sub(block * LANES).min(LANES);
            for (lane, &sum) in sums.iter().enumerate().take(valid) {
                let column = block * LANES + lane;
                *output.add(column) = sum + job.bias.map_or(0.0, |bias| *bias.add(column));
            }
        }
    }
}
