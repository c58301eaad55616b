//! Tokenizing texts far longer than the model reads, without tokenizing all of them: the
//! tokenizer's cost grows with the text, and a client may send megabytes of it.
//!
//! A fixed character cut is unsafe (it can split a word, or land in a run of spaces, and change
//! the tokens at the cut). Instead a part of the text is cut at a word boundary: a prefix ends
//! just before a whitespace character (trailing whitespace dropped), a suffix starts at the first
//! character of a whitespace run. Pre-tokenizers split at whitespace, so every token of that part
//! is a token of the whole text. If the part already holds more tokens than the model reads, the
//! whole text would be cut to the same tokens; otherwise the part grows fourfold, up to the whole
//! text (a text with no whitespace is tokenized whole).

use super::{TextTokenizer, TokenizeError, Truncation};

impl TextTokenizer {
    /// Texts longer than this (in bytes) take the bounded path: comfortably more than the token
    /// limit's worth of text.
    pub(super) fn window_bytes(&self) -> usize {
        (self.max_tokens + 16) * 16
    }

    pub(super) fn encode_long(&self, text: &str, truncation: Truncation) -> Result<Vec<u32>, TokenizeError> {
        let mut window = self.window_bytes();
        loop {
            let part = if window >= text.len() {
                None
            } else if truncation == Truncation::Left {
                suffix_at_word_boundary(text, window)
            } else {
                prefix_at_word_boundary(text, window)
            };
            let whole = part.is_none() && window >= text.len();
            let encoded = self
                .inner
                .encode_fast(part.unwrap_or(text), true)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?;
            let ids = encoded.get_ids();
            // More than the limit: the whole text is cut to these very tokens (or, with truncation
            // off, is over the limit too).
            if whole || ids.len() > self.max_tokens {
                return Ok(self.truncate_ids(ids.to_vec(), truncation));
            }
            window = window.saturating_mul(4);
        }
    }
}

impl TextTokenizer {
    /// A part of `text` (from its start, or its end for `Left`) cut at a word boundary that holds
    /// more than `tokens` tokens of its own (no special tokens), or the whole text when no
    /// smaller part does. A pair or a chat template needs only that many of a long text's tokens.
    pub(super) fn part_with_tokens<'t>(
        &self,
        text: &'t str,
        truncation: Truncation,
        tokens: usize,
    ) -> Result<&'t str, TokenizeError> {
        let mut window = self.window_bytes().max(tokens.saturating_mul(16));
        while window < text.len() {
            let part = if truncation == Truncation::Left {
                suffix_at_word_boundary(text, window)
            } else {
                prefix_at_word_boundary(text, window)
            };
            let Some(part) = part else {
                break;
            };
            let encoded = self
                .inner
                .encode_fast(part, false)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?;
            if encoded.get_ids().len() > tokens {
                return Ok(part);
            }
            window = window.saturating_mul(4);
        }
        Ok(text)
    }
}

/// The largest start of `text` within `bytes` that ends before a whitespace character, without
/// trailing whitespace; `None` when there is no such boundary.
fn prefix_at_word_boundary(text: &str, bytes: usize) -> Option<&str> {
    let mut cut = bytes.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let next_is_space = text[cut..].chars().next().is_some_and(char::is_whitespace);
    let end = if next_is_space {
        cut
    } else {
        text[..cut].rfind(char::is_whitespace)?
    };
    let prefix = text[..end].trim_end();
    (!prefix.is_empty()).then_some(prefix)
}

/// The largest end of `text` within `bytes` that starts with the first character of a run of
/// whitespace; `None` when there is no such boundary.
fn suffix_at_word_boundary(text: &str, bytes: usize) -> Option<&str> {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let mut previous_is_space = text[..start].chars().next_back().is_some_and(char::is_whitespace);
    for (offset, c) in text[start..].char_indices() {
        if c.is_whitespace() && !previous_is_space {
            let suffix = &text[start + offset..];
            return if suffix.trim_start().is_empty() {
                None
            } else {
                Some(suffix)
            };
        }
        previous_is_space = c.is_whitespace();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str, max_tokens: usize) -> TextTokenizer {
        TextTokenizer::from_file(
            &crate::test_fixtures::pipeline_dir(name).join("tokenizer.json"),
            max_tokens,
            false,
        )
        .expect("loads")
    }

    /// Texts that make fixed cuts go wrong: runs of spaces, long words, tabs and newlines,
    /// accents, CJK, no spaces at all.
    fn awkward_texts() -> Vec<String> {
        let words = [
            "embedding",
            "the",
            "quick",
            "Überraschung",
            "naïve",
            "東京",
            "tokenization",
            "a",
        ];
        let mut texts = Vec::new();
        for spacing in [" ", "   ", "\t", " \n ", "      "] {
            let text: Vec<&str> = (0..3000).map(|i| words[i * 7 % words.len()]).collect();
            texts.push(text.join(spacing));
        }
        texts.push("x".repeat(20_000));
        texts.push(format!(
            "{} {}",
            "supercalifragilistic".repeat(500),
            "tail words here ".repeat(400)
        ));
        texts.push(format!("{}{}", "word ".repeat(1500), " ".repeat(5000)));
        texts
    }

    #[test]
    fn bounded_tokenization_equals_tokenizing_everything() {
        for name in ["tiny-bert-cls", "tiny-xlm-roberta-mean", "tiny-mpnet-mean"] {
            for limit in [8, 64, 256] {
                let tokenizer = fixture(name, limit);
                for text in awkward_texts() {
                    assert!(
                        text.len() > tokenizer.window_bytes(),
                        "the test must take the bounded path"
                    );
                    for truncation in [Truncation::Right, Truncation::Left] {
                        let full = tokenizer.inner.encode_fast(text.as_str(), true).expect("encodes");
                        let want = tokenizer.truncate_ids(full.get_ids().to_vec(), truncation);
                        let got = tokenizer.encode_long(&text, truncation).expect("encodes");
                        assert_eq!(
                            got,
                            want,
                            "{name}, limit {limit}, {truncation:?}, text {:?}...",
                            &text[..40]
                        );
                    }
                    let full = tokenizer.inner.encode_fast(text.as_str(), true).expect("encodes");
                    let off = tokenizer.encode_long(&text, Truncation::Off).expect("encodes");
                    assert_eq!(
                        off.len() > limit,
                        full.len() > limit,
                        "with truncation off, whether the text is too long is still told right"
                    );
                }
            }
        }
    }

    #[test]
    fn word_boundaries() {
        assert_eq!(prefix_at_word_boundary("hello world again", 8), Some("hello"));
        assert_eq!(prefix_at_word_boundary("hello   world", 7), Some("hello"));
        assert_eq!(prefix_at_word_boundary("hello world", 5), Some("hello"));
        assert_eq!(prefix_at_word_boundary("helloworld", 5), None);
        assert_eq!(suffix_at_word_boundary("one two three", 7), Some(" three"));
        assert_eq!(suffix_at_word_boundary("one   two", 5), None);
        assert_eq!(suffix_at_word_boundary("one   two", 6), Some("   two"));
        assert_eq!(suffix_at_word_boundary("onetwo", 3), None);
    }
}
