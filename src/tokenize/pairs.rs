//! A query and a document as one cross-encoder input, exactly as the Hugging Face tokenizer
//! makes it for `tokenizer(query, document, truncation=True, max_length=N)`: each text
//! tokenized alone, the pair cut longest-first to the model's limit less the special tokens,
//! then framed by the tokenizer's own post-processor (`[CLS] q [SEP] d [SEP]`,
//! `<s> q </s></s> d </s>`), which also types the document's tokens 1.

use tokenizers::utils::truncation::{truncate_encodings, TruncationDirection, TruncationParams, TruncationStrategy};
use tokenizers::{Encoding, PostProcessor};

use super::{TextTokenizer, TokenizeError, Truncation};

/// One scoring input's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringTokens {
    pub ids: Vec<u32>,
    /// Where the second text's tokens start (type 1 from there); `None` for a single text.
    pub second_segment: Option<usize>,
}

impl TextTokenizer {
    /// Tokenizes query-document pairs, truncated as asked (`Off`: left whole, for the caller to
    /// refuse when over the limit). Blocking.
    pub fn encode_pairs(
        &self,
        pairs: &[(String, String)],
        truncation: Truncation,
    ) -> Result<Vec<ScoringTokens>, TokenizeError> {
        let added = self
            .inner
            .get_post_processor()
            .map_or(0, |processor| processor.added_tokens(true));
        let budget = self.max_tokens.saturating_sub(added);
        pairs
            .iter()
            .map(|(query, document)| self.encode_pair(query, document, truncation, budget))
            .collect()
    }

    /// `text` cut after its first `limit` tokens (Cohere's `max_tokens_per_doc`); whole when
    /// it has no more. Blocking.
    pub fn first_tokens(&self, text: String, limit: usize) -> Result<String, TokenizeError> {
        let part = self.part_with_tokens(&text, Truncation::Right, limit)?;
        let encoding = self
            .inner
            .encode(part, false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        match encoding.get_offsets().get(limit.saturating_sub(1)) {
            Some(&(_, end)) if encoding.len() > limit && part.is_char_boundary(end) => Ok(part[..end].to_owned()),
            _ => Ok(text),
        }
    }

    fn encode_pair(
        &self,
        query: &str,
        document: &str,
        truncation: Truncation,
        budget: usize,
    ) -> Result<ScoringTokens, TokenizeError> {
        let fail = |e: tokenizers::Error| TokenizeError::Encode(e.to_string());
        let (query, document) = (self.prepare(None, query), self.prepare(None, document));
        // Longest-first truncation depends on a text's length only up to the budget, so a long
        // text may be tokenized a part at a time; not both, since which of two over-long texts
        // is the longer decides which keeps the odd token.
        let query_part = self.part_with_tokens(&query, truncation, budget)?;
        let document_part = self.part_with_tokens(&document, truncation, budget)?;
        let (query_part, document_part) = if query_part.len() < query.len() && document_part.len() < document.len() {
            (query.as_str(), document.as_str())
        } else {
            (query_part, document_part)
        };
        let first = self.inner.encode_fast(query_part, false).map_err(fail)?;
        let second = self.inner.encode_fast(document_part, false).map_err(fail)?;
        let (first, second) = match truncation {
            Truncation::Off => (first, Some(second)),
            Truncation::Right | Truncation::Left => {
                let params = TruncationParams {
                    max_length: budget,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction: if truncation == Truncation::Left {
                        TruncationDirection::Left
                    } else {
                        TruncationDirection::Right
                    },
                };
                truncate_encodings(first, Some(second), &params).map_err(fail)?
            }
        };
        let framed: Encoding = self.inner.post_process(first, second, true).map_err(fail)?;
        let second_segment = framed.get_type_ids().iter().position(|&t| t == 1);
        Ok(ScoringTokens {
            ids: framed.get_ids().to_vec(),
            second_segment,
        })
    }
}
