//! DistilBERT: BERT's block under other names, no token types, positions from zero.

use serde::Deserialize;

use super::config::{Activation, Architecture, EncoderConfig, LayerNames, Positions};

const LAYER_NAMES: LayerNames = LayerNames {
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_out: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    intermediate: "ffn.lin1",
    output: "ffn.lin2",
    output_norm: "output_layer_norm",
};

#[derive(Deserialize)]
struct DistilBertConfig {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    #[serde(default = "default_activation")]
    activation: String,
    max_position_embeddings: usize,
    #[serde(default)]
    sinusoidal_pos_embds: bool,
}

fn default_activation() -> String {
    "gelu".to_owned()
}

pub fn config(text: &str) -> Result<EncoderConfig, String> {
    let parsed: DistilBertConfig = serde_json::from_str(text).map_err(|e| format!("not a DistilBERT config: {e}"))?;
    // Sinusoidal tables are written into the checkpoint as ordinary weights by transformers, so
    // they load like learned ones; nothing else changes.
    let _ = parsed.sinusoidal_pos_embds;
    Ok(EncoderConfig {
        architecture: Architecture::DistilBert,
        model_type: String::new(),
        vocab_size: parsed.vocab_size,
        hidden_size: parsed.dim,
        layers: parsed.n_layers,
        heads: parsed.n_heads,
        intermediate_size: parsed.hidden_dim,
        activation: Activation::from_hidden_act(&parsed.activation)?,
        position_table: parsed.max_position_embeddings,
        positions: Positions::FromZero,
        type_vocab_size: 0,
        // transformers builds DistilBERT's layer norms with a fixed eps of 1e-12.
        layer_norm_eps: 1e-12,
        layer_prefix: "transformer.layer",
        layer_names: LAYER_NAMES,
        relative_attention_buckets: None,
    })
}
