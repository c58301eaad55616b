//! Llama and Mistral (e5-mistral-7b-instruct): the plain decoder, causal, with Mistral's
//! `sliding_window` where the config sets one.

use super::architecture::{refuse, Registration};
use super::decoder::{Decoder, DecoderConfig, DecoderOptions};
use super::mask::MaskKind;

pub const REGISTRATION: Registration = Registration {
    model_types: &["llama", "mistral"],
    parse: |text| Ok(Box::new(parse(text)?)),
};

fn parse(text: &str) -> Result<Decoder, String> {
    let config = DecoderConfig::parse(text)?;
    #[derive(serde::Deserialize)]
    struct Extra {
        #[serde(default)]
        pretraining_tp: Option<usize>,
    }
    let extra: Extra = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if extra.pretraining_tp.is_some_and(|tp| tp != 1) {
        return Err(refuse("pretraining_tp", extra.pretraining_tp));
    }
    let mask = match config.sliding_window {
        Some(window) if config.model_type == "mistral" => MaskKind::CausalWindow(window),
        _ => MaskKind::Causal,
    };
    let shape = config.shape("llama", vec![mask; config.num_hidden_layers])?;
    let theta = config.rope_theta_for("full_attention", config.rope_theta.unwrap_or(10_000.0))?;
    Ok(Decoder {
        options: DecoderOptions::llama(&config, &shape, theta)?,
        shape,
    })
}
