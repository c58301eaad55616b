//! Which architectures the service runs, recognised by `config.json`'s `model_type`. Each one
//! is a module that reads its config into an [`Architecture`] (its shape, known before any
//! weight loads) and builds its [`Backbone`] from the weights. Adding an architecture means its
//! module plus one line in [`REGISTERED`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::backbone::Backbone;
use super::precision::Precision;
use super::shape::ModelShape;
use super::{bert, distilbert, gemma3, gte, llama, modernbert, mpnet, nomic_bert, qwen3, roberta};

/// A checkpoint's architecture as its config describes it.
pub trait Architecture: Send + Sync + fmt::Debug {
    fn shape(&self) -> &ModelShape;
    /// Builds the backbone from the checkpoint's tensors.
    fn load(&self, weights: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>>;
}

/// How a config's text becomes an [`Architecture`]; the error is one line naming what is
/// unsupported.
pub type Parse = fn(&str) -> std::result::Result<Box<dyn Architecture>, String>;

pub struct Registration {
    pub model_types: &'static [&'static str],
    pub parse: Parse,
}

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

/// Reads `config.json` and hands it to the module of its architecture.
pub fn from_file(path: &Path) -> anyhow::Result<Arc<dyn Architecture>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn from_json(text: &str) -> std::result::Result<Arc<dyn Architecture>, String> {
    #[derive(Deserialize)]
    struct ModelType {
        model_type: Option<String>,
    }
    let kind: ModelType = serde_json::from_str(text).map_err(|e| format!("not a model config: {e}"))?;
    let model_type = kind
        .model_type
        .ok_or_else(|| format!("config.json has no model_type; supported: {}", supported_model_types()))?;
    let registration = REGISTERED
        .iter()
        .find(|r| r.model_types.contains(&model_type.as_str()))
        .ok_or_else(|| {
            format!(
                "unsupported architecture {model_type:?}: supported are {}",
                supported_model_types()
            )
        })?;
    let architecture = (registration.parse)(text)?;
    let shape = architecture.shape();
    if shape.heads == 0 || shape.kv_heads == 0 || !shape.heads.is_multiple_of(shape.kv_heads) {
        return Err(format!(
            "{} attention heads cannot share {} key/value heads",
            shape.heads, shape.kv_heads
        ));
    }
    if shape.max_positions == 0 {
        return Err("the model takes no tokens (its position table is empty)".to_owned());
    }
    Ok(Arc::from(architecture))
}

/// Checkpoints saved from a task model nest the backbone under a prefix (`bert.`, `model.`,
/// `new.`, ...): the first of `prefixes` under which `probe` exists, else the root.
pub fn nested<'a>(vb: VarBuilder<'a>, probe: &str, prefixes: &[&str]) -> VarBuilder<'a> {
    match prefixes
        .iter()
        .find(|prefix| vb.contains_tensor(&format!("{prefix}.{probe}")))
    {
        Some(prefix) => vb.pp(*prefix),
        None => vb,
    }
}

/// A config key the service does not implement with a value other than its neutral one.
pub fn refuse(key: &str, value: impl fmt::Debug) -> String {
    format!("config.json sets {key} = {value:?}, which this service does not implement")
}
