//! sentence-transformers' `Pooling` module on packed tokens: every mode it has, concatenated in
//! its order when several are on, and `include_prompt: false` (leading prompt tokens left out).

use candle_core::{DType, Result, Tensor, D};

use crate::runner::batch::PackedBatch;

/// One pooling mode. The declaration order is the order sentence-transformers concatenates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    Cls,
    Max,
    Mean,
    MeanSqrtLen,
    WeightedMean,
    LastToken,
}

const ALL_MODES: [PoolingMode; 6] = [
    PoolingMode::Cls,
    PoolingMode::Max,
    PoolingMode::Mean,
    PoolingMode::MeanSqrtLen,
    PoolingMode::WeightedMean,
    PoolingMode::LastToken,
];

impl PoolingMode {
    /// The names sentence-transformers' `pooling_mode` key uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cls => "cls",
            Self::Max => "max",
            Self::Mean => "mean",
            Self::MeanSqrtLen => "mean_sqrt_len_tokens",
            Self::WeightedMean => "weightedmean",
            Self::LastToken => "lasttoken",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        ALL_MODES.into_iter().find(|m| m.name() == name.to_ascii_lowercase())
    }

    pub fn names() -> String {
        ALL_MODES.map(Self::name).join(", ")
    }
}

/// A set of pooling modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PoolingModes(u8);

impl PoolingModes {
    pub fn single(mode: PoolingMode) -> Self {
        Self(1 << mode as u8)
    }

    pub fn with(self, mode: PoolingMode, on: bool) -> Self {
        if on {
            Self(self.0 | 1 << mode as u8)
        } else {
            self
        }
    }

    pub fn iter(self) -> impl Iterator<Item = PoolingMode> {
        ALL_MODES.into_iter().filter(move |m| self.0 & (1 << *m as u8) != 0)
    }

    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    /// `cls`, `mean`, or several joined by `+`.
    pub fn describe(self) -> String {
        self.iter().map(PoolingMode::name).collect::<Vec<_>>().join("+")
    }
}

/// How one sequence is pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pooling {
    pub modes: PoolingModes,
    /// Leading tokens left out of every mode but `cls` (the prompt, when the model's pooling
    /// has `include_prompt: false`).
    pub skip_leading: usize,
}

impl Pooling {
    pub fn new(modes: PoolingModes) -> Self {
        Self { modes, skip_leading: 0 }
    }

    /// No pooling at all: a sequence's output is every token's last hidden state, row after
    /// row (TEI's `/embed_all`).
    pub fn every_token() -> Self {
        Self::new(PoolingModes::default())
    }

    pub fn is_every_token(&self) -> bool {
        self.modes.count() == 0
    }

    /// What the exact-repeat cache files the vectors under.
    pub fn cache_label(&self) -> String {
        if self.is_every_token() {
            "every token".to_owned()
        } else {
            self.modes.describe()
        }
    }
}

/// Pools the sequences `members` of `batch` from the encoder's packed output `hidden`
/// (`[tokens, h]`), giving `[members, h * modes]`.
pub fn pool(hidden: &Tensor, batch: &PackedBatch, members: &[usize], pooling: Pooling) -> Result<Tensor> {
    let device = hidden.device();
    let spans: Vec<(usize, usize, usize)> = members
        .iter()
        .map(|&i| {
            let len = batch.lengths[i];
            (batch.starts[i], len, pooling.skip_leading.min(len))
        })
        .collect();
    let rows = |pick: &dyn Fn(usize, usize, usize) -> u32| -> Result<Tensor> {
        let ids: Vec<u32> = spans.iter().map(|&(start, len, skip)| pick(start, len, skip)).collect();
        Tensor::from_vec(ids, spans.len(), device)
    };
    let mut parts = Vec::with_capacity(pooling.modes.count());
    for mode in pooling.modes.iter() {
        let part = match mode {
            PoolingMode::Cls => hidden.index_select(&rows(&|start, _, _| start as u32)?, 0)?,
            PoolingMode::LastToken => {
                // Nothing left to pool (a prompt as long as the input) gives zeros, as there.
                let last = hidden.index_select(&rows(&|start, len, _| (start + len - 1) as u32)?, 0)?;
                let kept: Vec<f32> = spans
                    .iter()
                    .map(|&(_, len, skip)| f32::from(u8::from(skip < len)))
                    .collect();
                last.broadcast_mul(&Tensor::from_vec(kept, (spans.len(), 1), device)?)?
            }
            PoolingMode::Max => max_over_tokens(hidden, &spans)?,
            PoolingMode::Mean | PoolingMode::MeanSqrtLen | PoolingMode::WeightedMean => {
                weighted_sum(hidden, &spans, mode)?
            }
        };
        parts.push(part);
    }
    match parts.len() {
        1 => Ok(parts.remove(0)),
        _ => Tensor::cat(&parts, 1),
    }
}

