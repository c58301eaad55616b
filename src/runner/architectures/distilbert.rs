//! DistilBERT: BERT's block under other names, no token types, positions from zero.

use serde::Deserialize;
use serde_json::Value;

use super::bert::{BertFamily, LayerNames};
use super::Registration;
use crate::runner::config::{self, ConfigResult};
use crate::runner::head::score::{ScoreHeadSpec, ScoreStep};
use crate::runner::head::sparse::MaskedLmSpec;
use crate::runner::head::DenseActivation;
use crate::runner::layers::mlp::Activation;
use crate::runner::shape::{ModelShape, Sizes};

pub const REGISTRATION: Registration = Registration {
    model_types: &["distilbert"],
    parse: |config| Ok(Box::new(read(config)?)),
    // DistilBertForSequenceClassification: `[CLS]` through `pre_classifier` + ReLU.
    classification_head: Some(|_, shape, labels| {
        Ok(ScoreHeadSpec::first_token_dense(
            "pre_classifier",
            DenseActivation::Relu,
            "classifier",
            shape.hidden_size,
            labels,
        ))
    }),
    // DistilBertForMaskedLM: `vocab_transform`, the activation, `vocab_layer_norm` (eps fixed
    // at 1e-12 by transformers), `vocab_projector` tied to the word table.
    masked_lm_head: Some(|config, shape| {
        let parsed: DistilBertConfig = config::read(config, "DistilBERT")?;
        Ok(MaskedLmSpec::dense_norm_decoder(
            shape,
            ("vocab_transform", true),
            ScoreStep::HiddenActivation(parsed.activation),
            ("vocab_layer_norm", 1e-12, true),
            &["vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight"],
            &["vocab_projector.bias"],
        ))
    }),
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
    activation: Activation,
    max_position_embeddings: usize,
    #[serde(default)]
    sinusoidal_pos_embds: bool,
}

fn default_activation() -> Activation {
    Activation::GeluErf
}

fn read(config: &Value) -> ConfigResult<BertFamily> {
    let parsed: DistilBertConfig = config::read(config, "DistilBERT")?;
    // Sinusoidal tables are written into the checkpoint as ordinary weights by transformers, so
    // they load like learned ones; nothing else changes.
    let _ = parsed.sinusoidal_pos_embds;
    let sizes = Sizes {
        vocab_size: parsed.vocab_size,
        hidden_size: parsed.dim,
        layers: parsed.n_layers,
        heads: parsed.n_heads,
        kv_heads: None,
        head_dim: None,
        intermediate_size: parsed.hidden_dim,
        max_positions: parsed.max_position_embeddings,
    };
    Ok(BertFamily {
        shape: ModelShape::new("distilbert", "distilbert", sizes)?,
        activation: parsed.activation,
        position_table: parsed.max_position_embeddings,
        type_vocab_size: 0,
        // transformers builds DistilBERT's layer norms with a fixed eps of 1e-12.
        layer_norm_eps: 1e-12,
        layer_prefix: "transformer.layer",
        layer_names: LAYER_NAMES,
    })
}
