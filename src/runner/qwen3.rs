//! Qwen3 (Qwen3-Embedding): the decoder with per-head RMSNorm of queries and keys, an explicit
//! `head_dim`, causal attention and no biases.

use super::architecture::{refuse, Registration};
use super::decoder::{Decoder, DecoderConfig, DecoderOptions};
use super::mask::MaskKind;
use super::projection::Bias;

pub const REGISTRATION: Registration = Registration {
    model_types: &["qwen3"],
    parse: |text| Ok(Box::new(parse(text)?)),
};

fn parse(text: &str) -> Result<Decoder, String> {
    let config = DecoderConfig::parse(text)?;
    #[derive(serde::Deserialize)]
    struct Extra {
        #[serde(default)]
        use_sliding_window: bool,
    }
    let extra: Extra = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if extra.use_sliding_window {
        return Err(refuse("use_sliding_window", true));
    }
    let shape = config.shape("qwen3", vec![MaskKind::Causal; config.num_hidden_layers])?;
    let theta = config.rope_theta_for("full_attention", config.rope_theta.unwrap_or(1_000_000.0))?;
    Ok(Decoder {
        options: DecoderOptions {
            query_key_norms: true,
            // Qwen3's MLP has no biases whatever the config says.
            mlp_bias: Bias::Without,
            ..DecoderOptions::llama(&config, &shape, theta)?
        },
        shape,
    })
}
