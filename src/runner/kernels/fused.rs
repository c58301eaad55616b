//! Fused CPU kernels for the parts of the forward pass that are not matrix products.
//!
//! candle's CPU GELU evaluates a scalar `erf` per element and its softmax a scalar `exp`; on
//! the activations of a BERT layer those dominate once the matmuls are fast. These kernels use
//! branch-free float approximations that the compiler turns into SIMD code (dispatched at run
//! time to AVX-512 or AVX2+FMA where the CPU has them, so builds stay portable; see
//! [`multiversion`]):
//! - erf: Eigen's/XLA's rational approximation on [-4, 4], absolute error below 4e-7 when
//!   evaluated in float32;
//! - exp: the Cephes single-precision polynomial, relative error about 2e-7.
//!
//! They run in place on freshly computed activations, fusing the bias add into the GELU and the
//! padding mask into the softmax (padding keys get exactly zero weight).

use candle_core::{CpuStorage, InplaceOp1, Layout, Result};

use crate::runner::mask::MaskKind;

const ERF_ALPHA: [f32; 7] = [
    -2.726_142_3e-10,
    2.770_681_4e-8,
    -2.101_024e-6,
    -5.692_506_4e-5,
    -7.349_906_3e-4,
    -2.954_600_1e-3,
    -1.609_603_3e-2,
];
const ERF_BETA: [f32; 5] = [
    -1.456_607_2e-5,
    -2.133_740_6e-4,
    -1.682_827e-3,
    -7.373_329e-3,
    -1.426_474e-2,
];

/// `a * b + c`: one fused instruction in the variants built for CPUs with FMA (`FUSED`), two
/// operations elsewhere (where a fused multiply-add would be a library call).
#[inline(always)]
fn multiply_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn erf<const FUSED: bool>(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = ERF_ALPHA[0];
    for &a in &ERF_ALPHA[1..] {
        p = multiply_add::<FUSED>(p, x2, a);
    }
    let mut q = ERF_BETA[0];
    for &b in &ERF_BETA[1..] {
        q = multiply_add::<FUSED>(q, x2, b);
    }
    x * p / q
}

#[inline(always)]
fn gelu<const FUSED: bool>(x: f32) -> f32 {
    0.5 * x * (1.0 + erf::<FUSED>(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// exp(x) for x <= 0 (softmax inputs after subtracting the row maximum); inputs below -87.3
/// (including -inf) give a value so small it vanishes next to the row's 1.0.
#[inline(always)]
pub(crate) fn exp_nonpositive<const FUSED: bool>(x: f32) -> f32 {
    // Round-to-nearest of x/ln2 by the 1.5 * 2^23 trick: the low mantissa bits then hold n.
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 0.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = shifted - SHIFTER;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = multiply_add::<FUSED>(p, r, c);
    }
    let y = multiply_add::<FUSED>(p * r, r, r) + 1.0;
    let exponent = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    y * f32::from_bits(((exponent + 127) as u32) << 23)
}

#[inline(always)]
fn bias_gelu_generic<const FUSED: bool>(values: &mut [f32], bias: &[f32]) {
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = gelu::<FUSED>(*v + b);
        }
    }
}

