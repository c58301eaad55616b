//! Attention over long sequences in tiles, with the softmax computed online (a running maximum
//! and sum per query, FlashAttention's recurrence), so memory grows with the sequence's length
//! instead of its square: a 8,192-token text on a 12-head model would otherwise hold 3.2 GB of
//! scores per layer. Only the keys a query's mask lets it see are visited (local and causal
//! windows skip the rest).
//!
//! Both products run on the packed float32 kernels: each head's keys (as the columns of `q k^T`)
//! and values (as the columns of `p v`) are packed once, which costs a pass over them, and then
//! every tile streams them in the kernels' order. A tile of 128 queries x 256 keys keeps its
//! scores (128 KB), its keys and values (64 KB each at 64 dimensions) in the L2 cache; the
//! buffers are allocated once per head, not per tile.
//!
//! Inputs are one sequence's packed rows: queries `[length, heads * d]` (pre-scaled), keys and
//! values `[length, kv_heads * d]`; query head `h` reads key/value head `h / (heads / kv_heads)`.

use super::fused::{exp_nonpositive, lane_max, multiversion};
use super::packed::matrix::{PackedMatrix, Product};
use super::packed::select::{self, Kernel};
use crate::runner::mask::MaskKind;

/// From this many tokens in a batch's longest sequence, the CPU attends in tiles
/// (this module): below it the scores of a whole sequence are small (16 heads x 1,024^2
/// floats = 64 MB), and the materialised path keeps its exact, long-tested results.
pub const TILED_FROM: usize = 1024;

/// Queries per tile: a multiple of the kernels' 6-row tiles.
const QUERY_BLOCK: usize = 132;
/// Keys per tile: a multiple of every kernel's panel width, so a tile's keys are whole panels.
const KEY_BLOCK: usize = 256;

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// `out[length, heads * d]` = softmax(q k^T, masked) v for one sequence.
pub fn attend(q: &[f32], k: &[f32], v: &[f32], length: usize, shape: Heads, mask: MaskKind) -> Vec<f32> {
    attend_on(select::float32_kernel(), q, k, v, length, shape, mask)
}

/// [`attend`] with the products on `kernel`, a float32 kernel the CPU has.
fn attend_on(kernel: Kernel, q: &[f32], k: &[f32], v: &[f32], length: usize, shape: Heads, mask: MaskKind) -> Vec<f32> {
    let Heads { heads, head_dim: d, .. } = shape;
    let per_head = super::packed::share_out(heads, |head| {
        let kv_head = head / (heads / shape.kv_heads);
        let kv_stride = shape.kv_heads * d;
        let keys = PackedMatrix::pack(kernel, length, d, false, |key, i| k[key * kv_stride + kv_head * d + i]);
        let values = PackedMatrix::pack(kernel, d, length, false, |i, key| v[key * kv_stride + kv_head * d + i]);
        attend_head(q, &keys, &values, shape, mask, head)
    });
    let mut out = vec![0f32; length * heads * d];
    for (head, values) in per_head.iter().enumerate() {
        for (row, chunk) in values.chunks_exact(d).enumerate() {
            out[row * heads * d + head * d..][..d].copy_from_slice(chunk);
        }
    }
    out
}

/// One query head's running softmax state and buffers, reused by every tile.
struct Tile {
    scores: Vec<f32>,
    /// The tile's `p v`, before it is merged into `acc`.
    weighted: Vec<f32>,
    acc: Vec<f32>,
    maxima: [f32; QUERY_BLOCK],
    sums: [f32; QUERY_BLOCK],
    rescales: [f32; QUERY_BLOCK],
    ranges: [(usize, usize); QUERY_BLOCK],
}

