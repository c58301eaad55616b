//! The input side of every backbone: the token table, plus what the architecture adds to it
//! (learned positions, the single token type's row), a scale (Gemma multiplies by
//! sqrt(hidden)) and a norm.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::norm::Norm;
use crate::runner::batch::PackedBatch;

pub struct InputEmbeddings {
    words: Embedding,
    positions: Option<Embedding>,
    /// Row 0 of the token-type table: every input is a single segment.
    token_type: Option<Tensor>,
    scale: Option<f64>,
    norm: Option<Norm>,
}

impl InputEmbeddings {
    /// The `[vocab, hidden]` table named `name` under `vb`.
    pub fn new(vb: &VarBuilder, name: &str, vocab: usize, hidden: usize) -> Result<Self> {
        Ok(Self {
            words: Embedding::new(vb.get((vocab, hidden), name)?, hidden),
            positions: None,
            token_type: None,
            scale: None,
            norm: None,
        })
    }

    /// BERT's layout under `table`: `word_embeddings.weight`, plus row 0 of
    /// `token_type_embeddings.weight` when the model has token types.
    pub fn bert_style(table: &VarBuilder, vocab: usize, hidden: usize, token_types: usize) -> Result<Self> {
        let words = Self::new(table, "word_embeddings.weight", vocab, hidden)?;
        if token_types == 0 {
            return Ok(words);
        }
        words.with_token_type(table, "token_type_embeddings.weight", token_types)
    }

    pub fn with_positions(mut self, vb: &VarBuilder, name: &str, rows: usize) -> Result<Self> {
        let hidden = self.words.hidden_size();
        self.positions = Some(Embedding::new(vb.get((rows, hidden), name)?, hidden));
        Ok(self)
    }

    /// Adds row 0 of the `[types, hidden]` table `name`.
    pub fn with_token_type(mut self, vb: &VarBuilder, name: &str, types: usize) -> Result<Self> {
        let hidden = self.words.hidden_size();
        self.token_type = Some(vb.get((types, hidden), name)?.get(0)?);
        Ok(self)
    }

    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = Some(scale);
        self
    }

    pub fn with_norm(mut self, norm: Norm) -> Self {
        self.norm = Some(norm);
        self
    }

    pub fn forward(&self, batch: &PackedBatch) -> Result<Tensor> {
        let mut embedded = self.words.forward(&batch.token_ids)?;
        if let Some(positions) = &self.positions {
            embedded = (embedded + positions.forward(&batch.positions)?)?;
        }
        if let Some(token_type) = &self.token_type {
            embedded = embedded.broadcast_add(token_type)?;
        }
        if let Some(scale) = self.scale {
            // In float32, as the reference multiplies by a float32 tensor of the scale.
            embedded = (embedded * f64::from(scale as f32))?;
        }
        match &self.norm {
            Some(norm) => norm.forward(&embedded),
            None => Ok(embedded),
        }
    }
}
