//! Qwen3 (Qwen3-Embedding): the decoder with per-head RMSNorm of queries and keys, an explicit
//! `head_dim`, causal attention and no biases.

use serde::Deserialize;
use serde_json::Value;

use super::decoder::{Decoder, DecoderConfig, DecoderOptions};
use super::Registration;
use crate::runner::config::{self, ConfigError, ConfigResult, LayerType};
use crate::runner::layers::projection::Bias;
use crate::runner::mask::MaskKind;

pub const REGISTRATION: Registration = Registration {
    model_types: &["qwen3"],
    parse: |config| Ok(Box::new(read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

#[derive(Deserialize)]
struct Qwen3Config {
    #[serde(default)]
    use_sliding_window: bool,
}

fn read(config: &Value) -> ConfigResult<Decoder> {
    let decoder = DecoderConfig::read(config)?;
    let own: Qwen3Config = config::read(config, "Qwen3")?;
    if own.use_sliding_window {
        return Err(ConfigError::unsupported("use_sliding_window", true));
    }
    let shape = decoder.shape("qwen3", vec![MaskKind::Causal; decoder.num_hidden_layers])?;
    let theta = decoder.rope_theta_for(LayerType::FullAttention, decoder.rope_theta.unwrap_or(1_000_000.0))?;
    Ok(Decoder {
        options: DecoderOptions {
            query_key_norms: true,
            // Qwen3's MLP has no biases whatever the config says.
            mlp_bias: Bias::Without,
            ..DecoderOptions::llama(&decoder, &shape, theta)
        },
        shape,
    })
}