/// One query head's output, `[length, d]`, from its key/value head's keys packed as the columns
/// of `q k^T` and values as the columns of `p v`.
fn attend_head(
    q: &[f32],
    keys: &PackedMatrix,
    values: &PackedMatrix,
    shape: Heads,
    mask: MaskKind,
    head: usize,
) -> Vec<f32> {
    let Heads { heads, head_dim: d, .. } = shape;
    let length = keys.outputs();
    let q_stride = heads * d;
    let panel = keys.kernel().panel();
    let mut out = vec![0f32; length * d];
    let mut tile = Tile {
        scores: vec![0f32; QUERY_BLOCK * KEY_BLOCK],
        weighted: vec![0f32; QUERY_BLOCK * d],
        acc: vec![0f32; QUERY_BLOCK * d],
        maxima: [f32::NEG_INFINITY; QUERY_BLOCK],
        sums: [0f32; QUERY_BLOCK],
        rescales: [0f32; QUERY_BLOCK],
        ranges: [(0usize, 0usize); QUERY_BLOCK],
    };
    for first in (0..length).step_by(QUERY_BLOCK) {
        let rows = QUERY_BLOCK.min(length - first);
        for (r, range) in tile.ranges.iter_mut().enumerate().take(rows) {
            *range = mask.key_range(first + r, length);
        }
        let lo = tile.ranges[..rows].iter().map(|r| r.0).min().unwrap_or(0);
        let hi = tile.ranges[..rows].iter().map(|r| r.1).max().unwrap_or(0);
        tile.maxima[..rows].fill(f32::NEG_INFINITY);
        tile.sums[..rows].fill(0.0);
        tile.acc[..rows * d].fill(0.0);
        // Tiles start on a panel; keys before a query's range get weight 0 like any masked key.
        for key_first in (lo - lo % panel..hi).step_by(KEY_BLOCK) {
            let cols = KEY_BLOCK.min(hi - key_first);
            let scores = Product {
                activations: q[first * q_stride + head * d..].as_ptr() as *const u32,
                activation_stride: q_stride,
                rows,
                columns: key_first..key_first + cols,
                steps: 0..d,
                bias: None,
                output: tile.scores.as_mut_ptr(),
                output_stride: KEY_BLOCK,
            };
            let weighted = Product {
                activations: tile.scores.as_ptr() as *const u32,
                activation_stride: KEY_BLOCK,
                rows,
                columns: 0..d,
                steps: key_first..key_first + cols,
                bias: None,
                output: tile.weighted.as_mut_ptr(),
                output_stride: d,
            };
            assert!(keys.fits(&scores) && values.fits(&weighted), "attention tile shapes");
            for panel in keys.panels(&scores.columns) {
                // SAFETY: `fits` checked the shapes against the packed matrices and the CPU;
                // the queries hold `rows` rows of `d` from `first` (`first + rows <= length`),
                // the scores buffer `rows` rows of `KEY_BLOCK >= cols`.
                unsafe { keys.run_panel(&scores, panel) };
            }
            online_softmax(
                &mut tile.scores,
                key_first,
                cols,
                &tile.ranges[..rows],
                &mut tile.maxima[..rows],
                &mut tile.sums[..rows],
                &mut tile.rescales[..rows],
            );
            for panel in values.panels(&weighted.columns) {
                // SAFETY: as above: the probabilities hold `rows` rows of `cols` steps, the
                // weighted buffer `rows` rows of `d`.
                unsafe { values.run_panel(&weighted, panel) };
            }
            let merged = tile.acc.chunks_exact_mut(d).zip(tile.weighted.chunks_exact(d));
            for ((acc, weighted), &rescale) in merged.zip(&tile.rescales).take(rows) {
                for (a, w) in acc.iter_mut().zip(weighted) {
                    *a = *a * rescale + w;
                }
            }
        }
        for r in 0..rows {
            let scale = if tile.sums[r] > 0.0 { 1.0 / tile.sums[r] } else { 0.0 };
            for (o, a) in out[(first + r) * d..][..d].iter_mut().zip(&tile.acc[r * d..][..d]) {
                *o = a * scale;
            }
        }
    }
    out
}

