//! What a scoring model's files say: sentence-transformers' `CrossEncoder` as it loads a
//! checkpoint. A `*ForSequenceClassification` checkpoint is a cross-encoder (one label: a
//! reranker) or a classifier (several); a causal LM followed by a `LogitScore` module in
//! `modules.json` is an LLM reranker, whose pair goes through its chat template.
//!
//! | file | use |
//! |---|---|
//! | `config.json` | `architectures`, `id2label`, `sentence_transformers.activation_fn` |
//! | `config_sentence_transformers.json` | `activation_fn` (first), `default_prompt_name` |
//! | `modules.json`, `N_LogitScore/config.json` | an LLM reranker's `true_token_id` / `false_token_id` |
//! | `chat_template.jinja` (else `tokenizer_config.json`'s `chat_template`) | how its pair is written |

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{parse_file, read_optional, ModuleEntry};
use crate::hub::{Snapshot, CONFIG};
use crate::runner::architectures;
use crate::runner::head::score::ScoreHeadSpec;
use crate::runner::head::DenseActivation;
use crate::runner::shape::ModelShape;

/// What a model is for, as its files say and `/v1/models` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Embedding,
    /// One score per query-document pair.
    Reranker,
    /// One probability per label, for a text or a pair.
    Classifier,
    /// A weight per vocabulary entry, most of them zero (SPLADE).
    Sparse,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedding => "embedding",
            Self::Reranker => "reranker",
            Self::Classifier => "classifier",
            Self::Sparse => "sparse",
        }
    }
}

/// A scoring model's head, labels and activation, and how its input is written.
#[derive(Debug, Clone)]
pub struct Scoring {
    pub head: ScoreHeadSpec,
    /// `id2label` in id order (one entry for a reranker).
    pub labels: Vec<String>,
    /// `CrossEncoder.predict`'s activation on the logits (`raw_scores` skips it).
    pub activation: DenseActivation,
    pub input: PairFormat,
}

#[derive(Debug, Clone)]
pub enum PairFormat {
    /// The tokenizer's own pair framing (`[CLS] q [SEP] d [SEP]`), truncated longest-first.
    Encoder,
    /// The pair as `query` / `document` messages through a chat template.
    Chat(ChatTemplate),
}

#[derive(Debug, Clone)]
pub struct ChatTemplate {
    /// The Jinja source.
    pub source: String,
    /// The model's default prompt, sent as a `system` message.
    pub system: Option<String>,
    /// `bos_token`, `eos_token`, ... as the template may refer to them.
    pub special_tokens: BTreeMap<String, String>,
}

