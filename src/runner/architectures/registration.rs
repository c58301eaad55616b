//! What an architecture's file gives the table in `mod.rs`: the `model_type`s it reads, how it
//! reads their config, and the heads its checkpoints may carry.

use serde_json::Value;

use crate::runner::backbone::Architecture;
use crate::runner::config::ConfigResult;
use crate::runner::head::score::ScoreHeadSpec;
use crate::runner::head::sparse::MaskedLmSpec;
use crate::runner::shape::ModelShape;

/// One row of the architectures' table: the `model_type`s a module reads, and how.
pub struct Registration {
    pub model_types: &'static [&'static str],
    pub parse: fn(&Value) -> ConfigResult<Box<dyn Architecture>>,
    /// The head of its `*ForSequenceClassification` checkpoints (cross-encoders, classifiers),
    /// read from the config for the backbone's shape and a number of labels; `None` where the
    /// service runs none.
    pub classification_head: Option<ClassificationHead>,
    /// The head of its `*ForMaskedLM` checkpoints (SPLADE), read from the config for the
    /// backbone's shape; `None` where the service runs none.
    pub masked_lm_head: Option<MaskedLmHead>,
}

/// Reads a `*ForSequenceClassification` head from the config, for a shape and a label count.
pub type ClassificationHead = fn(&Value, &ModelShape, usize) -> ConfigResult<ScoreHeadSpec>;

/// Reads a `*ForMaskedLM` head from the config, for a shape.
pub type MaskedLmHead = fn(&Value, &ModelShape) -> ConfigResult<MaskedLmSpec>;
