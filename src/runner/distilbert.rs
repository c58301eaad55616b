//! DistilBERT: BERT's block under other names, no token types, positions from zero.

use serde::Deserialize;

use super::architecture::Registration;
use super::bert::{BertFamily, LayerNames};
use super::mask::MaskKind;
use super::mlp::Activation;
use super::shape::{ModelShape, Positions};

pub const REGISTRATION: Registration = Registration {
    model_types: &["distilbert"],
    parse: |text| Ok(Box::new(config(text)?)),
};

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

fn config(text: &str) -> Result<BertFamily, String> {
    let parsed: DistilBertConfig = serde_json::from_str(text).map_err(|e| format!("not a DistilBERT config: {e}"))?;
    // Sinusoidal tables are written into the checkpoint as ordinary weights by transformers, so
    // they load like learned ones; nothing else changes.
    let _ = parsed.sinusoidal_pos_embds;
    if parsed.n_heads == 0 || !parsed.dim.is_multiple_of(parsed.n_heads) {
        return Err("dim is not a multiple of n_heads".to_owned());
    }
    Ok(BertFamily {
        shape: ModelShape {
            architecture: "distilbert",
            model_type: "distilbert".to_owned(),
            vocab_size: parsed.vocab_size,
            hidden_size: parsed.dim,
            layers: parsed.n_layers,
            heads: parsed.n_heads,
            kv_heads: parsed.n_heads,
            head_dim: parsed.dim / parsed.n_heads,
            intermediate_size: parsed.hidden_dim,
            gated_mlp: false,
            max_positions: parsed.max_position_embeddings,
            positions: Positions::FromZero,
            layer_masks: vec![MaskKind::Full; parsed.n_layers],
        },
        activation: Activation::from_hidden_act(&parsed.activation)?,
        position_table: parsed.max_position_embeddings,
        type_vocab_size: 0,
        // transformers builds DistilBERT's layer norms with a fixed eps of 1e-12.
        layer_norm_eps: 1e-12,
        layer_prefix: "transformer.layer",
        layer_names: LAYER_NAMES,
        relative_attention_buckets: None,
    })
}
