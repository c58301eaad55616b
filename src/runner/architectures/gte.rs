//! GTE's `new` architecture (gte-multilingual-base, snowflake-arctic-embed-m-v2.0): a post-norm
//! encoder with rotary positions (NTK-scaled where `rope_scaling` says so), a fused `qkv_proj`
//! with bias, GeGLU from `up_gate_proj` (rows: up, then gate), and the single token type's row
//! added to the embeddings. Checkpoints nest it under `new.` beside heads the embedding ignores.

use serde::Deserialize;
use serde_json::Value;

use super::encoder::{EncoderInput, EncoderLayout, GateUpWeights, RotaryEncoder, RotaryLayerNames};
use super::Registration;
use crate::runner::config::{self, ConfigError, ConfigResult};
use crate::runner::layers::mlp::Activation;
use crate::runner::layers::projection::Bias;
use crate::runner::layers::rotary::Rotary;
use crate::runner::shape::{ModelShape, Sizes};

pub const REGISTRATION: Registration = Registration {
    model_types: &["new"],
    parse: |config| Ok(Box::new(read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_activation")]
    hidden_act: Activation,
    max_position_embeddings: usize,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_norm_type")]
    layer_norm_type: String,
    #[serde(default = "default_position_type")]
    position_embedding_type: String,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    #[serde(default)]
    rope_scaling: Option<Value>,
    #[serde(default)]
    logn_attention_scale: bool,
    #[serde(default = "config::yes")]
    pack_qkv: bool,
}

fn default_activation() -> Activation {
    Activation::GeluErf
}
fn default_types() -> usize {
    0
}
fn default_eps() -> f64 {
    1e-12
}
fn default_norm_type() -> String {
    "layer_norm".to_owned()
}
fn default_position_type() -> String {
    "rope".to_owned()
}
fn default_theta() -> f64 {
    10_000.0
}

fn read(config: &Value) -> ConfigResult<RotaryEncoder> {
    let config: Config = config::read(config, "GTE")?;
    if config.layer_norm_type != "layer_norm" {
        return Err(ConfigError::unsupported("layer_norm_type", &config.layer_norm_type));
    }
    if config.position_embedding_type != "rope" {
        return Err(ConfigError::unsupported(
            "position_embedding_type",
            &config.position_embedding_type,
        ));
    }
    if config.logn_attention_scale {
        return Err(ConfigError::unsupported("logn_attention_scale", true));
    }
    if !config.pack_qkv {
        return Err(ConfigError::unsupported("pack_qkv", false));
    }
    let sizes = Sizes {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        layers: config.num_hidden_layers,
        heads: config.num_attention_heads,
        kv_heads: None,
        head_dim: None,
        intermediate_size: config.intermediate_size,
        max_positions: config.max_position_embeddings,
    };
    let shape = ModelShape::new("gte", "new", sizes)?.with_gated_mlp();
    let head_dim = shape.head_dim;
    let rotary = match config.rope_scaling.as_ref().filter(|v| !v.is_null()) {
        None => Rotary::new(head_dim, config.rope_theta),
        Some(scaling) => {
            let kind = scaling
                .get("type")
                .or_else(|| scaling.get("rope_type"))
                .and_then(Value::as_str);
            let factor = scaling.get("factor").and_then(Value::as_f64);
            match (kind, factor) {
                (Some("ntk"), Some(factor)) if factor > 0.0 => Rotary::ntk(head_dim, config.rope_theta, factor),
                _ => return Err(ConfigError::unsupported_json("rope_scaling", scaling)),
            }
        }
    };
    Ok(RotaryEncoder {
        shape,
        layout: EncoderLayout {
            prefixes: &["new"],
            input_norm: "embeddings.LayerNorm",
            layers: "encoder.layer",
        },
        names: RotaryLayerNames {
            qkv: "attention.qkv_proj",
            attention_out: "attention.o_proj",
            attention_norm: "attn_ln",
            gate_up: GateUpWeights::UpThenGate("mlp.up_gate_proj"),
            down: "mlp.down_proj",
            mlp_norm: "mlp_ln",
        },
        input: EncoderInput {
            token_types: config.type_vocab_size,
            learned_positions: None,
            norm_eps: config.layer_norm_eps,
        },
        activation: config.hidden_act,
        rotary,
        attention_bias: Bias::With,
        gate_up_bias: Bias::Without,
        down_bias: Bias::With,
    })
}
