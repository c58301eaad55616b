//! Llama and Mistral (e5-mistral-7b-instruct): the plain decoder, causal, with Mistral's
//! `sliding_window` where the config sets one.

use serde::Deserialize;
use serde_json::Value;

use super::decoder::{Decoder, DecoderConfig, DecoderOptions};
use super::Registration;
use crate::runner::config::{self, ConfigError, ConfigResult, LayerType};
use crate::runner::mask::MaskKind;

pub const REGISTRATION: Registration = Registration {
    model_types: &["llama", "mistral"],
    parse: |config| Ok(Box::new(read(config)?)),
    classification_head: None,
    masked_lm_head: None,
};

#[derive(Deserialize)]
struct LlamaConfig {
    #[serde(default)]
    pretraining_tp: Option<usize>,
}

fn read(config: &Value) -> ConfigResult<Decoder> {
    let decoder = DecoderConfig::read(config)?;
    let own: LlamaConfig = config::read(config, "Llama")?;
    if own.pretraining_tp.is_some_and(|tp| tp != 1) {
        return Err(ConfigError::unsupported("pretraining_tp", own.pretraining_tp));
    }
    let mask = match decoder.sliding_window {
        Some(window) if decoder.model_type == "mistral" => MaskKind::CausalWindow(window),
        _ => MaskKind::Causal,
    };
    let shape = decoder.shape("llama", vec![mask; decoder.num_hidden_layers])?;
    let theta = decoder.rope_theta_for(LayerType::FullAttention, decoder.rope_theta.unwrap_or(10_000.0))?;
    Ok(Decoder {
        options: DecoderOptions::llama(&decoder, &shape, theta),
        shape,
    })
}
