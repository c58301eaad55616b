//! BERT: the block every other architecture here is a variation of. Its config keys are shared
//! by RoBERTa and MPNet, so the parsing lives here.

use serde::Deserialize;

use super::config::{Activation, Architecture, EncoderConfig, LayerNames, Positions};

pub const LAYER_NAMES: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

/// The `config.json` keys of BERT and the architectures derived from it.
#[derive(Debug, Deserialize)]
pub struct BertLikeConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_hidden_act() -> String {
    "gelu".to_owned()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertLikeConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = serde_json::from_str(text).map_err(|e| format!("not a BERT-style config: {e}"))?;
        if let Some(kind) = config.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return Err(format!("unsupported position_embedding_type {kind:?}"));
            }
        }
        Ok(config)
    }

    /// The shared encoder settings, with BERT's own position and token-type scheme.
    pub fn encoder(&self, architecture: Architecture, layer_names: LayerNames) -> Result<EncoderConfig, String> {
        Ok(EncoderConfig {
            architecture,
            model_type: String::new(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            activation: Activation::from_hidden_act(&self.hidden_act)?,
            position_table: self.max_position_embeddings,
            positions: Positions::FromZero,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            layer_prefix: "encoder.layer",
            layer_names,
            relative_attention_buckets: None,
        })
    }
}

pub fn config(text: &str) -> Result<EncoderConfig, String> {
    BertLikeConfig::parse(text)?.encoder(Architecture::Bert, LAYER_NAMES)
}
