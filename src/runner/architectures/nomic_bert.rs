//! NomicBERT (nomic-embed-text-v1 / v1.5): a post-norm encoder with the hub's GPT-2-style config
//! keys, rotary positions over the whole head, a fused `Wqkv`, SwiGLU (`fc11` up, `fc12` the
//! SiLU gate) and no linear biases by default; the single token type's row is added.

use serde::Deserialize;
use serde_json::Value;

use super::encoder::{EncoderInput, EncoderLayout, GateUpWeights, RotaryEncoder, RotaryLayerNames};
use super::Registration;
use crate::runner::config::{self, refuse_if_set, yes, ConfigError, ConfigResult};
use crate::runner::layers::mlp::Activation;
use crate::runner::layers::projection::Bias;
use crate::runner::layers::rotary::Rotary;
use crate::runner::shape::{ModelShape, Sizes};

pub const REGISTRATION: Registration = Registration {
    model_types: &["nomic_bert"],
    parse: |config| Ok(Box::new(read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    n_embd: usize,
    n_head: usize,
    n_layer: usize,
    #[serde(default)]
    n_inner: Option<usize>,
    n_positions: usize,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_base")]
    rotary_emb_base: f64,
    #[serde(default = "one")]
    rotary_emb_fraction: f64,
    #[serde(default)]
    rotary_emb_interleaved: bool,
    #[serde(default)]
    rotary_scaling_factor: Option<Value>,
    #[serde(default = "default_activation")]
    activation_function: String,
    #[serde(default)]
    prenorm: bool,
    #[serde(default)]
    causal: bool,
    #[serde(default)]
    parallel_block: bool,
    #[serde(default)]
    use_rms_norm: Option<bool>,
    #[serde(default = "yes")]
    qkv_proj_bias: bool,
    #[serde(default = "yes")]
    mlp_fc1_bias: bool,
    #[serde(default = "yes")]
    mlp_fc2_bias: bool,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_base() -> f64 {
    10_000.0
}
fn one() -> f64 {
    1.0
}
fn default_activation() -> String {
    "swiglu".to_owned()
}
fn default_types() -> usize {
    2
}

fn read(config: &Value) -> ConfigResult<RotaryEncoder> {
    let config: Config = config::read(config, "NomicBERT")?;
    if config.rotary_emb_fraction != 1.0 {
        return Err(ConfigError::unsupported(
            "rotary_emb_fraction",
            config.rotary_emb_fraction,
        ));
    }
    if config.rotary_emb_interleaved {
        return Err(ConfigError::unsupported("rotary_emb_interleaved", true));
    }
    refuse_if_set("rotary_scaling_factor", config.rotary_scaling_factor.as_ref())?;
    for (key, on) in [
        ("prenorm", config.prenorm),
        ("causal", config.causal),
        ("parallel_block", config.parallel_block),
        ("use_rms_norm", config.use_rms_norm.unwrap_or(false)),
    ] {
        if on {
            return Err(ConfigError::unsupported(key, true));
        }
    }
    let activation = match config.activation_function.as_str() {
        "swiglu" => Activation::Silu,
        "geglu" => Activation::GeluErf,
        other => return Err(ConfigError::unsupported("activation_function", other)),
    };
    let sizes = Sizes {
        vocab_size: config.vocab_size,
        hidden_size: config.n_embd,
        layers: config.n_layer,
        heads: config.n_head,
        kv_heads: None,
        head_dim: None,
        intermediate_size: config.n_inner.unwrap_or(4 * config.n_embd),
        max_positions: config.n_positions,
    };
    let shape = ModelShape::new("nomic_bert", "nomic_bert", sizes)?.with_gated_mlp();
    Ok(RotaryEncoder {
        rotary: Rotary::new(shape.head_dim, config.rotary_emb_base),
        shape,
        layout: EncoderLayout {
            prefixes: &["bert"],
            input_norm: "emb_ln",
            layers: "encoder.layers",
        },
        names: RotaryLayerNames {
            qkv: "attn.Wqkv",
            attention_out: "attn.out_proj",
            attention_norm: "norm1",
            gate_up: GateUpWeights::Separate {
                up: "mlp.fc11",
                gate: "mlp.fc12",
            },
            down: "mlp.fc2",
            mlp_norm: "norm2",
        },
        input: EncoderInput {
            token_types: config.type_vocab_size,
            learned_positions: None,
            norm_eps: config.layer_norm_epsilon,
        },
        activation,
        attention_bias: Bias::when(config.qkv_proj_bias),
        gate_up_bias: Bias::when(config.mlp_fc1_bias),
        down_bias: Bias::when(config.mlp_fc2_bias),
    })
}
