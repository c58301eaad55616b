//! What a scoring model's logits become: its activation applied to each (sentence-transformers'
//! `activation_fn`), or softmax over the labels (text-embeddings-inference's `/predict`).

use crate::runner::head::DenseActivation;

/// `activation` on each logit, in float32 as torch computes it.
pub fn activate(activation: DenseActivation, logits: &[f32]) -> Vec<f32> {
    logits
        .iter()
        .map(|&x| match activation {
            DenseActivation::Identity => x,
            DenseActivation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            DenseActivation::Tanh => x.tanh(),
            DenseActivation::Relu => x.max(0.0),
            DenseActivation::Gelu => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
        })
        .collect()
}

/// Probabilities over the labels, shifted by the largest logit first as torch does.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - top).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn erf(x: f32) -> f32 {
    libm::erff(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_and_softmax_match_their_definitions() {
        assert_eq!(activate(DenseActivation::Identity, &[0.25]), vec![0.25]);
        assert!((activate(DenseActivation::Sigmoid, &[0.0])[0] - 0.5).abs() < 1e-7);
        assert!((activate(DenseActivation::Sigmoid, &[2.0])[0] - 0.880_797_1).abs() < 1e-6);
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[2] - 0.665_240_9).abs() < 1e-6);
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((erf(-1.5) + 0.966_105_1).abs() < 1e-6);
    }
}
