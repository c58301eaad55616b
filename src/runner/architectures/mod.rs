//! Which architectures the service runs, recognised by `config.json`'s `model_type`. Each file
//! reads its config into an [`Architecture`] (its shape, known before any weight loads) and
//! builds its backbone from the shared layers. Adding an architecture means its file plus one
//! row in [`REGISTERED`] (and its test file in `tests/`).
//!
//! The files import the seam ([`crate::runner::backbone`]) and the layers; only this table
//! imports the files.

mod bert;
mod decoder;
mod distilbert;
mod encoder;
mod gemma3;
mod gte;
mod llama;
mod modernbert;
mod mpnet;
mod nomic_bert;
mod qwen3;
mod registration;
mod roberta;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::backbone::Architecture;
use super::config::{ConfigError, ConfigFileError, ConfigResult};
use super::head::pooling::PoolingMode;
use super::head::score::{ScoreHeadSpec, ScoreStep};
use super::head::sparse::MaskedLmSpec;
use super::shape::ModelShape;
pub use registration::{ClassificationHead, MaskedLmHead, Registration};

pub const REGISTERED: &[Registration] = &[
    bert::REGISTRATION,
    roberta::REGISTRATION,
    distilbert::REGISTRATION,
    mpnet::REGISTRATION,
    modernbert::REGISTRATION,
    nomic_bert::REGISTRATION,
    gte::REGISTRATION,
    qwen3::REGISTRATION,
    gemma3::REGISTRATION,
    llama::REGISTRATION,
];

/// Every `model_type` the service runs, comma-separated.
pub fn supported_model_types() -> String {
    REGISTERED
        .iter()
        .flat_map(|r| r.model_types.iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads `config.json` and hands it to the file of its architecture.
pub fn from_file(path: &Path) -> Result<Arc<dyn Architecture>, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_json(&text).map_err(|error| ConfigFileError::config(path, error))
}

pub fn from_json(text: &str) -> ConfigResult<Arc<dyn Architecture>> {
    let config: Value = serde_json::from_str(text).map_err(|source| ConfigError::Malformed {
        architecture: "model",
        source,
    })?;
    Ok(Arc::from((registration(&config)?.parse)(&config)?))
}

/// The head of a `*ForSequenceClassification` checkpoint of this config's architecture, with
/// `labels` outputs.
pub fn classification_head(config: &Value, shape: &ModelShape, labels: usize) -> ConfigResult<ScoreHeadSpec> {
    let read = head_reader(config, shape, "a sequence-classification head", |r| {
        r.classification_head
    })?;
    read(config, shape, labels)
}

/// The head of a `*ForMaskedLM` checkpoint of this config's architecture (SPLADE).
pub fn masked_lm_head(config: &Value, shape: &ModelShape) -> ConfigResult<MaskedLmSpec> {
    let read = head_reader(config, shape, "a masked-LM head", |r| r.masked_lm_head)?;
    read(config, shape)
}

/// The config's architecture's reader of one kind of head (`head_of`), or the error naming the
/// architectures that have one.
fn head_reader<T>(
    config: &Value,
    shape: &ModelShape,
    head: &str,
    head_of: impl Fn(&Registration) -> Option<T>,
) -> ConfigResult<T> {
    head_of(registration(config)?).ok_or_else(|| {
        let supported: Vec<&str> = REGISTERED
            .iter()
            .filter(|r| head_of(r).is_some())
            .flat_map(|r| r.model_types.iter().copied())
            .collect();
        ConfigError::Shape(format!(
            "{head} on {} is not supported (it is on {})",
            shape.model_type,
            supported.join(", ")
        ))
    })
}

/// An LLM reranker's head (sentence-transformers' `LogitScore`): the last token's logit for
/// the `yes` token, less the `no` token's when there is one. The output layer is `lm_head`, or
/// the token table when the checkpoint ties them (transformers' default).
pub fn logit_score_head(config: &Value, shape: &ModelShape, yes: u32, no: Option<u32>) -> ScoreHeadSpec {
    let tied = config
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let table = if tied {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    };
    let mut steps = vec![ScoreStep::Rows {
        name: table.to_owned(),
        rows: std::iter::once(yes).chain(no).collect(),
        input: shape.hidden_size,
    }];
    if no.is_some() {
        steps.push(ScoreStep::Difference);
    }
    ScoreHeadSpec {
        pooling: PoolingMode::LastToken,
        steps,
    }
}

fn registration(config: &Value) -> ConfigResult<&'static Registration> {
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .ok_or_else(|| ConfigError::NoModelType {
            supported: supported_model_types(),
        })?;
    REGISTERED
        .iter()
        .find(|r| r.model_types.contains(&model_type))
        .ok_or_else(|| ConfigError::UnknownArchitecture {
            model_type: model_type.to_owned(),
            supported: supported_model_types(),
        })
}
