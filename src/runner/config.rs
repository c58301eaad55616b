//! Reading a checkpoint's `config.json`: the one error type for what can be wrong with it, the
//! typed read every architecture's config goes through, and the readers several architectures
//! share (per-layer attention types, rotary bases in transformers 5's `rope_parameters`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a config cannot be run; one line, naming the key where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key is missing or has the wrong type (serde's message names it).
    #[error("not a {architecture} config: {source}")]
    Malformed {
        architecture: &'static str,
        source: serde_json::Error,
    },
    #[error("config.json has no model_type; supported: {supported}")]
    NoModelType { supported: String },
    #[error("unsupported architecture {model_type:?}: supported are {supported}")]
    UnknownArchitecture { model_type: String, supported: String },
    /// A key set to something other than its neutral value, which this service does not run.
    #[error("config.json sets {key} = {value}, which this service does not implement")]
    Unsupported { key: String, value: String },
    /// Sizes that contradict each other.
    #[error("{0}")]
    Shape(String),
}

impl ConfigError {
    pub fn unsupported(key: impl Into<String>, value: impl fmt::Debug) -> Self {
        Self::Unsupported {
            key: key.into(),
            value: format!("{value:?}"),
        }
    }

    /// [`Self::unsupported`] for a JSON value, written as JSON.
    pub fn unsupported_json(key: impl Into<String>, value: &Value) -> Self {
        Self::Unsupported {
            key: key.into(),
            value: value.to_string(),
        }
    }
}

/// What reading a config gives: the value, or why it cannot be run.
pub type ConfigResult<T> = Result<T, ConfigError>;

/// A config file that cannot be read or run, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {error}", path.display())]
    Config { path: PathBuf, error: ConfigError },
}

impl ConfigFileError {
    pub fn config(path: &Path, error: ConfigError) -> Self {
        Self::Config {
            path: path.to_owned(),
            error,
        }
    }
}

/// `config` read as `T`, the config keys of `architecture`.
pub fn read<T: DeserializeOwned>(config: &Value, architecture: &'static str) -> ConfigResult<T> {
    T::deserialize(config).map_err(|source| ConfigError::Malformed { architecture, source })
}

/// Refuses a key whose value is set (not absent, not `null`): the configs' way of switching on a
/// variant the service does not implement (`rope_scaling`, soft-capping, ...).
pub fn refuse_if_set(key: &str, value: Option<&Value>) -> ConfigResult<()> {
    match value.filter(|v| !v.is_null()) {
        Some(value) => Err(ConfigError::unsupported_json(key, value)),
        None => Ok(()),
    }
}

/// What one layer's attention is, as transformers' `layer_types` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerType {
    FullAttention,
    SlidingAttention,
}

impl LayerType {
    /// A config's `layer_types` list, which must name every one of `layers`.
    pub fn read_list(types: &[String], layers: usize) -> ConfigResult<Vec<Self>> {
        if types.len() != layers {
            return Err(ConfigError::Shape(format!(
                "layer_types lists {} layers, not {layers}",
                types.len()
            )));
        }
        types
            .iter()
            .map(|name| match name.as_str() {
                "full_attention" => Ok(Self::FullAttention),
                "sliding_attention" => Ok(Self::SlidingAttention),
                other => Err(ConfigError::unsupported("layer_types", other)),
            })
            .collect()
    }

    /// `full` for a full-attention layer, `sliding` for a sliding one: the mask, rotary base, ...
    /// each kind of layer gets.
    pub fn pick<T>(self, full: T, sliding: T) -> T {
        match self {
            Self::FullAttention => full,
            Self::SlidingAttention => sliding,
        }
    }

    /// The key of this layer type's entry in `rope_parameters`.
    pub fn key(self) -> &'static str {
        match self {
            Self::FullAttention => "full_attention",
            Self::SlidingAttention => "sliding_attention",
        }
    }
}

/// The rotary base of `layer_type`'s layers: from transformers 5's `rope_parameters` (one
/// entry per layer type, or one for all), else `fallback`; any rope type but the default is
/// refused.
pub fn rope_theta(parameters: Option<&Value>, layer_type: LayerType, fallback: f64) -> ConfigResult<f64> {
    let Some(parameters) = parameters.filter(|v| !v.is_null()) else {
        return Ok(fallback);
    };
    let (entry, key) = match parameters.get(layer_type.key()) {
        Some(entry) => (entry, format!("rope_parameters.{}.rope_type", layer_type.key())),
        None => (parameters, "rope_parameters.rope_type".to_owned()),
    };
    match entry.get("rope_type").and_then(Value::as_str) {
        None | Some("default") => Ok(entry.get("rope_theta").and_then(Value::as_f64).unwrap_or(fallback)),
        Some(other) => Err(ConfigError::unsupported(key, other)),
    }
}

/// serde's `default = ...` for booleans that default to true.
pub fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rope_parameters_per_layer_type_or_for_all() {
        let per_type = json!({"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                              "sliding_attention": {"rope_theta": 10000.0}});
        assert_eq!(
            rope_theta(Some(&per_type), LayerType::FullAttention, 1.0).ok(),
            Some(160000.0)
        );
        assert_eq!(
            rope_theta(Some(&per_type), LayerType::SlidingAttention, 1.0).ok(),
            Some(10000.0)
        );
        let flat = json!({"rope_type": "default", "rope_theta": 5e5});
        assert_eq!(
            rope_theta(Some(&flat), LayerType::SlidingAttention, 1.0).ok(),
            Some(5e5)
        );
        assert_eq!(rope_theta(None, LayerType::FullAttention, 7.0).ok(), Some(7.0));
        let yarn = json!({"full_attention": {"rope_type": "yarn"}});
        let error = rope_theta(Some(&yarn), LayerType::FullAttention, 1.0)
            .map(|_| ())
            .unwrap_err();
        assert!(
            error.to_string().contains("rope_parameters.full_attention.rope_type"),
            "{error}"
        );
    }

    #[test]
    fn layer_types_name_every_layer() {
        let types = ["full_attention".to_owned(), "sliding_attention".to_owned()];
        assert_eq!(
            LayerType::read_list(&types, 2).ok(),
            Some(vec![LayerType::FullAttention, LayerType::SlidingAttention])
        );
        assert!(LayerType::read_list(&types, 3).is_err());
        let error = LayerType::read_list(&["chunked".to_owned()], 1)
            .map(|_| ())
            .unwrap_err();
        assert!(error.to_string().contains("layer_types"), "{error}");
    }
}
