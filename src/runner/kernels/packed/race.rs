//! Times packed kernels against each other on this CPU, for the choices its instruction sets
//! alone do not settle ([`super::select`]).

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use super::matrix::PackedMatrix;
use super::select::Kernel;
use super::{ForwardPass, PackedLinear};

/// A block of rows through a layer of an encoder's width: long enough to time, short enough
/// to do at load.
const ROWS: usize = 48;
const INPUTS: usize = 384;
const OUTPUTS: usize = 256;
/// Timed rounds per kernel, after one to warm up, of this many products each.
const ROUNDS: usize = 5;
const PRODUCTS: usize = 8;

/// Which of `kernels` (of one kind of weight word, all of which the CPU runs) multiplies such a
/// layer fastest on the calling thread: the best round of each, the kernels' rounds taken in
/// turn so that a slow moment (a busy neighbour on a VM) costs them alike. A kernel that fails
/// to run loses; `None` for no kernels.
pub fn fastest(kernels: &[Kernel]) -> Option<Kernel> {
    let weight = |column: usize, input: usize| ((column * 31 + input * 17) % 61) as f32 / 61.0 - 0.5;
    let layers: Vec<PackedLinear> = kernels
        .iter()
        .map(|&kernel| PackedLinear {
            matrix: PackedMatrix::pack(kernel, OUTPUTS, INPUTS, false, weight),
            bias: None,
        })
        .collect();
    let input: Vec<f32> = (0..ROWS * INPUTS).map(|i| (i * 13 % 29) as f32 / 29.0 - 0.5).collect();
    let mut output = vec![MaybeUninit::<f32>::uninit(); ROWS * OUTPUTS];
    // Two forward passes "in flight" keep every product on this thread.
    let _alone = (ForwardPass::begin(), ForwardPass::begin());
    let mut best = vec![Duration::MAX; kernels.len()];
    for round in 0..=ROUNDS {
        for (layer, best) in layers.iter().zip(best.iter_mut()) {
            let started = Instant::now();
            let ran = (0..PRODUCTS).all(|_| layer.matmul(&input, ROWS, false, &mut output).is_ok());
            if round > 0 && ran {
                *best = (*best).min(started.elapsed());
            }
        }
    }
    (0..kernels.len()).min_by_key(|&i| best[i]).map(|i| kernels[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::kernels::packed::select;

    #[test]
    fn picks_one_of_the_kernels_it_was_given() {
        let kernels: Vec<Kernel> = [
            Kernel::Avx512Bf16Dot,
            Kernel::Avx512Bf16Widen,
            Kernel::Avx2Bf16Widen,
            Kernel::PortableBf16Widen,
        ]
        .into_iter()
        .filter(|&kernel| select::cpu_can_run(kernel))
        .collect();
        let winner = fastest(&kernels).expect("a kernel");
        assert!(kernels.contains(&winner), "{winner:?}");
        assert_eq!(fastest(&[]), None);
        eprintln!("fastest bfloat16 kernel of {kernels:?} here: {winner:?}");
    }
}