/// One tile's scores, `KEY_BLOCK` apart for each query row, keys `key_first..key_first + cols`:
/// each row's visible keys become `exp(score - running maximum)`, the others 0; the running
/// maxima and sums advance, and `rescales` says by how much each row's earlier sums shrank.
#[inline(always)]
fn online_softmax_generic<const FUSED: bool>(
    scores: &mut [f32],
    key_first: usize,
    cols: usize,
    ranges: &[(usize, usize)],
    maxima: &mut [f32],
    sums: &mut [f32],
    rescales: &mut [f32],
) {
    for (r, row) in scores.chunks_exact_mut(KEY_BLOCK).take(ranges.len()).enumerate() {
        let row = &mut row[..cols];
        let (start, end) = ranges[r];
        let start = start.clamp(key_first, key_first + cols) - key_first;
        let end = end.clamp(key_first, key_first + cols) - key_first;
        if start >= end {
            row.fill(0.0);
            rescales[r] = 1.0;
            continue;
        }
        let block_max = lane_max(&row[start..end]);
        let new_max = maxima[r].max(block_max);
        let rescale = if maxima[r] == f32::NEG_INFINITY {
            0.0
        } else {
            exp_nonpositive::<FUSED>(maxima[r] - new_max)
        };
        row[..start].fill(0.0);
        row[end..].fill(0.0);
        let visible = &mut row[start..end];
        // Two passes, each of which the compiler keeps in vector registers (one fused loop
        // spilled its sums to the stack every iteration).
        for x in visible.iter_mut() {
            *x = exp_nonpositive::<FUSED>(*x - new_max);
        }
        let sum = lane_sum(visible);
        sums[r] = sums[r] * rescale + sum;
        maxima[r] = new_max;
        rescales[r] = rescale;
    }
}

/// The sum of `values`, in 16 lanes.
#[inline(always)]
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    chunks.remainder().iter().sum::<f32>() + lanes.iter().sum::<f32>()
}

multiversion!(
    online_softmax = online_softmax_generic,
    online_softmax_avx512,
    online_softmax_avx2,
    (
        scores: &mut [f32],
        key_first: usize,
        cols: usize,
        ranges: &[(usize, usize)],
        maxima: &mut [f32],
        sums: &mut [f32],
        rescales: &mut [f32]
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook computation in float64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], length: usize, shape: Heads, mask: MaskKind) -> Vec<f64> {
        let Heads {
            heads,
            kv_heads,
            head_dim: d,
        } = shape;
        let mut out = vec![0f64; length * heads * d];
        for h in 0..heads {
            let g = h / (heads / kv_heads);
            for i in 0..length {
                let (start, end) = mask.key_range(i, length);
                let scores: Vec<f64> = (start..end)
                    .map(|j| {
                        (0..d)
                            .map(|p| q[i * heads * d + h * d + p] as f64 * k[j * kv_heads * d + g * d + p] as f64)
                            .sum()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for p in 0..d {
                    out[i * heads * d + h * d + p] = (start..end)
                        .zip(&weights)
                        .map(|(j, w)| w / total * v[j * kv_heads * d + g * d + p] as f64)
                        .sum();
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_every_mask_across_tile_edges() {
        let mut random = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            (random >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        };
        // Lengths across the query and key tiles' edges; GQA with 2 groups.
        let shape = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        for length in [1, 7, 129, 300, 513] {
            let q: Vec<f32> = (0..length * 32).map(|_| next()).collect();
            let k: Vec<f32> = (0..length * 16).map(|_| next()).collect();
            let v: Vec<f32> = (0..length * 16).map(|_| next()).collect();
            for mask in [
                MaskKind::Full,
                MaskKind::Causal,
                MaskKind::CausalWindow(100),
                MaskKind::Local(64),
                MaskKind::Local(300),
            ] {
                let want = reference(&q, &k, &v, length, shape, mask);
                for kernel in [Kernel::Avx512Float32, Kernel::Avx2Float32, Kernel::PortableFloat32] {
                    if !select::cpu_can_run(kernel) {
                        eprintln!("skipped {kernel:?}: this CPU lacks its instructions");
                        continue;
                    }
                    let got = attend_on(kernel, &q, &k, &v, length, shape, mask);
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(g, w)| (*g as f64 - w).abs())
                        .fold(0f64, f64::max);
                    // float32 rounding of scores up to 32 and values up to 2 in magnitude.
                    assert!(worst < 1e-5, "{kernel:?}, length {length}, {mask:?}: {worst}");
                }
            }
        }
    }
}
