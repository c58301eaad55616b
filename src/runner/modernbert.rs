//! ModernBERT (gte-modernbert-base, modernbert-embed-base): a pre-norm encoder with rotary
//! positions, global layers every `global_attn_every_n_layers` and local ones (each token sees
//! `local_attention / 2` on either side) with their own rotary base, GeGLU, no biases by
//! default and bias-free LayerNorms; the first layer has no attention norm.

use candle_core::Result;
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
    model_types: &["modernbert"],
    parse: |text| Ok(Box::new(ModernBert::parse(text)?)),
};

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_activation")]
    hidden_activation: String,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    norm_eps: f64,
    #[serde(default)]
    norm_bias: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default = "default_every")]
    global_attn_every_n_layers: usize,
    #[serde(default = "default_local")]
    local_attention: usize,
    #[serde(default = "default_global_theta")]
    global_rope_theta: f64,
    #[serde(default = "default_local_theta")]
    local_rope_theta: f64,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default)]
    rope_parameters: Option<Value>,
    #[serde(default)]
    rope_scaling: Option<Value>,
}

fn default_activation() -> String {
    "gelu".to_owned()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_every() -> usize {
    3
}
fn default_local() -> usize {
    128
}
fn default_global_theta() -> f64 {
    160_000.0
}
fn default_local_theta() -> f64 {
    10_000.0
}

#[derive(Debug)]
pub struct ModernBert {
    shape: ModelShape,
    activation: Activation,
    eps: f64,
    norm_bias: bool,
    attention_bias: bool,
    mlp_bias: bool,
    /// Per layer: local (sliding) or global.
    local: Vec<bool>,
    global_theta: f64,
    local_theta: f64,
}

/// A `rope_parameters` entry's `rope_theta`, refusing any rope type but the default.
fn theta_of(parameters: &Value, layer_type: &str) -> std::result::Result<Option<f64>, String> {
    let Some(entry) = parameters.get(layer_type) else {
        return Ok(None);
    };
    match entry.get("rope_type").and_then(Value::as_str) {
        None | Some("default") => Ok(entry.get("rope_theta").and_then(Value::as_f64)),
        Some(other) => Err(refuse(&format!("rope_parameters.{layer_type}.rope_type"), other)),
    }
}

impl ModernBert {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Config = serde_json::from_str(text).map_err(|e| format!("not a ModernBERT config: {e}"))?;
        if let Some(scaling) = config.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(refuse("rope_scaling", scaling));
        }
        let (mut global_theta, mut local_theta) = (config.global_rope_theta, config.local_rope_theta);
        if let Some(parameters) = &config.rope_parameters {
            global_theta = theta_of(parameters, "full_attention")?.unwrap_or(global_theta);
            local_theta = theta_of(parameters, "sliding_attention")?.unwrap_or(local_theta);
        }
        let layers = config.num_hidden_layers;
        let local: Vec<bool> = match &config.layer_types {
            Some(types) => {
                if types.len() != layers {
                    return Err(format!("layer_types lists {} layers, not {layers}", types.len()));
                }
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        "sliding_attention" => Ok(true),
                        "full_attention" => Ok(false),
                        other => Err(refuse("layer_types", other)),
                    })
                    .collect::<std::result::Result<_, _>>()?
            }
            None => (0..layers)
                .map(|i| !i.is_multiple_of(config.global_attn_every_n_layers.max(1)))
                .collect(),
        };
        let heads = config.num_attention_heads;
        if heads == 0 || !config.hidden_size.is_multiple_of(heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".to_owned());
        }
        let radius = config.local_attention / 2;
        Ok(Self {
            shape: ModelShape {
                architecture: "modernbert",
                model_type: "modernbert".to_owned(),
                vocab_size: config.vocab_size,
                hidden_size: config.hidden_size,
                layers,
                heads,
                kv_heads: heads,
                head_dim: config.hidden_size / heads,
                intermediate_size: config.intermediate_size,
                gated_mlp: true,
                max_positions: config.max_position_embeddings,
                positions: Positions::FromZero,
                layer_masks: local
                    .iter()
                    .map(|&l| if l { MaskKind::Local(radius) } else { MaskKind::Full })
                    .collect(),
            },
            activation: Activation::from_hidden_act(&config.hidden_activation)?,
            eps: config.norm_eps,
            norm_bias: config.norm_bias,
            attention_bias: config.attention_bias,
            mlp_bias: config.mlp_bias,
            local,
            global_theta,
            local_theta,
        })
    }

    fn norm(&self, vb: VarBuilder) -> Result<Norm> {
        let h = self.shape.hidden_size;
        if self.norm_bias {
            Norm::layer(vb, h, self.eps)
        } else {
            Norm::layer_without_bias(vb, h, self.eps)
        }
    }

    fn load_layer(&self, vb: VarBuilder, index: usize, precision: Precision) -> Result<Block> {
        let (h, i, d) = (
            self.shape.hidden_size,
            self.shape.intermediate_size,
            self.shape.head_dim,
        );
        let attention_bias = Bias::when(self.attention_bias);
        let attention = Attention::new(
            AttentionParts::encoder(
                read_linear(&vb.pp("attn.Wqkv"), h, 3 * h, attention_bias)?,
                read_linear(&vb.pp("attn.Wo"), h, h, attention_bias)?,
                self.shape.heads,
                d,
                Some(usize::from(self.local[index])),
                self.shape.layer_masks[index],
            ),
            precision,
        )?;
        let mlp_bias = Bias::when(self.mlp_bias);
        let mlp = Mlp::Gated {
            gate_up: Projection::load(vb.pp("mlp.Wi"), h, 2 * i, mlp_bias, precision)?,
            intermediate: i,
            activation: self.activation,
            down: Projection::load(vb.pp("mlp.Wo"), i, h, mlp_bias, precision)?,
        };
        let attention_norm = if vb.contains_tensor("attn_norm.weight") {
            Some(self.norm(vb.pp("attn_norm"))?)
        } else if index == 0 {
            None
        } else {
            candle_core::bail!("layer {index} has no attn_norm")
        };
        Ok(Block::PreNorm {
            attention_norm,
            attention,
            attention_output_norm: None,
            mlp_norm: self.norm(vb.pp("mlp_norm"))?,
            mlp,
            mlp_output_norm: None,
        })
    }
}

impl Architecture for ModernBert {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let vb = nested(vb, "embeddings.tok_embeddings.weight", &["model"]);
        let table = vb.pp("embeddings");
        let embeddings = Embeddings::new(
            &table,
            "tok_embeddings.weight",
            self.shape.vocab_size,
            self.shape.hidden_size,
        )?
        .with_norm(self.norm(table.pp("norm"))?);
        let layers = (0..self.shape.layers)
            .map(|i| self.load_layer(vb.pp("layers").pp(i), i, precision))
            .collect::<Result<Vec<_>>>()?;
        let d = self.shape.head_dim;
        Ok(Box::new(Transformer {
            shape: self.shape.clone(),
            embeddings,
            layers,
            final_norm: Some(self.norm(vb.pp("final_norm"))?),
            rotaries: vec![Rotary::new(d, self.global_theta), Rotary::new(d, self.local_theta)],
            score_bias: None,
            precision,
        }))
    }
}
