//! A learned bias on the attention scores by relative position (T5's scheme, which MPNet uses):
//! the signed distance between query and key falls into one of a few buckets, exact for small
//! distances and logarithmic beyond, and each head adds its table's entry for that bucket. Like
//! rotary positions it is a position layer: attention only sees the resulting bias.

use candle_core::{Device, Result, Tensor};

/// A `[buckets, heads]` table and how distances are bucketed.
pub struct RelativePositionBias {
    table: Tensor,
    /// Buckets the distances are spread over (half for keys before the query, half after).
    buckets: i64,
    /// From this distance on, every distance shares the last bucket of its side.
    max_distance: f32,
}

impl RelativePositionBias {
    pub fn new(table: Tensor, buckets: i64, max_distance: f32) -> Self {
        Self {
            table,
            buckets,
            max_distance,
        }
    }

    /// The bucket of key position `key` seen from query position `query`, computed in float32
    /// as transformers does (the rounding of the logarithm decides the boundary buckets).
    pub fn bucket(&self, query: i64, key: i64) -> u32 {
        let half = self.buckets / 2;
        let max_exact = half / 2;
        let n = query - key;
        let mut bucket = if n < 0 { half } else { 0 };
        let n = n.abs();
        bucket += if n < max_exact {
            n
        } else {
            let scaled = (n as f32 / max_exact as f32).ln()
                / ((self.max_distance / max_exact as f32) as f64).ln() as f32
                * (half - max_exact) as f32;
            (max_exact + scaled as i64).min(half - 1)
        };
        bucket as u32
    }

    /// `[1, heads, len, len]`: the bias each head adds to its scores for a padded length.
    pub fn for_length(&self, len: usize, device: &Device) -> Result<Tensor> {
        let buckets: Vec<u32> = (0..len as i64)
            .flat_map(|q| (0..len as i64).map(move |k| self.bucket(q, k)))
            .collect();
        let buckets = Tensor::from_vec(buckets, len * len, device)?;
        let heads = self.table.dim(1)?;
        self.table
            .index_select(&buckets, 0)?
            .t()?
            .reshape((1, heads, len, len))?
            .contiguous()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_reference_scheme() {
        let table = Tensor::zeros((32, 1), candle_core::DType::F32, &Device::Cpu).expect("table");
        let bias = RelativePositionBias::new(table, 32, 128.0);
        let bucket = |q, k| bias.bucket(q, k);
        // Small distances are exact; keys before the query use the upper half of the buckets.
        assert_eq!(bucket(5, 5), 0);
        assert_eq!(bucket(5, 4), 1);
        assert_eq!(bucket(4, 5), 17);
        assert_eq!(bucket(10, 3), 7);
        // Logarithmic beyond 8, saturating at 15 (and 31) from a distance of 128 on.
        assert_eq!(bucket(8, 0), 8);
        assert_eq!(bucket(16, 0), 10);
        assert_eq!(bucket(32, 0), 12);
        assert_eq!(bucket(64, 0), 14);
        assert_eq!(bucket(300, 0), 15);
        assert_eq!(bucket(0, 300), 31);
    }
}
