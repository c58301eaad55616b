//! An LLM reranker's input as sentence-transformers 6.3 writes it: the pair as a `query` and a
//! `document` message (behind the model's default prompt as a `system` message) rendered by
//! the model's own Jinja chat template, with the options transformers renders templates with
//! (`trim_blocks`, `lstrip_blocks`, Python's string methods), then tokenized whole without
//! added special tokens. An over-long input keeps its first tokens and then the template's
//! tail (the assistant prefix the score is read after), which sentence-transformers restores
//! over the last tokens; the tail is found as it finds it, as the common end of two renders
//! with different fillers.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{context, Environment, Error, ErrorKind, Value};
use serde::Serialize;

use super::pairs::ScoringTokens;
use super::{TextTokenizer, TokenizeError, Truncation};
use crate::model_files::ChatTemplate;

pub struct ChatTokenizer {
    environment: Environment<'static>,
    system: Option<String>,
    special_tokens: Value,
    /// The template's tail, in tokens.
    suffix: Vec<u32>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

const TEMPLATE: &str = "chat_template";

impl ChatTokenizer {
    pub fn new(template: &ChatTemplate, tokenizer: &TextTokenizer) -> Result<Self, TokenizeError> {
        let mut environment = Environment::new();
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut environment);
        environment.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function("raise_exception", |message: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        environment
            .add_template_owned(TEMPLATE, template.source.clone())
            .map_err(|e| TokenizeError::Load {
                path: "chat_template".to_owned(),
                message: format!("{e:#}"),
            })?;
        let mut chat = Self {
            environment,
            system: template.system.clone(),
            special_tokens: Value::from_serialize(&template.special_tokens),
            suffix: Vec::new(),
        };
        let first = chat.tokens(&chat.render("0", "0")?, tokenizer)?;
        let second = chat.tokens(&chat.render("1 2 3 4", "1 2 3 4")?, tokenizer)?;
        let common = first
            .iter()
            .rev()
            .zip(second.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        if common > 0 && common < first.len().min(second.len()) {
            chat.suffix = first[first.len() - common..].to_vec();
        }
        Ok(chat)
    }

    fn render(&self, query: &str, document: &str) -> Result<String, TokenizeError> {
        let mut messages = Vec::with_capacity(3);
        if let Some(system) = &self.system {
            messages.push(Message {
                role: "system",
                content: system,
            });
        }
        messages.push(Message {
            role: "query",
            content: query,
        });
        messages.push(Message {
            role: "document",
            content: document,
        });
        let template = self
            .environment
            .get_template(TEMPLATE)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        let context = context! { messages, add_generation_prompt => false, ..self.special_tokens.clone() };
        template
            .render(context)
            .map_err(|e| TokenizeError::Encode(format!("the chat template failed: {e:#}")))
    }

    fn tokens(&self, text: &str, tokenizer: &TextTokenizer) -> Result<Vec<u32>, TokenizeError> {
        let encoding = tokenizer
            .inner
            .encode_fast(text, false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The template's tail in tokens (empty when the renders share none).
    pub fn suffix(&self) -> &[u32] {
        &self.suffix
    }

    /// Each pair's tokens, truncated as asked (`Off`: whole). Blocking.
    pub fn encode_pairs(
        &self,
        tokenizer: &TextTokenizer,
        pairs: &[(Arc<str>, String)],
        truncation: Truncation,
    ) -> Result<Vec<ScoringTokens>, TokenizeError> {
        let limit = tokenizer.max_tokens();
        // A query far longer than the model reads is cut once for all its documents: only its
        // first tokens can come before the document's.
        let mut parts: HashMap<*const u8, &str> = HashMap::new();
        pairs
            .iter()
            .map(|(query, document)| {
                let query = match parts.get(&query.as_ptr()) {
                    Some(part) => *part,
                    None => {
                        // Under `Off` a query over the limit makes its pair refused all the same.
                        let part = match truncation {
                            Truncation::Right | Truncation::Off => {
                                tokenizer.part_with_tokens(query, Truncation::Right, limit + 2)?
                            }
                            Truncation::Left => query,
                        };
                        parts.insert(query.as_ptr(), part);
                        part
                    }
                };
                // Only the document's first (or last) tokens can survive truncation: a part
                // holding more than the limit and the tail renders to the same kept tokens.
                let document = match truncation {
                    Truncation::Off => document.as_str(),
                    _ => tokenizer.part_with_tokens(document, truncation, limit + self.suffix.len() + 2)?,
                };
                let mut ids = self.tokens(&self.render(query, document)?, tokenizer)?;
                if ids.len() > limit {
                    match truncation {
                        Truncation::Off => {}
                        Truncation::Left => {
                            ids.drain(..ids.len() - limit);
                        }
                        Truncation::Right => {
                            ids.truncate(limit);
                            let keep = self.suffix.len().min(limit);
                            ids[limit - keep..].copy_from_slice(&self.suffix[self.suffix.len() - keep..]);
                        }
                    }
                }
                Ok(ScoringTokens {
                    ids,
                    second_segment: None,
                })
            })
            .collect()
    }
}
