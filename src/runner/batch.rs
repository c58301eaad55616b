//! How a batch of sequences is packed: laid end to end as one `[tokens, hidden]` matrix with no
//! padding. Per-token layers work on that matrix directly; attention alone gathers the packed
//! rows into a padded `[batch, len, ...]` layout (masked) and scatters the result back.
//!
//! The index tensors are built once per forward pass on the host and uploaded with the token
//! ids, so the forward itself never copies back to the host.

use candle_core::{Device, Result, Tensor};

use super::shape::Positions;

pub struct PackedBatch {
    pub token_ids: Tensor,
    pub positions: Tensor,
    /// The same position ids on the host, for the rotary tables.
    pub position_ids: Vec<u32>,
    pub sequences: usize,
    pub longest: usize,
    pub lengths: Vec<usize>,
    /// The first packed row of each sequence.
    pub starts: Vec<usize>,
    /// Present when sequence lengths differ; equal lengths need no gather at all.
    pub padding: Option<Padding>,
    /// `[tokens]` token-type ids, present when some sequence is a pair (see
    /// [`PackedBatch::with_second_segments`]).
    pub token_types: Option<Tensor>,
}

pub struct Padding {
    /// `[sequences * longest]`: the packed row for each padded slot (padding slots point at
    /// row 0, whose values the mask then ignores).
    pub gather: Tensor,
    /// `[tokens]`: the padded slot each packed token came from.
    pub scatter: Tensor,
}

impl PackedBatch {
    pub fn new(sequences: &[&[u32]], positions: Positions, device: &Device) -> Result<Self> {
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        if longest == 0 || sequences.iter().any(|s| s.is_empty()) {
            candle_core::bail!("every sequence needs at least one token");
        }
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut token_ids = Vec::with_capacity(total);
        let mut position_ids = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(sequences.len());
        for sequence in sequences {
            starts.push(token_ids.len());
            token_ids.extend_from_slice(sequence);
            match positions {
                Positions::FromZero => position_ids.extend(0..sequence.len() as u32),
                Positions::AfterPadding { pad } => {
                    let mut counted = pad;
                    position_ids.extend(sequence.iter().map(|&id| {
                        if id == pad {
                            pad
                        } else {
                            counted += 1;
                            counted
                        }
                    }));
                }
            }
        }
        let ragged = sequences.iter().any(|s| s.len() != longest);
        let padding = if ragged {
            let mut gather = vec![0u32; sequences.len() * longest];
            let mut scatter = Vec::with_capacity(total);
            let mut row = 0u32;
            for (index, sequence) in sequences.iter().enumerate() {
                for position in 0..sequence.len() {
                    let slot = index * longest + position;
                    gather[slot] = row;
                    scatter.push(slot as u32);
                    row += 1;
                }
            }
            Some(Padding {
                gather: Tensor::from_vec(gather, sequences.len() * longest, device)?,
                scatter: Tensor::from_vec(scatter, total, device)?,
            })
        } else {
            None
        };
        Ok(Self {
            token_ids: Tensor::from_vec(token_ids, total, device)?,
            positions: Tensor::from_vec(position_ids.clone(), total, device)?,
            position_ids,
            sequences: sequences.len(),
            longest,
            lengths: sequences.iter().map(|s| s.len()).collect(),
            starts,
            padding,
            token_types: None,
        })
    }

    /// Marks where each sequence's second segment starts (type 1 from there to its end, as a
    /// tokenizer types a pair's tokens); nothing to do when no sequence is a pair.
    pub fn with_second_segments(mut self, starts: &[Option<usize>]) -> Result<Self> {
        if starts.iter().all(Option::is_none) {
            return Ok(self);
        }
        let mut types = Vec::with_capacity(self.lengths.iter().sum());
        for (index, &length) in self.lengths.iter().enumerate() {
            let second = starts.get(index).copied().flatten().unwrap_or(length).min(length);
            types.extend(std::iter::repeat_n(0u32, second));
            types.extend(std::iter::repeat_n(1u32, length - second));
        }
        let count = types.len();
        self.token_types = Some(Tensor::from_vec(types, count, self.device())?);
        Ok(self)
    }

    pub fn device(&self) -> &Device {
        self.token_ids.device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roberta_positions_start_after_the_padding_index_and_skip_padding() {
        let batch = PackedBatch::new(
            &[&[0, 5, 6, 2], &[0, 1, 2]],
            Positions::AfterPadding { pad: 1 },
            &Device::Cpu,
        )
        .expect("packs");
        let positions: Vec<u32> = batch.positions.to_vec1().expect("host");
        assert_eq!(positions, vec![2, 3, 4, 5, 2, 1, 3]);
        assert_eq!(batch.starts, vec![0, 4]);
        let bert = PackedBatch::new(&[&[101, 7, 102]], Positions::FromZero, &Device::Cpu).expect("packs");
        assert_eq!(bert.positions.to_vec1::<u32>().expect("host"), vec![0, 1, 2]);
    }

    #[test]
    fn pairs_are_typed_one_from_their_second_segment() {
        let batch = PackedBatch::new(
            &[&[101, 5, 102, 6, 102], &[101, 7, 102]],
            Positions::FromZero,
            &Device::Cpu,
        )
        .and_then(|b| b.with_second_segments(&[Some(3), None]))
        .expect("packs");
        let types: Vec<u32> = batch.token_types.expect("typed").to_vec1().expect("host");
        assert_eq!(types, vec![0, 0, 0, 1, 1, 0, 0, 0]);
        let single = PackedBatch::new(&[&[101, 7, 102]], Positions::FromZero, &Device::Cpu)
            .and_then(|b| b.with_second_segments(&[None]))
            .expect("packs");
        assert!(single.token_types.is_none());
    }
}
