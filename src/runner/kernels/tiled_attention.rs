//! Attention over long sequences in tiles, with the softmax computed online (a running maximum
//! and sum per query, FlashAttention's recurrence), so memory grows with the sequence's length
//! instead of its square: a 8,192-token text on a 12-head model would otherwise hold 3.2 GB of
//! scores per layer. Each tile's two products run on `gemm`; only the keys a query's mask lets it
//! see are visited (local and causal windows skip the rest).
//!
//! Inputs are one sequence's packed rows: queries `[length, heads * d]` (pre-scaled), keys and
//! values `[length, kv_heads * d]`; query head `h` reads key/value head `h / (heads / kv_heads)`.

use super::fused::exp_nonpositive;
use crate::runner::mask::MaskKind;

/// From this many tokens in a batch's longest sequence, the CPU attends in tiles
/// (this module): below it the scores of a whole sequence are small (16 heads x 1,024^2
/// floats = 64 MB), and the materialised path keeps its exact, long-tested results.
pub const TILED_FROM: usize = 1024;

/// Queries per tile.
const QUERY_BLOCK: usize = 128;
/// Keys per tile.
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
    let Heads { heads, head_dim: d, .. } = shape;
    let per_head = super::packed::share_out(heads, |head| attend_head(q, k, v, length, shape, mask, head));
    let mut out = vec![0f32; length * heads * d];
    for (head, values) in per_head.iter().enumerate() {
        for (row, chunk) in values.chunks_exact(d).enumerate() {
            out[row * heads * d + head * d..][..d].copy_from_slice(chunk);
        }
    }
    out
}

/// One query head's output, `[length, d]`.
fn attend_head(q: &[f32], k: &[f32], v: &[f32], length: usize, shape: Heads, mask: MaskKind, head: usize) -> Vec<f32> {
    let Heads {
        heads,
        kv_heads,
        head_dim: d,
    } = shape;
    let kv_head = head / (heads / kv_heads);
    let (q_stride, kv_stride) = (heads * d, kv_heads * d);
    let mut out = vec![0f32; length * d];
    let mut scores = vec![0f32; QUERY_BLOCK * KEY_BLOCK];
    let mut acc = vec![0f32; QUERY_BLOCK * d];
    let mut maxima = [f32::NEG_INFINITY; QUERY_BLOCK];
    let mut sums = [0f32; QUERY_BLOCK];
    let mut ranges = [(0usize, 0usize); QUERY_BLOCK];
    for first in (0..length).step_by(QUERY_BLOCK) {
        let rows = QUERY_BLOCK.min(length - first);
        for (r, range) in ranges.iter_mut().enumerate().take(rows) {
            *range = mask.key_range(first + r, length);
        }
        let lo = ranges[..rows].iter().map(|r| r.0).min().unwrap_or(0);
        let hi = ranges[..rows].iter().map(|r| r.1).max().unwrap_or(0);
        maxima[..rows].fill(f32::NEG_INFINITY);
        sums[..rows].fill(0.0);
        acc[..rows * d].fill(0.0);
        for key_first in (lo..hi).step_by(KEY_BLOCK) {
            let cols = KEY_BLOCK.min(hi - key_first);
            // SAFETY: every pointer and stride stays inside its slice: queries rows
            // first..first + rows of head `head`, keys rows key_first..key_first + cols of
            // `kv_head`, scores a rows x cols block of a QUERY_BLOCK x KEY_BLOCK buffer.
            unsafe {
                gemm::gemm(
                    rows,
                    cols,
                    d,
                    scores.as_mut_ptr(),
                    1,
                    KEY_BLOCK as isize,
                    false,
                    q.as_ptr().add(first * q_stride + head * d),
                    1,
                    q_stride as isize,
                    k.as_ptr().add(key_first * kv_stride + kv_head * d),
                    kv_stride as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for r in 0..rows {
                let row = &mut scores[r * KEY_BLOCK..][..cols];
                let (start, end) = ranges[r];
                let (start, end) = (
                    start.clamp(key_first, key_first + cols) - key_first,
                    end.clamp(key_first, key_first + cols) - key_first,
                );
                if start >= end {
                    row.fill(0.0);
                    continue;
                }
                let block_max = row[start..end].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let new_max = maxima[r].max(block_max);
                let rescale = if maxima[r] == f32::NEG_INFINITY {
                    0.0
                } else {
                    exp_nonpositive(maxima[r] - new_max)
                };
                let mut sum = 0f32;
                row[..start].fill(0.0);
                row[end..].fill(0.0);
                for x in &mut row[start..end] {
                    *x = exp_nonpositive(*x - new_max);
                    sum += *x;
                }
                sums[r] = sums[r] * rescale + sum;
                maxima[r] = new_max;
                if rescale != 1.0 {
                    for a in &mut acc[r * d..][..d] {
                        *a *= rescale;
                    }
                }
            }
            // SAFETY: as above: the weights block, values rows key_first..key_first + cols of
            // `kv_head`, and the rows x d accumulator.
            unsafe {
                gemm::gemm(
                    rows,
                    d,
                    cols,
                    acc.as_mut_ptr(),
                    1,
                    d as isize,
                    true,
                    scores.as_ptr(),
                    1,
                    KEY_BLOCK as isize,
                    v.as_ptr().add(key_first * kv_stride + kv_head * d),
                    1,
                    kv_stride as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        for r in 0..rows {
            let scale = if sums[r] > 0.0 { 1.0 / sums[r] } else { 0.0 };
            for (o, a) in out[(first + r) * d..][..d].iter_mut().zip(&acc[r * d..][..d]) {
                *o = a * scale;
            }
        }
    }
    out
}

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
                let got = attend(&q, &k, &v, length, shape, mask);
                let want = reference(&q, &k, &v, length, shape, mask);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (*g as f64 - w).abs())
                    .fold(0f64, f64::max);
                // float32 rounding of scores up to 32 and values up to 2 in magnitude.
                assert!(worst < 1e-5, "length {length}, {mask:?}: {worst}");
            }
        }
    }
}
