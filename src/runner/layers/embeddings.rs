//! The input side of every backbone: the token table, plus what the architecture adds to it
//! (learned positions, token types), a scale (Gemma multiplies by sqrt(hidden)) and a norm.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::norm::Norm;
use crate::runner::batch::PackedBatch;

pub struct InputEmbeddings {
    words: Embedding,
    positions: Option<Embedding>,
    token_types: Option<TokenTypes>,
    scale: Option<f64>,
    norm: Option<Norm>,
}

impl InputEmbeddings {
    /// The `[vocab, hidden]` table named `name` under `vb`.
    pub fn new(vb: &VarBuilder, name: &str, vocab: usize, hidden: usize) -> Result<Self> {
        Ok(Self {
            words: Embedding::new(vb.get((vocab, hidden), name)?, hidden),
            positions: None,
            token_types: None,
            scale: None,
            norm: None,
        })
    }

    /// BERT's layout under `table`: `word_embeddings.weight`, plus
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

    /// Adds the `[types, hidden]` token-type table `name`.
    pub fn with_token_type(mut self, vb: &VarBuilder, name: &str, types: usize) -> Result<Self> {
        let hidden = self.words.hidden_size();
        let table = vb.get((types, hidden), name)?;
        self.token_types = Some(TokenTypes {
            first: table.get(0)?,
            table: (types > 1).then(|| Embedding::new(table, hidden)),
        });
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
        if let Some(types) = &self.token_types {
            embedded = match (&types.table, &batch.token_types) {
                (Some(table), Some(ids)) => (embedded + table.forward(ids)?)?,
                _ => embedded.broadcast_add(&types.first)?,
            };
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

/// The token-type table. A single text is all type 0 (its row added to every token); a pair
/// (a cross-encoder's query and document) takes each token's own row, where the table has more
/// than one.
struct TokenTypes {
    first: Tensor,
    table: Option<Embedding>,
}
