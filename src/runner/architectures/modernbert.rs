//! ModernBERT (gte-modernbert-base, modernbert-embed-base): a pre-norm encoder with rotary
//! positions, global layers every `global_attn_every_n_layers` and local ones (each token sees
//! `local_attention / 2` on either side) with their own rotary base, GeGLU, no biases by
//! default and bias-free LayerNorms; the first layer has no attention norm.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

use super::Registration;
use crate::runner::backbone::{load_layers, nested, Architecture, Backbone, Transformer};
use crate::runner::config::{self, refuse_if_set, rope_theta, ConfigError, ConfigResult, LayerType};
use crate::runner::head::pooling::PoolingMode;
use crate::runner::head::score::{ScoreHeadSpec, ScoreStep};
use crate::runner::head::sparse::MaskedLmSpec;
use crate::runner::head::DenseActivation;
use crate::runner::layers::attention::{Attention, AttentionParts};
use crate::runner::layers::block::Block;
use crate::runner::layers::embeddings::InputEmbeddings;
use crate::runner::layers::mlp::{Activation, Mlp};
use crate::runner::layers::norm::Norm;
use crate::runner::layers::projection::{read_linear, Bias, Projection};
use crate::runner::layers::rotary::{Rotaries, Rotary, RotaryBase};
use crate::runner::mask::MaskKind;
use crate::runner::precision::Precision;
use crate::runner::shape::{ModelShape, Sizes};

pub const REGISTRATION: Registration = Registration {
    model_types: &["modernbert"],
    parse: |config| Ok(Box::new(ModernBert::read(config)?)),
    classification_head: Some(classification_head),
    masked_lm_head: Some(masked_lm_head),
};

/// ModernBertForSequenceClassification's keys for its head.
#[derive(Debug, Deserialize)]
struct HeadConfig {
    #[serde(default = "default_classifier_pooling")]
    classifier_pooling: String,
    #[serde(default = "default_classifier_activation")]
    classifier_activation: String,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default = "default_eps")]
    norm_eps: f64,
    #[serde(default)]
    norm_bias: bool,
    #[serde(default = "default_true")]
    decoder_bias: bool,
}

fn default_true() -> bool {
    true
}

fn default_classifier_pooling() -> String {
    "cls".to_owned()
}
fn default_classifier_activation() -> String {
    "gelu".to_owned()
}

/// `[CLS]` or the mean of every token (`classifier_pooling`) after the final norm, then `head`
/// (dense, activation, LayerNorm) and the classifier.
/// ModernBertForMaskedLM: `head` (dense, activation, LayerNorm) then `decoder`, tied to the
/// token table.
fn masked_lm_head(config: &Value, shape: &ModelShape) -> ConfigResult<MaskedLmSpec> {
    let head: HeadConfig = config::read(config, "ModernBERT")?;
    let bias: &[&str] = if head.decoder_bias { &["decoder.bias"] } else { &[] };
    Ok(MaskedLmSpec::dense_norm_decoder(
        shape,
        ("head.dense", head.classifier_bias),
        ScoreStep::Activation(head_activation(&head.classifier_activation)?),
        ("head.norm", head.norm_eps, head.norm_bias),
        &["decoder.weight", "model.embeddings.tok_embeddings.weight"],
        bias,
    ))
}

fn head_activation(name: &str) -> ConfigResult<DenseActivation> {
    Ok(match name {
        "gelu" => DenseActivation::Gelu,
        "relu" => DenseActivation::Relu,
        "tanh" => DenseActivation::Tanh,
        "linear" => DenseActivation::Identity,
        other => return Err(ConfigError::unsupported("classifier_activation", other)),
    })
}

fn classification_head(config: &Value, shape: &ModelShape, labels: usize) -> ConfigResult<ScoreHeadSpec> {
    let head: HeadConfig = config::read(config, "ModernBERT")?;
    let pooling = match head.classifier_pooling.as_str() {
        "cls" => PoolingMode::Cls,
        "mean" => PoolingMode::Mean,
        other => return Err(ConfigError::unsupported("classifier_pooling", other)),
    };
    let activation = head_activation(&head.classifier_activation)?;
    let h = shape.hidden_size;
    Ok(ScoreHeadSpec {
        pooling,
        steps: vec![
            ScoreStep::linear("head.dense", h, h, head.classifier_bias),
            ScoreStep::Activation(activation),
            ScoreStep::LayerNorm {
                name: "head.norm".to_owned(),
                size: h,
                eps: head.norm_eps,
                bias: head.norm_bias,
            },
            ScoreStep::linear("classifier", h, labels, true),
        ],
    })
}

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_activation")]
    hidden_activation: Activation,
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

fn default_activation() -> Activation {
    Activation::GeluErf
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
    /// Per layer: global or local (sliding).
    layer_types: Vec<LayerType>,
    global_theta: f64,
    local_theta: f64,
}

impl ModernBert {
    fn read(config: &Value) -> ConfigResult<Self> {
        let config: Config = config::read(config, "ModernBERT")?;
        refuse_if_set("rope_scaling", config.rope_scaling.as_ref())?;
        let parameters = config.rope_parameters.as_ref();
        let global_theta = rope_theta(parameters, LayerType::FullAttention, config.global_rope_theta)?;
        let local_theta = rope_theta(parameters, LayerType::SlidingAttention, config.local_rope_theta)?;
        let layers = config.num_hidden_layers;
        let layer_types = match &config.layer_types {
            Some(types) => LayerType::read_list(types, layers)?,
            None => (0..layers)
                .map(|i| {
                    if i.is_multiple_of(config.global_attn_every_n_layers.max(1)) {
                        LayerType::FullAttention
                    } else {
                        LayerType::SlidingAttention
                    }
                })
                .collect(),
        };
        let sizes = Sizes {
            vocab_size: config.vocab_size,
            hidden_size: config.hidden_size,
            layers,
            heads: config.num_attention_heads,
            kv_heads: None,
            head_dim: None,
            intermediate_size: config.intermediate_size,
            max_positions: config.max_position_embeddings,
        };
        let radius = config.local_attention / 2;
        let masks = layer_types
            .iter()
            .map(|t| t.pick(MaskKind::Full, MaskKind::Local(radius)))
            .collect();
        Ok(Self {
            shape: ModelShape::new("modernbert", "modernbert", sizes)?
                .with_gated_mlp()
                .with_layer_masks(masks),
            activation: config.hidden_activation,
            eps: config.norm_eps,
            norm_bias: config.norm_bias,
            attention_bias: config.attention_bias,
            mlp_bias: config.mlp_bias,
            layer_types,
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
                Some(RotaryBase::from(self.layer_types[index])),
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
        let (vocab, h) = (self.shape.vocab_size, self.shape.hidden_size);
        let embeddings =
            InputEmbeddings::new(&table, "tok_embeddings.weight", vocab, h)?.with_norm(self.norm(table.pp("norm"))?);
        let layers = load_layers(&vb, "layers", self.shape.layers, |layer, i| {
            self.load_layer(layer, i, precision)
        })?;
        let d = self.shape.head_dim;
        let rotaries = Rotaries {
            global: Rotary::new(d, self.global_theta),
            local: Some(Rotary::new(d, self.local_theta)),
        };
        Ok(Transformer::new(&self.shape, embeddings, layers, precision)
            .with_final_norm(self.norm(vb.pp("final_norm"))?)
            .with_rotaries(rotaries)
            .boxed())
    }
}
