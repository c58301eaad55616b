//! Text to token ids, exactly as sentence-transformers feeds the model, and the checks on token
//! ids that clients send instead of text.
//!
//! A model's `tokenizer.json` may carry its own truncation and padding settings (the
//! all-MiniLM-L6-v2 snapshot pads every input to a fixed 128 and truncates at 128). Those are
//! switched off here: inputs are cut to the model's own limit here (keeping the special tokens
//! that frame them, as the tokenizer's own truncation does) and never padded, because padding is
//! the batching engine's business.

mod bounded;
mod chat;
mod pairs;

pub use chat::ChatTokenizer;
pub use pairs::ScoringTokens;

use std::path::Path;

use tokenizers::Tokenizer;

/// Where an over-long input loses tokens, or whether it may at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Keep the beginning (sentence-transformers' behaviour).
    Right,
    /// Keep the end.
    Left,
    /// Never: an over-long input is the caller's error.
    Off,
}

/// One token of a tokenization, for `/tokenize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPiece {
    pub id: u32,
    /// The text the token came from (its own string for special tokens).
    pub text: String,
    pub special: bool,
    /// Byte offsets into the tokenized text; `None` for special tokens.
    pub span: Option<(usize, usize)>,
}

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
    /// sentence-transformers' `do_lower_case`: texts are lowercased before tokenizing.
    lowercase: bool,
    /// The special tokens the tokenizer puts before and after every text (`[CLS]` / `[SEP]`,
    /// `<s>` / `</s>`): a token array from this tokenizer is framed by them.
    leading: Vec<u32>,
    trailing: Vec<u32>,
    /// Ids that text never tokenizes to: padding and reserved slots like `[unused12]`.
    reserved: Vec<bool>,
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_tokens: usize, lowercase: bool) -> Result<Self, TokenizeError> {
        let load_error = |message: String| TokenizeError::Load {
            path: path.display().to_string(),
            message,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| load_error(e.to_string()))?;
        let sample = inner.encode_fast("a", true).map_err(|e| load_error(e.to_string()))?;
        let special = sample.get_special_tokens_mask();
        let ids = sample.get_ids();
        let content_start = special.iter().position(|&s| s == 0).unwrap_or(ids.len());
        let content_end = special.iter().rposition(|&s| s == 0).map_or(content_start, |i| i + 1);
        let mut reserved = vec![false; inner.get_vocab_size(true)];
        for (token, id) in inner.get_vocab(true) {
            if is_reserved(&token) {
                if let Some(slot) = reserved.get_mut(id as usize) {
                    *slot = true;
                }
            }
        }
        Ok(Self {
            leading: ids[..content_start].to_vec(),
            trailing: ids[content_end..].to_vec(),
            inner,
            max_tokens,
            lowercase,
            reserved,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// How many special tokens frame every text.
    pub fn frame_len(&self) -> usize {
        self.leading.len() + self.trailing.len()
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokenizes many texts, each behind `prompt` when there is one, in parallel where the
    /// tokenizer can, and truncates them. Blocking.
    pub fn encode_batch(
        &self,
        texts: Vec<String>,
        prompt: Option<&str>,
        truncation: Truncation,
    ) -> Result<Vec<Vec<u32>>, TokenizeError> {
        let texts: Vec<String> = texts.into_iter().map(|text| self.prepare(prompt, &text)).collect();
        // Texts far longer than the model reads are tokenized a part at a time (see `bounded`);
        // the rest together, in parallel.
        let window = self.window_bytes();
        let (long, short): (Vec<usize>, Vec<usize>) = (0..texts.len()).partition(|&i| texts[i].len() > window);
        let mut ids: Vec<Vec<u32>> = vec![Vec::new(); texts.len()];
        for &i in &long {
            ids[i] = self.encode_long(&texts[i], truncation)?;
        }
        let short_texts: Vec<&str> = short.iter().map(|&i| texts[i].as_str()).collect();
        let encodings = match short_texts.len() {
            0 => Vec::new(),
            1 => vec![self
                .inner
                .encode_fast(short_texts[0], true)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?],
            _ => self
                .inner
                .encode_batch_fast(short_texts, true)
                .map_err(|e| TokenizeError::Encode(e.to_string()))?,
        };
        for (i, encoding) in short.into_iter().zip(encodings) {
            ids[i] = self.truncate_ids(encoding.get_ids().to_vec(), truncation);
        }
        Ok(ids)
    }

    /// Tokenizes texts (behind `prompt`) without special tokens, each cut after the first
    /// `max_tokens`: a `SparseStaticEmbedding`'s input. Blocking.
    pub fn encode_plain(&self, texts: &[String], prompt: Option<&str>) -> Result<Vec<Vec<u32>>, TokenizeError> {
        let texts: Vec<String> = texts.iter().map(|text| self.prepare(prompt, text)).collect();
        let encodings = self
            .inner
            .encode_batch_fast(texts, false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encodings
            .iter()
            .map(|encoding| {
                let ids = encoding.get_ids();
                ids[..ids.len().min(self.max_tokens)].to_vec()
            })
            .collect())
    }

    /// The tokens of one text (behind `prompt`), untruncated, as `/tokenize` shows them.
    pub fn pieces(
        &self,
        text: &str,
        prompt: Option<&str>,
        special_tokens: bool,
    ) -> Result<Vec<TokenPiece>, TokenizeError> {
        let text = self.prepare(prompt, text);
        // `encode` (not `encode_fast`) computes the byte offsets.
        let encoding = self
            .inner
            .encode(text.as_str(), special_tokens)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        let pieces = encoding
            .get_ids()
            .iter()
            .zip(encoding.get_tokens())
            .zip(encoding.get_special_tokens_mask())
            .zip(encoding.get_offsets())
            .map(|(((&id, token), &special), &(start, stop))| {
                let span = text.get(start..stop).filter(|_| special == 0);
                TokenPiece {
                    id,
                    text: span.map_or_else(|| token.clone(), str::to_owned),
                    special: special != 0,
                    span: span.map(|_| (start, stop)),
                }
            })
            .collect();
        Ok(pieces)
    }

    /// The text of token ids, as the tokenizer's decoder joins them; `skip_special` leaves out
    /// special tokens. An id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizeError> {
        if let Some(&bad) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(TokenizeError::Encode(format!(
                "token id {bad} is outside the vocabulary (0..{})",
                self.vocab_size()
            )));
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizeError::Encode(e.to_string()))
    }

    /// How many leading tokens of a prompted text are the prompt's, as sentence-transformers
    /// counts them for `include_prompt: false`: the prompt's own tokens less the closing one.
    pub fn prompt_length(&self, prompt: &str) -> Result<usize, TokenizeError> {
        let encoding = self
            .inner
            .encode_fast(self.prepare(None, prompt), true)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().len().saturating_sub(1))
    }

    fn prepare(&self, prompt: Option<&str>, text: &str) -> String {
        let joined = match prompt {
            Some(prompt) => format!("{prompt}{text}"),
            None => text.to_owned(),
        };
        if self.lowercase {
            joined.to_lowercase()
        } else {
            joined
        }
    }

    /// Checks that `ids` could be this tokenizer's output for some text: framed by its special
    /// tokens, inside its vocabulary, with no padding or reserved token inside.
    pub fn check_ids(&self, ids: &[u32], model_vocab: usize) -> Result<(), ForeignIds> {
        let describe = |id: u32| match self.inner.id_to_token(id) {
            Some(token) => format!("{id} ({token})"),
            None => id.to_string(),
        };
        if let Some(&bad) = ids
            .iter()
            .find(|&&id| id as usize >= model_vocab.min(self.reserved.len()) || self.inner.id_to_token(id).is_none())
        {
            return Err(ForeignIds(format!(
                "token id {bad} is outside the vocabulary (0..{model_vocab})"
            )));
        }
        let framed = ids.len() >= self.leading.len() + self.trailing.len()
            && ids.starts_with(&self.leading)
            && ids.ends_with(&self.trailing);
        if !framed {
            let frame = |ids: &[u32]| ids.iter().map(|&id| describe(id)).collect::<Vec<_>>().join(" ");
            return Err(ForeignIds(format!(
                "it does not start with {} and end with {} as this model's tokenizer frames every text",
                frame(&self.leading),
                frame(&self.trailing)
            )));
        }
        let inside = &ids[self.leading.len()..ids.len() - self.trailing.len()];
        if let Some(&bad) = inside.iter().find(|&&id| self.reserved[id as usize]) {
            return Err(ForeignIds(format!(
                "it contains token {}, which no text tokenizes to",
                describe(bad)
            )));
        }
        Ok(())
    }

    /// Cuts a tokenization to the model's limit as the tokenizer's own truncation would: the
    /// content loses tokens at the chosen end, the framing special tokens stay. `Off` leaves
    /// it whole (the caller rejects it).
    pub fn truncate_ids(&self, mut ids: Vec<u32>, truncation: Truncation) -> Vec<u32> {
        if ids.len() <= self.max_tokens || truncation == Truncation::Off {
            return ids;
        }
        let framed = ids.starts_with(&self.leading)
            && ids.ends_with(&self.trailing)
            && ids.len() >= self.leading.len() + self.trailing.len();
        let (lead, trail) = if framed {
            (self.leading.len(), self.trailing.len())
        } else {
            (0, 0)
        };
        let Some(keep) = self.max_tokens.checked_sub(lead + trail) else {
            ids.truncate(self.max_tokens);
            return ids;
        };
        let content_end = ids.len() - trail;
        let drop = content_end - lead - keep;
        match truncation {
            Truncation::Left => {
                ids.drain(lead..lead + drop);
            }
            _ => {
                ids.drain(content_end - drop..content_end);
            }
        }
        ids
    }
}

