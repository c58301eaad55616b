//! Compact forms of a unit-length vector for vector databases, each computed from that vector
//! alone (no calibration set, no batch statistics), so a text's compact vector never depends
//! on what it was sent with:
//! - `ubinary` / `binary`: one bit per component, `x > 0`, packed eight to a byte with the first
//!   component in the highest bit (numpy's `packbits`); `binary` is the byte less 128 as a
//!   signed byte. Exactly `sentence_transformers.quantization.quantize_embeddings`.
//! - `int8`: `round(x * sqrt(d) * 32)` clamped to [-128, 127], for a `d`-component unit vector.
//!   A unit vector's components spread like `1/sqrt(d)`, so the scale puts one such spread at
//!   32 steps and clips only beyond four of them; the same scale for every vector keeps dot
//!   products comparable, so int8 ranking follows float ranking. `uint8` is that plus 128.
//! - `base64`: not compact, but the float32 bits themselves, little-endian, in standard base64
//!   (OpenAI's `encoding_format: "base64"`, Cohere's `base64` type).

use base64::Engine as _;

/// Standard base64 of the little-endian float32 bytes, as OpenAI's SDKs decode it.
pub fn base64_f32(vector: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Steps per `1/sqrt(d)` in the int8 form.
pub const INT8_STEPS_PER_SPREAD: f32 = 32.0;

pub fn int8(vector: &[f32]) -> Vec<i8> {
    let scale = (vector.len() as f32).sqrt() * INT8_STEPS_PER_SPREAD;
    vector
        .iter()
        .map(|&x| (x * scale).round().clamp(-128.0, 127.0) as i8)
        .collect()
}

pub fn uint8(vector: &[f32]) -> Vec<u8> {
    int8(vector).into_iter().map(|q| (i16::from(q) + 128) as u8).collect()
}

pub fn ubinary(vector: &[f32]) -> Vec<u8> {
    vector
        .chunks(8)
        .map(|bits| {
            bits.iter()
                .enumerate()
                .fold(0u8, |byte, (i, &x)| if x > 0.0 { byte | (0x80 >> i) } else { byte })
        })
        .collect()
}

pub fn binary(vector: &[f32]) -> Vec<i8> {
    ubinary(vector)
        .into_iter()
        .map(|b| (i16::from(b) - 128) as i8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_float32() {
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[]), "");
    }

    #[test]
    fn bits_are_packed_as_numpy_packbits_does() {
        // np.packbits([1,0,0,0,0,0,0,1, 1,1]) == [129, 192]
        let v = [0.5, -0.1, 0.0, -2.0, -1.0, -1.0, -1.0, 0.3, 0.1, 0.2];
        assert_eq!(ubinary(&v), vec![129, 192]);
        assert_eq!(binary(&v), vec![1, 64]);
        assert_eq!(binary(&[-1.0; 8]), vec![-128]);
    }

    #[test]
    fn int8_uses_one_fixed_scale_and_clamps() {
        let d = 16f32;
        let v: Vec<f32> = (0..16).map(|i| if i == 0 { 1.0 } else { 0.25 / d.sqrt() }).collect();
        let q = int8(&v);
        assert_eq!(q[0], 127, "clamped");
        assert_eq!(q[1], 8, "0.25 of a spread is 8 steps");
        assert_eq!(uint8(&v)[1], 136);
        assert_eq!(int8(&[-1.0]), vec![-32]);
    }

    fn ranks(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut ranks = vec![0.0; values.len()];
        for (rank, &i) in order.iter().enumerate() {
            ranks[i] = rank as f64;
        }
        ranks
    }

    fn spearman(a: &[f64], b: &[f64]) -> f64 {
        let (ra, rb) = (ranks(a), ranks(b));
        let n = a.len() as f64;
        let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
        1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    }

    /// Ranking every pair of the real models' reference vectors by int8 dot product agrees with
    /// ranking them by cosine.
    #[test]
    fn int8_ranking_follows_float_ranking_on_the_reference_vectors() {
        for file in ["minilm_reference.jsonl", "mpnet_reference.jsonl"] {
            let path = crate::test_fixtures::fixtures_dir().join(file);
            let text = std::fs::read_to_string(&path).expect("fixture");
            let vectors: Vec<Vec<f32>> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let row: serde_json::Value = serde_json::from_str(l).expect("json");
                    row["embedding"]
                        .as_array()
                        .expect("embedding")
                        .iter()
                        .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                        .collect()
                })
                .collect();
            let quantized: Vec<Vec<i8>> = vectors.iter().map(|v| int8(v)).collect();
            let (mut float, mut integer) = (Vec::new(), Vec::new());
            for i in 0..vectors.len() {
                for j in i + 1..vectors.len() {
                    float.push(vectors[i].iter().zip(&vectors[j]).map(|(a, b)| f64::from(a * b)).sum());
                    integer.push(
                        quantized[i]
                            .iter()
                            .zip(&quantized[j])
                            .map(|(a, b)| f64::from(i32::from(*a) * i32::from(*b)))
                            .sum(),
                    );
                }
            }
            let rho = spearman(&float, &integer);
            assert!(rho >= 0.99, "{file}: Spearman {rho}");
        }
    }
}
