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
mod roberta;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::backbone::{Architecture, Registration};
use super::config::{ConfigError, ConfigFileError, ConfigResult};

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
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .ok_or_else(|| ConfigError::NoModelType {
            supported: supported_model_types(),
        })?;
    let registration = REGISTERED
        .iter()
        .find(|r| r.model_types.contains(&model_type))
        .ok_or_else(|| ConfigError::UnknownArchitecture {
            model_type: model_type.to_owned(),
            supported: supported_model_types(),
        })?;
    Ok(Arc::from((registration.parse)(&config)?))
}