/// The largest of `values` (-inf for none), in 16 lanes the compiler keeps in a vector register.
#[inline(always)]
pub(crate) fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Softmax of `row[start..end]`, zeros elsewhere (all zeros when the range is empty).
#[inline(always)]
fn masked_softmax_row<const FUSED: bool>(row: &mut [f32], start: usize, end: usize) {
    let (before, rest) = row.split_at_mut(start);
    before.fill(0.0);
    let (keys, after) = rest.split_at_mut(end - start);
    after.fill(0.0);
    if keys.is_empty() {
        return;
    }
    let max = lane_max(keys);
    let mut sums = [0f32; 16];
    let mut chunks = keys.chunks_exact_mut(16);
    for chunk in &mut chunks {
        for (sum, v) in sums.iter_mut().zip(chunk.iter_mut()) {
            *v = exp_nonpositive::<FUSED>(*v - max);
            *sum += *v;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp_nonpositive::<FUSED>(*v - max);
        sum += *v;
    }
    let scale = 1.0 / sum;
    for v in keys.iter_mut() {
        *v *= scale;
    }
}

#[inline(always)]
fn masked_softmax_generic<const FUSED: bool>(
    scores: &mut [f32],
    longest: usize,
    rows_per_sequence: usize,
    lengths: &[usize],
    mask: MaskKind,
) {
    for (index, row) in scores.chunks_exact_mut(longest).enumerate() {
        let (start, end) = mask.key_range(index % longest, lengths[index / rows_per_sequence]);
        masked_softmax_row::<FUSED>(row, start, end);
    }
}

/// Compiles `$generic` (an `#[inline(always)]` function of plain loops, generic over whether
/// multiply-adds fuse) once more for AVX-512 and once for AVX2 + FMA, as `$avx512` and `$avx2`
/// (fused), and defines `$public` to run the best variant the CPU and `--cpu-kernels` allow.
macro_rules! multiversion {
    ($(#[$doc:meta])* $public:ident = $generic:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn $avx512($($arg: $ty),*) {
            $generic::<true>($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) {
            $generic::<true>($($arg),*)
        }
        $(#[$doc])*
        pub fn $public($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use $crate::runner::kernels::packed::select::{best_isa, Isa};
                // SAFETY: each variant runs only on a CPU that reports the features it was
                // built for (`best_isa` asks the CPU).
                match best_isa() {
                    Isa::Avx512 => return unsafe { $avx512($($arg),*) },
                    Isa::Avx2 => return unsafe { $avx2($($arg),*) },
                    Isa::Portable => {}
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

multiversion!(
    /// Adds `bias` to every row of `values` and applies the exact (erf) GELU, in place.
    bias_gelu = bias_gelu_generic, bias_gelu_avx512, bias_gelu_avx2, (values: &mut [f32], bias: &[f32])
);
multiversion!(
    /// Row-wise softmax over attention scores `[sequences, heads, longest, longest]` (the rows of
    /// a sequence's heads `rows_per_sequence` apart), where only the first `lengths[s]` keys of
    /// sequence `s` are real and `mask` says which of those each query sees; every other key
    /// gets weight 0.
    masked_softmax_rows = masked_softmax_generic,
    masked_softmax_avx512,
    masked_softmax_avx2,
    (scores: &mut [f32], longest: usize, rows_per_sequence: usize, lengths: &[usize], mask: MaskKind)
);

/// [`masked_softmax_rows`] for `heads` heads a sequence.
pub fn masked_softmax(scores: &mut [f32], longest: usize, heads: usize, lengths: &[usize], mask: MaskKind) {
    masked_softmax_rows(scores, longest, heads * longest, lengths, mask)
}

fn contiguous_f32<'a>(storage: &'a mut CpuStorage, layout: &Layout, op: &str) -> Result<&'a mut [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op} needs a contiguous tensor")))?;
    match storage {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        _ => candle_core::bail!("{op} needs f32"),
    }
}

/// In-place `gelu(x + bias)` over a `[rows, bias.len()]` CPU tensor.
pub struct BiasGelu<'a>(pub &'a [f32]);

impl InplaceOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "bias-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let values = contiguous_f32(storage, layout, self.name())?;
        if self.0.is_empty() || values.len() % self.0.len() != 0 {
            candle_core::bail!("bias-gelu: bias does not divide the tensor");
        }
        bias_gelu(values, self.0);
        Ok(())
    }
}

/// In-place masked softmax over `[sequences, heads, longest, longest]` CPU attention scores.
pub struct MaskedSoftmax<'a> {
    pub lengths: &'a [usize],
    pub heads: usize,
    pub longest: usize,
    pub mask: MaskKind,
}

impl InplaceOp1 for MaskedSoftmax<'_> {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let scores = contiguous_f32(storage, layout, self.name())?;
        if scores.len() != self.lengths.len() * self.heads * self.longest * self.longest
            || self.lengths.iter().any(|&l| l == 0 || l > self.longest)
        {
            candle_core::bail!("masked-softmax: shape and lengths disagree");
        }
        masked_softmax(scores, self.longest, self.heads, self.lengths, self.mask);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in double precision: its Maclaurin series below 4 (cancellation costs under 1e-9
    /// there), and the asymptotic series of erfc above, where erfc is below 2e-8 anyway.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() < 4.0 {
            let mut term = x;
            let mut sum = x;
            for n in 1..400 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let x2 = x * x;
            let series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2);
            let tail = (-x2).exp() / (x.abs() * std::f64::consts::PI.sqrt()) * series;
            x.signum() * (1.0 - tail)
        }
    }

    #[test]
    fn erf_and_gelu_are_accurate() {
        let mut worst = 0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            for got in [erf::<false>(x), erf::<true>(x)] {
                worst = worst.max((got as f64 - erf_reference(x as f64)).abs());
            }
        }
        // The rational approximation's own error (below 2e-7) plus float32 rounding in its
        // evaluation: 3.2e-7 at worst, near |x| = 3.18.
        assert!(worst < 4e-7, "erf max error {worst}");
        let mut values: Vec<f32> = (-400..400).map(|i| i as f32 / 50.0).collect();
        let expected: Vec<f64> = values
            .iter()
            .map(|&x| 0.5 * x as f64 * (1.0 + erf_reference(x as f64 / 2f64.sqrt())))
            .collect();
        bias_gelu(&mut values, &[0.0; 8]);
        for (got, want) in values.iter().zip(&expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn exp_is_accurate_and_vanishes_at_minus_infinity() {
        for i in 0..=8700 {
            let x = -(i as f32) / 100.0;
            let want = (x as f64).exp();
            for got in [exp_nonpositive::<false>(x), exp_nonpositive::<true>(x)] {
                let got = got as f64;
                assert!(
                    (got - want).abs() <= 3e-7 * want + 1e-38,
                    "exp({x}) = {got}, want {want}"
                );
            }
        }
        assert!(exp_nonpositive::<false>(f32::NEG_INFINITY) < 1e-37);
        assert!(exp_nonpositive::<true>(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn masked_softmax_matches_the_definition_and_zeroes_padding() {
        let longest = 19;
        let lengths = [19, 5, 1];
        let heads = 2;
        let mut scores: Vec<f32> = (0..lengths.len() * heads * longest * longest)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let original = scores.clone();
        masked_softmax(&mut scores, longest, heads, &lengths, MaskKind::Full);
        for (index, row) in scores.chunks(longest).enumerate() {
            let valid = lengths[index / (heads * longest)];
            let source = &original[index * longest..index * longest + valid];
            let max = source.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let total: f64 = source.iter().map(|&v| (v as f64 - max).exp()).sum();
            for (k, &p) in row.iter().enumerate() {
                let want = if k < valid {
                    (source[k] as f64 - max).exp() / total
                } else {
                    0.0
                };
                assert!((p as f64 - want).abs() < 1e-6, "row {index} key {k}: {p} vs {want}");
            }
        }
    }
}