impl Scoring {
    pub fn kind(&self) -> ModelKind {
        if self.labels.len() > 1 {
            ModelKind::Classifier
        } else {
            ModelKind::Reranker
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct CrossEncoderConfig {
    activation_fn: Option<String>,
    default_prompt_name: Option<String>,
    #[serde(default)]
    prompts: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct LogitScoreConfig {
    true_token_id: u32,
    false_token_id: Option<u32>,
}

/// The scoring side of a snapshot; `None` for an embedding model.
pub fn read(
    snapshot: &Snapshot,
    modules: Option<&[ModuleEntry]>,
    shape: &ModelShape,
) -> anyhow::Result<Option<Scoring>> {
    let config: Value = parse_file(&snapshot.required(CONFIG)?)?;
    let classes: Vec<&str> = config
        .get("architectures")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let logit_score = modules
        .unwrap_or_default()
        .iter()
        .find(|m| m.kind_name.rsplit('.').next() == Some("LogitScore"));
    let classifier = classes.iter().any(|c| c.ends_with("ForSequenceClassification"));
    if logit_score.is_none() && !classifier {
        return Ok(None);
    }
    if let Some(other) = modules.unwrap_or_default().iter().find(|m| {
        let class = m.kind_name.rsplit('.').next().unwrap_or_default();
        !matches!(class, "Transformer" | "LogitScore")
    }) {
        anyhow::bail!(
            "modules.json has {} after a scoring model's Transformer: a scoring model's modules are Transformer (and LogitScore)",
            other.kind_name
        );
    }
    let st: CrossEncoderConfig = read_optional(snapshot, "config_sentence_transformers.json")?.unwrap_or_default();
    let system = match &st.default_prompt_name {
        Some(name) => Some(
            st.prompts
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("default_prompt_name {name:?} is not one of its prompts"))?,
        ),
        None => None,
    };
    let (head, labels, input) = match logit_score {
        Some(module) => {
            anyhow::ensure!(
                classes.iter().any(|c| c.ends_with("ForCausalLM")),
                "a LogitScore module needs a *ForCausalLM checkpoint; config.json names {classes:?}"
            );
            let folder = module.path.trim_end_matches('/');
            let scored: LogitScoreConfig = parse_file(&snapshot.required(&format!("{folder}/{CONFIG}"))?)?;
            let head = architectures::logit_score_head(&config, shape, scored.true_token_id, scored.false_token_id);
            let template = chat_template(snapshot, system)?;
            (head, vec!["LABEL_0".to_owned()], PairFormat::Chat(template))
        }
        None => {
            anyhow::ensure!(system.is_none(), "a default prompt on a cross-encoder is not supported");
            let labels = labels(&config)?;
            let head = architectures::classification_head(&config, shape, labels.len())?;
            (head, labels, PairFormat::Encoder)
        }
    };
    let path = st.activation_fn.or_else(|| {
        config
            .pointer("/sentence_transformers/activation_fn")
            .or_else(|| config.get("sbert_ce_default_activation_function"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Ok(Some(Scoring {
        activation: activation(path.as_deref(), labels.len())?,
        head,
        labels,
        input,
    }))
}

/// `CrossEncoder`'s activation: the saved class when it is torch's (others are not loaded
/// without remote code, and the default stands), else sigmoid for one label and identity for more.
fn activation(path: Option<&str>, labels: usize) -> anyhow::Result<DenseActivation> {
    match path.filter(|p| p.starts_with("torch.")) {
        Some(path) => DenseActivation::parse(path).ok_or_else(|| {
            anyhow::anyhow!("activation_fn {path} is not supported (Identity, Sigmoid, Tanh, ReLU, GELU are)")
        }),
        None if labels == 1 => Ok(DenseActivation::Sigmoid),
        None => Ok(DenseActivation::Identity),
    }
}

/// `id2label` in id order, or `num_labels` default names.
fn labels(config: &Value) -> anyhow::Result<Vec<String>> {
    if let Some(map) = config.get("id2label").and_then(Value::as_object) {
        let mut labels: Vec<(usize, String)> = map
            .iter()
            .map(|(id, label)| {
                let id = id
                    .parse::<usize>()
                    .map_err(|_| anyhow::anyhow!("id2label has a key {id:?}"))?;
                Ok((id, label.as_str().unwrap_or_default().to_owned()))
            })
            .collect::<anyhow::Result<_>>()?;
        labels.sort();
        anyhow::ensure!(
            labels.iter().enumerate().all(|(i, (id, _))| i == *id),
            "id2label's ids are not 0..{}",
            labels.len()
        );
        anyhow::ensure!(!labels.is_empty(), "id2label is empty");
        return Ok(labels.into_iter().map(|(_, label)| label).collect());
    }
    let count = config.get("num_labels").and_then(Value::as_u64).unwrap_or(2) as usize;
    anyhow::ensure!(count >= 1, "num_labels is 0");
    Ok((0..count).map(|i| format!("LABEL_{i}")).collect())
}

fn chat_template(snapshot: &Snapshot, system: Option<String>) -> anyhow::Result<ChatTemplate> {
    let tokenizer: Value = read_optional(snapshot, "tokenizer_config.json")?.unwrap_or(Value::Null);
    let source = match snapshot.optional("chat_template.jinja")? {
        Some(path) => {
            std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        }
        None => match tokenizer.get("chat_template") {
            Some(Value::String(source)) => source.clone(),
            Some(_) => anyhow::bail!(
                "tokenizer_config.json's chat_template is not one template (named templates are not supported)"
            ),
            None => anyhow::bail!("an LLM reranker needs a chat template (chat_template.jinja) to write its pairs"),
        },
    };
    // A template that does not parse is refused with the model, not at its first request.
    if let Err(e) = minijinja::Environment::new().template_from_str(&source) {
        anyhow::bail!("its chat_template does not parse: {e}");
    }
    let special_tokens = [
        "bos_token",
        "eos_token",
        "pad_token",
        "unk_token",
        "cls_token",
        "sep_token",
    ]
    .iter()
    .filter_map(|key| {
        let value = tokenizer.get(*key)?;
        let text = value
            .as_str()
            .or_else(|| value.get("content").and_then(Value::as_str))?;
        Some(((*key).to_owned(), text.to_owned()))
    })
    .collect();
    Ok(ChatTemplate {
        source,
        system,
        special_tokens,
    })
}
