//! GTE's `new` architecture (gte-multilingual-base, snowflake-arctic-embed-m-v2.0): a post-norm
//! encoder with rotary positions (NTK-scaled where `rope_scaling` says so), a fused `qkv_proj`
//! with bias, GeGLU from `up_gate_proj` (rows: up, then gate), and the single token type's row
//! added to the embeddings. Checkpoints nest it under `new.` beside heads the embedding ignores.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

use super::architecture::{nested, refuse, Architecture, Registration};
use super::attention::{Attention, AttentionParts};
use super::backbone::{Backbone, Transformer};
use super::block::Block;
use super::embeddings::Embeddings;
use super::mask::MaskKind;
use super::mlp::{Activation, Mlp};
use super::norm::Norm;
use super::precision::Precision;
use super::projection::{read_linear, Bias, Projection};
use super::rotary::Rotary;
use super::shape::{ModelShape, Positions};

pub const REGISTRATION: Registration = Registration {
    model_types: &["new"],
    parse: |text| Ok(Box::new(Gte::parse(text)?)),
};

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_activation")]
    hidden_act: String,
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
    #[serde(default = "yes")]
    pack_qkv: bool,
}

fn default_activation() -> String {
    "gelu".to_owned()
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
fn yes() -> bool {
    true
}

#[derive(Debug)]
pub struct Gte {
    shape: ModelShape,
    activation: Activation,
    eps: f64,
    type_vocab_size: usize,
    rotary: Rotary,
}

impl Gte {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Config = serde_json::from_str(text).map_err(|e| format!("not a GTE config: {e}"))?;
        if config.layer_norm_type != "layer_norm" {
            return Err(refuse("layer_norm_type", &config.layer_norm_type));
        }
        if config.position_embedding_type != "rope" {
            return Err(refuse("position_embedding_type", &config.position_embedding_type));
        }
        if config.logn_attention_scale {
            return Err(refuse("logn_attention_scale", true));
        }
        if !config.pack_qkv {
            return Err(refuse("pack_qkv", false));
        }
        let heads = config.num_attention_heads;
        if heads == 0 || !config.hidden_size.is_multiple_of(heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".to_owned());
        }
        let head_dim = config.hidden_size / heads;
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
                    _ => return Err(refuse("rope_scaling", scaling)),
                }
            }
        };
        Ok(Self {
            shape: ModelShape {
                architecture: "gte",
                model_type: "new".to_owned(),
                vocab_size: config.vocab_size,
                hidden_size: config.hidden_size,
                layers: config.num_hidden_layers,
                heads,
                kv_heads: heads,
                head_dim,
                intermediate_size: config.intermediate_size,
                gated_mlp: true,
                max_positions: config.max_position_embeddings,
                positions: Positions::FromZero,
                layer_masks: vec![MaskKind::Full; config.num_hidden_layers],
            },
            activation: Activation::from_hidden_act(&config.hidden_act)?,
            eps: config.layer_norm_eps,
            type_vocab_size: config.type_vocab_size,
            rotary,
        })
    }

    fn load_layer(&self, vb: VarBuilder, precision: Precision) -> Result<Block> {
        let (h, i, d) = (
            self.shape.hidden_size,
            self.shape.intermediate_size,
            self.shape.head_dim,
        );
        let attention = Attention::new(
            AttentionParts::encoder(
                read_linear(&vb.pp("attention.qkv_proj"), h, 3 * h, Bias::With)?,
                read_linear(&vb.pp("attention.o_proj"), h, h, Bias::With)?,
                self.shape.heads,
                d,
                Some(0),
                MaskKind::Full,
            ),
            precision,
        )?;
        // Stored as [up; gate]; the gated MLP takes the gate's rows first.
        let up_gate = vb.pp("mlp.up_gate_proj").get((2 * i, h), "weight")?;
        let gate_up = Tensor::cat(&[up_gate.narrow(0, i, i)?, up_gate.narrow(0, 0, i)?], 0)?;
        let mlp = Mlp::Gated {
            gate_up: Projection::new(gate_up, None, precision)?,
            intermediate: i,
            activation: self.activation,
            down: Projection::load(vb.pp("mlp.down_proj"), i, h, Bias::With, precision)?,
        };
        Ok(Block::PostNorm {
            attention,
            attention_norm: Norm::layer(vb.pp("attn_ln"), h, self.eps)?,
            mlp,
            mlp_norm: Norm::layer(vb.pp("mlp_ln"), h, self.eps)?,
        })
    }
}

impl Architecture for Gte {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let vb = nested(vb, "embeddings.word_embeddings.weight", &["new"]);
        let (h, vocab) = (self.shape.hidden_size, self.shape.vocab_size);
        let table = vb.pp("embeddings");
        let embeddings = Embeddings::bert_style(&table, vocab, h, self.type_vocab_size)?;
        let embeddings = embeddings.with_norm(Norm::layer(table.pp("LayerNorm"), h, self.eps)?);
        let layers = (0..self.shape.layers)
            .map(|i| self.load_layer(vb.pp("encoder.layer").pp(i), precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Transformer {
            shape: self.shape.clone(),
            embeddings,
            layers,
            final_norm: None,
            rotaries: vec![self.rotary.clone()],
            score_bias: None,
            precision,
        }))
    }
}
