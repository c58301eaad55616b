//! Gemma3's text model (EmbeddingGemma): the decoder with Gemma's `1 + w` RMSNorms (also on
//! each branch's output and on queries and keys), embeddings scaled by sqrt(hidden), scores
//! scaled by `query_pre_attn_scalar^-0.5`, GeGLU with tanh GELU, and sliding layers with their
//! own rotary base. With `use_bidirectional_attention` (EmbeddingGemma) full layers see every
//! token and sliding layers `sliding_window / 2` on either side; otherwise both are causal.

use serde::Deserialize;
use serde_json::Value;

use super::decoder::{Decoder, DecoderConfig, DecoderOptions, NormWeight};
use super::Registration;
use crate::runner::config::{self, refuse_if_set, ConfigResult, LayerType};
use crate::runner::layers::mlp::Activation;
use crate::runner::layers::projection::Bias;
use crate::runner::layers::rotary::RotaryBase;
use crate::runner::mask::MaskKind;

pub const REGISTRATION: Registration = Registration {
    model_types: &["gemma3_text"],
    parse: |config| Ok(Box::new(read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

#[derive(Deserialize)]
struct Gemma3Config {
    #[serde(default)]
    use_bidirectional_attention: bool,
    #[serde(default = "default_scalar")]
    query_pre_attn_scalar: f64,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default, alias = "_sliding_window_pattern")]
    sliding_window_pattern: Option<usize>,
    #[serde(default)]
    rope_local_base_freq: Option<f64>,
    #[serde(default)]
    attn_logit_softcapping: Option<Value>,
}

fn default_scalar() -> f64 {
    256.0
}

fn read(config: &Value) -> ConfigResult<Decoder> {
    let decoder = DecoderConfig::read(config)?;
    let own: Gemma3Config = config::read(config, "Gemma3")?;
    refuse_if_set("attn_logit_softcapping", own.attn_logit_softcapping.as_ref())?;
    let layers = decoder.num_hidden_layers;
    let layer_types = match &own.layer_types {
        Some(types) => LayerType::read_list(types, layers)?,
        None => {
            let pattern = own.sliding_window_pattern.unwrap_or(6).max(1);
            (0..layers)
                .map(|i| {
                    if (i + 1).is_multiple_of(pattern) {
                        LayerType::FullAttention
                    } else {
                        LayerType::SlidingAttention
                    }
                })
                .collect()
        }
    };
    let window = decoder.sliding_window.unwrap_or(4096);
    let (full, local) = if own.use_bidirectional_attention {
        // transformers keeps `sliding_window // 2 + 1` as an exclusive bound on |i - j|.
        (MaskKind::Full, MaskKind::Local(window / 2))
    } else {
        (MaskKind::Causal, MaskKind::CausalWindow(window))
    };
    let masks = layer_types.iter().map(|t| t.pick(full, local)).collect();
    let shape = decoder.shape("gemma3", masks)?;
    let global = decoder.rope_theta_for(LayerType::FullAttention, decoder.rope_theta.unwrap_or(1_000_000.0))?;
    let local_theta = decoder.rope_theta_for(
        LayerType::SlidingAttention,
        own.rope_local_base_freq.unwrap_or(10_000.0),
    )?;
    Ok(Decoder {
        options: DecoderOptions {
            activation: decoder.activation(Activation::GeluTanh),
            eps: decoder.rms_norm_eps,
            attention_bias: Bias::when(decoder.attention_bias),
            mlp_bias: Bias::Without,
            query_key_norms: true,
            norm_weight: NormWeight::OnePlus,
            branch_output_norms: true,
            embedding_scale: Some((shape.hidden_size as f64).sqrt()),
            scale: own.query_pre_attn_scalar.powf(-0.5),
            rotary_global_theta: global,
            rotary_local_theta: Some(local_theta),
            layer_rotary: layer_types.iter().map(|&t| RotaryBase::from(t)).collect(),
        },
        shape,
    })
}
