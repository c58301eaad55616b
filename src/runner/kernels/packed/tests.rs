use candle_core::Device;

use super::*;

fn bf16_value(x: f32) -> f32 {
    widen(to_bf16(x))
}

#[test]
fn rounding_is_to_nearest_even() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    // 1 + 2^-8 is half-way between 1 and the next bf16 (1 + 2^-7): ties go to even (1).
    assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
    assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
    for x in [-2.5f32, 0.1, -3.3e-5, 1234.567, 7.0e20] {
        assert_eq!(to_bf16(x), half::bf16::from_f32(x).to_bits(), "{x}");
    }
}

/// Each precision's kernels, every one of which the tests run where the CPU has it.
const KERNELS: [(Precision, &[Kernel]); 2] = [
    (
        Precision::Float32,
        &[Kernel::Avx512Float32, Kernel::Avx2Float32, Kernel::PortableFloat32],
    ),
    (
        Precision::BFloat16,
        &[
            Kernel::Avx512Bf16Dot,
            Kernel::Avx512Bf16Widen,
            Kernel::Avx2Bf16Widen,
            Kernel::PortableBf16Widen,
        ],
    ),
];

/// The kernels of `KERNELS` this CPU can run; says which it skips and why.
fn runnable() -> Vec<(Precision, Kernel)> {
    let mut kernels = Vec::new();
    for (precision, family) in KERNELS {
        for &kernel in family {
            if select::cpu_can_run(kernel) {
                kernels.push((precision, kernel));
            } else {
                eprintln!("skipped {kernel:?}: this CPU lacks its instructions");
            }
        }
    }
    kernels
}

/// Every shape's tails (rows not a multiple of the tile, columns not a multiple of a block or a
/// panel of either width, odd inputs), against float64 products of the operands each kernel
/// multiplies: activations and weights rounded to bfloat16 for the dot-product kernel's large
/// matrices, the weights alone for the widening kernels' (their small ones stay float32), the
/// exact values for float32 and the split matrices, so only the float32 accumulation differs.
#[test]
fn matches_the_product_on_every_tail() {
    let mut state = 7u32;
    let mut next = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let shapes = [
        (1, 1, 1),
        (7, 33, 17),
        (13, 64, 200),
        (6, 384, 64),
        (31, 5, 81),
        (9, 65, 20),
        (5, 257, 33),
        (8, 300, 24),
    ];
    for (precision, kernel) in runnable() {
        for (rows, inputs, outputs) in shapes {
            let w: Vec<f32> = (0..outputs * inputs).map(|_| next()).collect();
            let b: Vec<f32> = (0..outputs).map(|_| next()).collect();
            let x: Vec<f32> = (0..rows * inputs).map(|_| next() * 4.0).collect();
            let weight = Tensor::from_vec(w.clone(), (outputs, inputs), &Device::Cpu).unwrap();
            let bias = Tensor::from_vec(b.clone(), outputs, &Device::Cpu).unwrap();
            let linear = PackedLinear::with_kernel(&weight, Some(&bias), precision, kernel).unwrap();
            let one_term = precision == Precision::BFloat16 && inputs >= SPLIT_BELOW;
            let rounds_activations = one_term && kernel.rounds_activations();
            let activation = |v: f32| if rounds_activations { bf16_value(v) } else { v };
            let weight_value = |v: f32| if one_term { bf16_value(v) } else { v };
            let tolerance = match precision {
                Precision::Float32 => 1e-5,
                Precision::BFloat16 if one_term => 1e-4,
                Precision::BFloat16 => 2e-4,
            };
            for with_bias in [true, false] {
                let input = Tensor::from_vec(x.clone(), (rows, inputs), &Device::Cpu).unwrap();
                let got = linear.forward(&input, with_bias).unwrap().to_vec2::<f32>().unwrap();
                for r in 0..rows {
                    for o in 0..outputs {
                        let mut want: f64 = (0..inputs)
                            .map(|i| {
                                f64::from(activation(x[r * inputs + i])) * f64::from(weight_value(w[o * inputs + i]))
                            })
                            .sum();
                        if with_bias {
                            want += f64::from(b[o]);
                        }
                        let error = (f64::from(got[r][o]) - want).abs();
                        assert!(
                            error < tolerance * want.abs().max(1.0),
                            "{kernel:?} {rows}x{inputs}x{outputs} [{r},{o}]: {} vs {want}",
                            got[r][o]
                        );
                    }
                }
            }
        }
    }
}

/// A row's result does not depend on the rows around it, nor on whether the panels were shared
/// out over threads (the batch is large enough to be, the single row is not): bit for bit.
#[test]
fn rows_are_independent_of_their_batch_and_threads() {
    for (precision, kernel) in runnable() {
        let weight = Tensor::randn(0f32, 1.0, (200, 300), &Device::Cpu).unwrap();
        let linear = PackedLinear::with_kernel(&weight, None, precision, kernel).unwrap();
        let batch = Tensor::randn(0f32, 1.0, (23, 300), &Device::Cpu).unwrap();
        let together = linear.forward(&batch, false).unwrap().to_vec2::<f32>().unwrap();
        const { assert!(23 * 300 * 200 >= PARALLEL_FROM && 300 * 200 < PARALLEL_FROM) };
        for row in [0, 5, 22] {
            let alone = linear.forward(&batch.narrow(0, row, 1).unwrap(), false).unwrap();
            assert_eq!(
                alone.to_vec2::<f32>().unwrap()[0],
                together[row],
                "{kernel:?} row {row}"
            );
        }
    }
}

/// bfloat16 weights take half of float32's memory in every bfloat16 kernel's layout.
#[test]
fn bfloat16_weights_take_half_the_memory() {
    let weight = Tensor::randn(0f32, 1.0, (384, 1536), &Device::Cpu).unwrap();
    let float32 = PackedLinear::with_kernel(&weight, None, Precision::Float32, Kernel::PortableFloat32).unwrap();
    for &kernel in KERNELS[1].1 {
        let bf16 = PackedLinear::with_kernel(&weight, None, Precision::BFloat16, kernel).unwrap();
        assert_eq!(bf16.weight_bytes() * 2, float32.weight_bytes(), "{kernel:?}");
    }
}
