//! Text to token ids, exactly as sentence-transformers feeds the model.
//!
//! A model's `tokenizer.json` may carry its own truncation and padding settings (the
//! all-MiniLM-L6-v2 snapshot pads every input to a fixed 128 and truncates at 128). Those are
//! switched off here: inputs are truncated to the model's own limit and never padded, because
//! padding is the batching engine's business.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("cannot load tokenizer {path}: {message}")]
    Load { path: String, message: String },
    #[error("tokenization failed: {0}")]
    Encode(String),
}

pub struct TextTokenizer {
    inner: Tokenizer,
    max_tokens: usize,
    /// The special token the tokenizer appends to every sequence (`[SEP]` for BERT), kept at the
    /// end when token-id input is truncated so it matches truncated text.
    trailing_special: Option<u32>,
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_tokens: usize) -> Result<Self, TokenizeError> {
        let load_error = |message: String| TokenizeError::Load {
            path: path.display().to_string(),
            message,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load_error(e.to_string()))?;
        let empty = inner.encode_fast("", true).map_err(|e| load_error(e.to_string()))?;
        let special = empty.get_ids();
        let trailing_special = if special.len() >= 2 {
            special.last().copied()
        } else {
            None
        };
        Ok(Self {
            inner,
            max_tokens,
            trailing_special,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokenizes many texts, in parallel where the tokenizer can. Blocking.
    pub fn encode_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<u32>>, TokenizeError> {
        let encodings = match texts.len() {
            1 => vec![self
                .inner
                .encode_fast(texts[0].as_str(), true)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?],
            _ => self
                .inner
                .encode_batch_fast(texts, true)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?,
        };
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Applies the text truncation rule to ids a client sent: cut to the limit, keeping the
    /// closing special token when the sequence had one.
    pub fn truncate_ids(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if ids.len() <= self.max_tokens {
            return ids;
        }
        let closing = ids.last().copied().filter(|&last| Some(last) == self.trailing_special);
        match closing {
            Some(sep) if self.max_tokens >= 2 => {
                ids.truncate(self.max_tokens - 1);
                ids.push(sep);
            }
            _ => ids.truncate(self.max_tokens),
        }
        ids
    }
}
