//! Which keys each query attends to. Every mask the supported architectures use gives a query a
//! contiguous range of keys, so one function says which ([`MaskKind::key_range`]); the CPU
//! softmax zeroes what lies outside it and the GPU path turns the same ranges into an additive
//! mask ([`additive_mask`]).

use candle_core::{Device, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaskKind {
    /// Every real token of the sequence (encoders).
    Full,
    /// The query itself and every token before it (decoders).
    Causal,
    /// The query and the `window - 1` tokens before it (Mistral's `sliding_window`).
    CausalWindow(usize),
    /// Tokens at most `radius` positions away on either side (ModernBERT's local layers,
    /// EmbeddingGemma's bidirectional sliding layers).
    Local(usize),
}

impl MaskKind {
    /// The keys `[start, end)` that query `query` of a `length`-token sequence sees; empty for
    /// padding queries past the sequence that see nothing.
    pub fn key_range(self, query: usize, length: usize) -> (usize, usize) {
        let (start, end) = match self {
            Self::Full => (0, length),
            Self::Causal => (0, query + 1),
            Self::CausalWindow(window) => ((query + 1).saturating_sub(window), query + 1),
            Self::Local(radius) => (query.saturating_sub(radius), query + radius + 1),
        };
        let end = end.min(length);
        (start.min(end), end)
    }

    /// The average number of keys a query sees in a `len`-token sequence.
    pub fn mean_keys(self, len: usize) -> f64 {
        if len == 0 {
            return 0.0;
        }
        let total: usize = (0..len)
            .map(|q| {
                let (start, end) = self.key_range(q, len);
                end - start
            })
            .sum();
        total as f64 / len as f64
    }

    pub fn describe(self) -> String {
        match self {
            Self::Full => "full".to_owned(),
            Self::Causal => "causal".to_owned(),
            Self::CausalWindow(window) => format!("causal window {window}"),
            Self::Local(radius) => format!("local window +-{radius}"),
        }
    }
}

/// `[sequences, 1, longest, longest]`: 0 where a query may see a key, -inf elsewhere, for a
/// padded batch of sequences of `lengths`. A padding query that would see nothing sees key 0,
/// so that no row is all -inf (its output is discarded).
pub fn additive_mask(kind: MaskKind, lengths: &[usize], longest: usize, device: &Device) -> Result<Tensor> {
    let mut values = vec![f32::NEG_INFINITY; lengths.len() * longest * longest];
    for (sequence, &length) in lengths.iter().enumerate() {
        for query in 0..longest {
            let row = &mut values[(sequence * longest + query) * longest..][..longest];
            let (start, end) = kind.key_range(query, length);
            let (start, end) = if start < end { (start, end) } else { (0, 1) };
            row[start..end].fill(0.0);
        }
    }
    Tensor::from_vec(values, (lengths.len(), 1, longest, longest), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_follow_each_architectures_definition() {
        assert_eq!(MaskKind::Full.key_range(3, 10), (0, 10));
        assert_eq!(MaskKind::Causal.key_range(3, 10), (0, 4));
        // Mistral, sliding_window 16: itself and the 15 before it.
        assert_eq!(MaskKind::CausalWindow(16).key_range(20, 64), (5, 21));
        assert_eq!(MaskKind::CausalWindow(16).key_range(3, 64), (0, 4));
        // ModernBERT, local_attention 16: 8 on each side.
        assert_eq!(MaskKind::Local(8).key_range(20, 64), (12, 29));
        assert_eq!(MaskKind::Local(8).key_range(60, 64), (52, 64));
        // Padding queries past the end see nothing of a causal window.
        assert_eq!(MaskKind::CausalWindow(4).key_range(30, 10), (10, 10));
        assert_eq!(MaskKind::Causal.mean_keys(4), 2.5);
    }

    #[test]
    fn the_additive_mask_has_the_same_ranges() {
        let mask = additive_mask(MaskKind::Local(1), &[3, 2], 3, &Device::Cpu)
            .and_then(|m| m.flatten_all())
            .and_then(|m| m.to_vec1::<f32>())
            .expect("mask");
        let seen: Vec<bool> = mask.iter().map(|v| *v == 0.0).collect();
        #[rustfmt::skip]
        let want = [
            true, true, false,   true, true, true,   false, true, true,
            true, true, false,   true, true, false,  false, true, false,
        ];
        assert_eq!(seen, want);
    }
}