/// Vocabulary entries that plain text never produces.
fn is_reserved(token: &str) -> bool {
    let numbered = |prefix: &str, suffix: &str| {
        token
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
    };
    matches!(token, "[PAD]" | "<pad>")
        || numbered("[unused", "]")
        || numbered("<unused", ">")
        || numbered("<madeupword", ">")
}

/// Client token ids that are not a tokenization by this tokenizer, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ForeignIds(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token id {token} is not in OpenAI's cl100k_base vocabulary")]
pub struct NotCl100k {
    pub token: u32,
}

/// Decodes OpenAI `cl100k_base` token ids (what OpenAI's embedding models take, and what
/// LangChain's `OpenAIEmbeddings` sends by default) back to their text. Bytes that are not
/// UTF-8 on their own (a character split between chunks) become U+FFFD, as tiktoken's decode
/// does.
pub fn decode_cl100k(ids: &[u32]) -> Result<String, NotCl100k> {
    let bytes = tiktoken_rs::cl100k_base_singleton()
        .decode_bytes(ids)
        .map_err(|e| NotCl100k { token: e.token })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_tokens_are_recognised() {
        for token in ["[PAD]", "<pad>", "[unused12]", "<unused0>", "<madeupword2>"] {
            assert!(is_reserved(token), "{token}");
        }
        for token in ["[UNK]", "[unused]", "unused1", "[CLS]", "hello"] {
            assert!(!is_reserved(token), "{token}");
        }
    }

    #[test]
    fn cl100k_ids_decode_to_their_text() {
        // "hello world" in cl100k_base.
        assert_eq!(decode_cl100k(&[15339, 1917]).expect("decodes"), "hello world");
        assert!(decode_cl100k(&[4_000_000]).is_err());
    }

    fn tiny_tokenizer() -> TextTokenizer {
        let dir = crate::test_fixtures::pipeline_dir("tiny-bert-cls");
        TextTokenizer::from_file(&dir.join("tokenizer.json"), 5, false).expect("loads")
    }

    #[test]
    fn truncation_keeps_the_frame_and_cuts_the_chosen_end() {
        let tokenizer = tiny_tokenizer();
        let ids = vec![101, 1, 2, 3, 4, 5, 102];
        assert_eq!(
            tokenizer.truncate_ids(ids.clone(), Truncation::Right),
            vec![101, 1, 2, 3, 102]
        );
        assert_eq!(
            tokenizer.truncate_ids(ids.clone(), Truncation::Left),
            vec![101, 3, 4, 5, 102]
        );
        assert_eq!(tokenizer.truncate_ids(ids.clone(), Truncation::Off), ids);
        assert_eq!(tokenizer.truncate_ids(vec![7; 9], Truncation::Right), vec![7; 5]);
        let text = tokenizer
            .encode_batch(vec!["one two three four five six".into()], None, Truncation::Left)
            .expect("encodes");
        assert_eq!(text[0].len(), 5);
        assert_eq!((text[0][0], text[0][4]), (101, 102));
    }

    #[test]
    fn pieces_carry_offsets_and_special_flags() {
        let pieces = tiny_tokenizer().pieces("hello world", None, true).expect("tokenizes");
        assert_eq!(pieces.len(), 4);
        assert!(pieces[0].special && pieces[3].special);
        assert_eq!((pieces[1].text.as_str(), pieces[1].span), ("hello", Some((0, 5))));
        assert_eq!(pieces[2].span, Some((6, 11)));
    }
}