/// Sum over each span's kept tokens (weighted by position + 1 for `weightedmean`), divided as
/// sentence-transformers divides: by the count, its square root, or the sum of the weights,
/// clamped at 1e-9.
fn weighted_sum(hidden: &Tensor, spans: &[(usize, usize, usize)], mode: PoolingMode) -> Result<Tensor> {
    let device = hidden.device();
    let mut rows = Vec::new();
    let mut segment = Vec::new();
    let mut weights = Vec::new();
    let mut divisors = Vec::with_capacity(spans.len());
    for (index, &(start, len, skip)) in spans.iter().enumerate() {
        let mut total = 0f32;
        for position in skip..len {
            rows.push((start + position) as u32);
            segment.push(index as u32);
            let weight = if mode == PoolingMode::WeightedMean {
                (position + 1) as f32
            } else {
                1.0
            };
            weights.push(weight);
            total += weight;
        }
        let total = total.max(1e-9);
        divisors.push(if mode == PoolingMode::MeanSqrtLen {
            total.sqrt()
        } else {
            total
        });
    }
    let width = hidden.dim(1)?;
    let sums = Tensor::zeros((spans.len(), width), DType::F32, device)?;
    let sums = if rows.is_empty() {
        sums
    } else {
        let count = rows.len();
        let contiguous = rows.windows(2).all(|w| w[1] == w[0] + 1) && rows[0] == 0 && count == hidden.dim(0)?;
        let selected = if contiguous {
            hidden.clone()
        } else {
            hidden.index_select(&Tensor::from_vec(rows, count, device)?, 0)?
        };
        let selected = if mode == PoolingMode::WeightedMean {
            selected.broadcast_mul(&Tensor::from_vec(weights, (count, 1), device)?)?
        } else {
            selected
        };
        sums.index_add(&Tensor::from_vec(segment, count, device)?, &selected, 0)?
    };
    sums.broadcast_div(&Tensor::from_vec(divisors, (spans.len(), 1), device)?)
}

/// The per-dimension maximum over each span's kept tokens. Left-out slots read a row of -1e9,
/// the value sentence-transformers writes over masked tokens.
fn max_over_tokens(hidden: &Tensor, spans: &[(usize, usize, usize)]) -> Result<Tensor> {
    let device = hidden.device();
    let (tokens, width) = hidden.dims2()?;
    let longest = spans.iter().map(|&(_, len, _)| len).max().unwrap_or(1).max(1);
    let sentinel = tokens as u32;
    let mut slots = Vec::with_capacity(spans.len() * longest);
    for &(start, len, skip) in spans {
        slots.extend((0..longest).map(|p| {
            if p >= skip && p < len {
                (start + p) as u32
            } else {
                sentinel
            }
        }));
    }
    let floor = Tensor::full(-1e9f32, (1, width), device)?;
    let extended = Tensor::cat(&[hidden, &floor], 0)?;
    extended
        .index_select(&Tensor::from_vec(slots, spans.len() * longest, device)?, 0)?
        .reshape((spans.len(), longest, width))?
        .max(1)
}

/// Row-wise L2 normalisation, with torch.nn.functional.normalize's floor so a zero vector stays
/// finite.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norms = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::shape::Positions;
    use candle_core::Device;

    /// Two sequences of 3 and 2 tokens with hand-checkable hidden states (h = 2).
    fn example() -> (Tensor, PackedBatch) {
        let batch = PackedBatch::new(&[&[1, 2, 3], &[4, 5]], Positions::FromZero, &Device::Cpu).expect("packs");
        let hidden =
            Tensor::from_vec(vec![1f32, -1., 3., 0., 2., 5., -2., 4., 6., 2.], (5, 2), &Device::Cpu).expect("tensor");
        (hidden, batch)
    }

    fn pooled(modes: PoolingModes, skip: usize) -> Vec<Vec<f32>> {
        let (hidden, batch) = example();
        let pooling = Pooling {
            modes,
            skip_leading: skip,
        };
        pool(&hidden, &batch, &[0, 1], pooling)
            .expect("pools")
            .to_vec2()
            .expect("host")
    }

    #[test]
    fn each_mode_matches_its_definition() {
        let one = |m| pooled(PoolingModes::single(m), 0);
        assert_eq!(one(PoolingMode::Cls), vec![vec![1., -1.], vec![-2., 4.]]);
        assert_eq!(one(PoolingMode::LastToken), vec![vec![2., 5.], vec![6., 2.]]);
        assert_eq!(one(PoolingMode::Max), vec![vec![3., 5.], vec![6., 4.]]);
        assert_eq!(one(PoolingMode::Mean), vec![vec![2., 4. / 3.], vec![2., 3.]]);
        let sqrt = one(PoolingMode::MeanSqrtLen);
        assert!((sqrt[0][0] - 6. / 3f32.sqrt()).abs() < 1e-6 && (sqrt[1][1] - 6. / 2f32.sqrt()).abs() < 1e-6);
        // Weights 1, 2, 3 by position.
        let weighted = one(PoolingMode::WeightedMean);
        assert!((weighted[0][0] - (1. + 6. + 6.) / 6.).abs() < 1e-6);
        assert!((weighted[1][1] - (4. + 4.) / 3.).abs() < 1e-6);
    }

    #[test]
    fn several_modes_concatenate_in_sentence_transformers_order() {
        let modes = PoolingModes::default()
            .with(PoolingMode::Mean, true)
            .with(PoolingMode::Cls, true);
        assert_eq!(modes.describe(), "cls+mean");
        assert_eq!(pooled(modes, 0)[1], vec![-2., 4., 2., 3.]);
    }

    #[test]
    fn skipped_prompt_tokens_leave_every_mode_but_cls() {
        let modes = PoolingModes::default()
            .with(PoolingMode::Cls, true)
            .with(PoolingMode::Mean, true)
            .with(PoolingMode::Max, true);
        // Skipping 2 leaves one token of the first sequence and none of the second.
        let got = pooled(modes, 2);
        assert_eq!(got[0], vec![1., -1., 2., 5., 2., 5.]);
        assert_eq!(got[1][..2], [-2., 4.]);
        assert_eq!(got[1][2..4], [-1e9, -1e9]);
        assert_eq!(got[1][4..], [0., 0.]);
        assert_eq!(pooled(PoolingModes::single(PoolingMode::LastToken), 2)[1], vec![0., 0.]);
    }
}
