//! A query and a document as one cross-encoder input, exactly as the Hugging Face tokenizer
//! makes it for `tokenizer(query, document, truncation=True, max_length=N)`: each text
//! tokenized alone, the pair cut longest-first to the model's limit less the special tokens,
//! then framed by the tokenizer's own post-processor (`[CLS] q [SEP] d [SEP]`,
//! `<s> q </s></s> d </s>`), which also types the document's tokens 1.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
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

/// One text of a pair: the part of it that can survive truncation (a long text cut at a word
/// boundary past the budget), tokenized without special tokens.
struct Side {
    prepared: String,
    cut: bool,
    encoding: Encoding,
}

impl Side {
    /// The whole text's token count, tokenizing it whole only when it was cut.
    fn full_len(&self, tokenizer: &TextTokenizer) -> Result<usize, TokenizeError> {
        if !self.cut {
            return Ok(self.encoding.len());
        }
        let whole = tokenizer
            .inner
            .encode_fast(self.prepared.as_str(), false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(whole.len())
    }
}

impl TextTokenizer {
    /// Tokenizes query-document pairs, truncated as asked (`Off`: left whole, for the caller to
    /// refuse when over the limit; a text far over it is cut all the same). A query shared by
    /// many pairs (one allocation) is tokenized once. Blocking.
    pub fn encode_pairs(
        &self,
        pairs: &[(Arc<str>, String)],
        truncation: Truncation,
    ) -> Result<Vec<ScoringTokens>, TokenizeError> {
        let added = self
            .inner
            .get_post_processor()
            .map_or(0, |processor| processor.added_tokens(true));
        let budget = self.max_tokens.saturating_sub(added);
        let mut queries: HashMap<*const u8, (Side, Option<usize>)> = HashMap::new();
        let mut encoded = Vec::with_capacity(pairs.len());
        for (query, document) in pairs {
            let (query, query_len) = match queries.entry(query.as_ptr()) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert((self.side(query, truncation, budget)?, None)),
            };
            let document = self.side(document, truncation, budget)?;
            encoded.push(self.encode_pair(query, query_len, &document, truncation, budget)?);
        }
        Ok(encoded)
    }

    fn side(&self, text: &str, truncation: Truncation, budget: usize) -> Result<Side, TokenizeError> {
        let prepared = self.prepare(None, text);
        let part = self.part_with_tokens(&prepared, truncation, budget)?;
        let encoding = self
            .inner
            .encode_fast(part, false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        let cut = part.len() < prepared.len();
        Ok(Side {
            cut,
            encoding,
            prepared: if cut { prepared } else { String::new() },
        })
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
        query: &Side,
        query_len: &mut Option<usize>,
        document: &Side,
        truncation: Truncation,
        budget: usize,
    ) -> Result<ScoringTokens, TokenizeError> {
        let fail = |e: tokenizers::Error| TokenizeError::Encode(e.to_string());
        let direction = if truncation == Truncation::Left {
            TruncationDirection::Left
        } else {
            TruncationDirection::Right
        };
        let (first, second) = (query.encoding.clone(), document.encoding.clone());
        let (first, second) = match truncation {
            Truncation::Off => (first, Some(second)),
            // Both over the budget: each keeps half and the longer the odd token, which only
            // the whole texts' lengths tell (a cut text's part has more than the budget, so
            // its kept tokens are the whole text's).
            _ if first.len() > budget && second.len() > budget => {
                let query_len = match query_len {
                    Some(len) => *len,
                    None => *query_len.insert(query.full_len(self)?),
                };
                let half = budget / 2;
                let (keep_query, keep_document) = if query_len > document.full_len(self)? {
                    (half + budget % 2, half)
                } else {
                    (half, half + budget % 2)
                };
                let (mut first, mut second) = (first, second);
                first.truncate(keep_query, 0, direction);
                second.truncate(keep_document, 0, direction);
                (first, Some(second))
            }
            // Otherwise longest-first depends on a long text's length only through its being
            // the longer: its part does as well.
            _ => {
                let params = TruncationParams {
                    max_length: budget,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction,
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::Tokenizer;

    /// Pairs whose texts are cut a part at a time (and long ones that are not) truncate exactly
    /// as the tokenizer's own longest-first truncation of the whole texts does.
    #[test]
    fn long_pairs_truncate_as_the_whole_texts_do() {
        let path = crate::test_fixtures::fixtures_dir().join("rerank/tiny-bert-reranker/tokenizer.json");
        let limit = 64;
        let tokenizer = TextTokenizer::from_file(&path, limit, false).expect("loads");
        let mut reference = Tokenizer::from_file(&path).expect("loads");
        reference.with_padding(None);
        let words = |n: usize, word: &str| (vec![word; n].join(" "), n);
        let texts = [
            words(5, "the"),
            words(40, "quick"),
            words(300, "brown"),
            words(3000, "fox"),
            words(3001, "dog"),
        ];
        for truncation in [Truncation::Right, Truncation::Left] {
            let direction = match truncation {
                Truncation::Left => TruncationDirection::Left,
                _ => TruncationDirection::Right,
            };
            reference
                .with_truncation(Some(TruncationParams {
                    max_length: limit,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction,
                }))
                .expect("truncation");
            for (query, query_words) in &texts {
                for (document, document_words) in &texts {
                    let pairs = [(Arc::from(query.as_str()), document.clone())];
                    let got = tokenizer.encode_pairs(&pairs, truncation).expect("encodes");
                    let kept = |types: &[u32], kind: u32| types.iter().filter(|&&t| t == kind).count() - 1;
                    if *query_words > 61 && *document_words > 61 {
                        // Both over the budget of 61: half each, the odd token to the longer
                        // (the first on a tie goes short), as Python's tokenizers 0.23.3 keeps
                        // them for `tokenizer(q, d, truncation=True, max_length=64)`: e.g.
                        // 3,000 x 300 words keeps 31 + 30, 100 x 3,000 keeps 30 + 31.
                        let types: Vec<u32> = (0..got[0].ids.len())
                            .map(|i| u32::from(got[0].second_segment.is_some_and(|s| i >= s)))
                            .collect();
                        let want = if query_words > document_words {
                            (31, 30)
                        } else {
                            (30, 31)
                        };
                        assert_eq!(
                            (kept(&types, 0) - 1, kept(&types, 1)),
                            want,
                            "{query_words} x {document_words}"
                        );
                        continue;
                    }
                    let want = reference
                        .encode((query.as_str(), document.as_str()), true)
                        .expect("encodes");
                    assert_eq!(
                        got[0].ids,
                        want.get_ids(),
                        "{query_words} x {document_words} words, {truncation:?}"
                    );
                    let types = want.get_type_ids().iter().position(|&t| t == 1);
                    assert_eq!(got[0].second_segment, types);
                }
            }
        }
    }
}
