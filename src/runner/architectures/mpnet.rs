//! MPNet: BERT's block with RoBERTa-style positions, no token types, and a learned attention
//! bias per head by relative position ([`RelativePositionBias`]).

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::bert::{BertFamily, BertLikeConfig, LayerNames};
use super::Registration;
use crate::runner::backbone::{Architecture, Backbone};
use crate::runner::config::{self, ConfigError, ConfigResult};
use crate::runner::layers::position_bias::RelativePositionBias;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

pub const REGISTRATION: Registration = Registration {
    model_types: &["mpnet"],
    parse: |config| Ok(Box::new(MpNet::read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

const LAYER_NAMES: LayerNames = LayerNames {
    query: "attention.attn.q",
    key: "attention.attn.k",
    value: "attention.attn.v",
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

/// transformers computes the buckets with its default of 32 whatever the config says (the
/// table's size comes from `relative_attention_num_buckets`), and a maximum distance of 128.
const BUCKETS: i64 = 32;
const MAX_DISTANCE: f32 = 128.0;

const RELATIVE_BIAS_WEIGHT: &str = "encoder.relative_attention_bias.weight";

#[derive(Debug)]
pub struct MpNet {
    family: BertFamily,
    /// Rows of the relative-position bias table.
    bias_rows: usize,
}

#[derive(Deserialize)]
struct MpNetConfig {
    #[serde(default = "default_buckets")]
    relative_attention_num_buckets: usize,
}

fn default_buckets() -> usize {
    32
}

impl MpNet {
    fn read(config: &serde_json::Value) -> ConfigResult<Self> {
        let bert = BertLikeConfig::read(config)?;
        let own: MpNetConfig = config::read(config, "MPNet")?;
        if own.relative_attention_num_buckets < BUCKETS as usize {
            return Err(ConfigError::Shape(format!(
                "relative_attention_num_buckets is {}, fewer than the {BUCKETS} buckets MPNet uses",
                own.relative_attention_num_buckets
            )));
        }
        let pad = bert.pad_token_id.unwrap_or(1);
        Ok(Self {
            family: BertFamily {
                type_vocab_size: 0,
                ..bert.family("mpnet", LAYER_NAMES)?.with_positions_after_padding(pad)
            },
            bias_rows: own.relative_attention_num_buckets,
        })
    }
}

impl Architecture for MpNet {
    fn shape(&self) -> &ModelShape {
        &self.family.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let root = self.family.root(vb);
        let table = root.get((self.bias_rows, self.family.shape.heads), RELATIVE_BIAS_WEIGHT)?;
        let bias = RelativePositionBias::new(table, BUCKETS, MAX_DISTANCE);
        Ok(self
            .family
            .transformer(&root, precision)?
            .with_position_bias(bias)
            .boxed())
    }
}
