//! What the decoder architectures share (Llama, Mistral, Qwen3, Gemma3): Llama-style config
//! keys and weight names, pre-norm blocks with RMSNorm, grouped-query attention with an
//! explicit head size and rotary positions, and a gated MLP. Each architecture's module says
//! what differs ([`DecoderOptions`]); embedding models run them over the whole sequence.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

use crate::runner::backbone::{load_layers, nested, Architecture, Backbone, Transformer};
use crate::runner::config::{self, refuse_if_set, rope_theta, ConfigResult, LayerType};
use crate::runner::layers::attention::{Attention, AttentionParts};
use crate::runner::layers::block::Block;
use crate::runner::layers::embeddings::InputEmbeddings;
use crate::runner::layers::mlp::{Activation, Mlp};
use crate::runner::layers::norm::Norm;
use crate::runner::layers::projection::{read_linear, stack_rows, Bias, Projection};
use crate::runner::layers::rotary::{Rotaries, Rotary, RotaryBase};
use crate::runner::mask::MaskKind;
use crate::runner::precision::Precision;
use crate::runner::shape::{ModelShape, Sizes};

/// The config keys the decoders share.
#[derive(Debug, Deserialize)]
pub struct DecoderConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub intermediate_size: usize,
    #[serde(default, alias = "hidden_activation")]
    pub hidden_act: Option<Activation>,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub rope_scaling: Option<Value>,
    #[serde(default)]
    pub rope_parameters: Option<Value>,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
}

fn default_eps() -> f64 {
    1e-6
}

impl DecoderConfig {
    pub fn read(config: &Value) -> ConfigResult<Self> {
        let parsed: Self = config::read(config, "decoder")?;
        refuse_if_set("rope_scaling", parsed.rope_scaling.as_ref())?;
        Ok(parsed)
    }

    /// The activation the config names, else the architecture's `default`.
    pub fn activation(&self, default: Activation) -> Activation {
        self.hidden_act.unwrap_or(default)
    }

    /// The rotary base for layers of `layer_type`, from transformers 5's `rope_parameters` when
    /// present, else `fallback`.
    pub fn rope_theta_for(&self, layer_type: LayerType, fallback: f64) -> ConfigResult<f64> {
        rope_theta(self.rope_parameters.as_ref(), layer_type, fallback)
    }

    /// The shape, with each layer's mask.
    pub fn shape(&self, architecture: &'static str, layer_masks: Vec<MaskKind>) -> ConfigResult<ModelShape> {
        let heads = self.num_attention_heads;
        let sizes = Sizes {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            layers: self.num_hidden_layers,
            heads,
            kv_heads: self.num_key_value_heads,
            // transformers' default, which need not divide evenly.
            head_dim: Some(self.head_dim.unwrap_or(self.hidden_size / heads.max(1))),
            intermediate_size: self.intermediate_size,
            max_positions: self.max_position_embeddings,
        };
        Ok(ModelShape::new(architecture, self.model_type.clone(), sizes)?
            .with_gated_mlp()
            .with_layer_masks(layer_masks))
    }
}

impl DecoderOptions {
    /// Llama's: SiLU unless the config says otherwise, the config's biases, no query/key norms,
    /// plain RMSNorms, scores scaled by 1/sqrt(head_dim), one rotary base for every layer.
    pub fn llama(config: &DecoderConfig, shape: &ModelShape, theta: f64) -> Self {
        Self {
            activation: config.activation(Activation::Silu),
            eps: config.rms_norm_eps,
            attention_bias: Bias::when(config.attention_bias),
            mlp_bias: Bias::when(config.mlp_bias),
            query_key_norms: false,
            norm_weight: NormWeight::Plain,
            branch_output_norms: false,
            embedding_scale: None,
            scale: 1.0 / (shape.head_dim as f64).sqrt(),
            rotary_global_theta: theta,
            rotary_local_theta: None,
            layer_rotary: vec![RotaryBase::Global; shape.layers],
        }
    }
}

/// How an RMSNorm's stored weight is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormWeight {
    /// `x / rms(x) * w`.
    Plain,
    /// Gemma's: the checkpoint stores `w - 1`, so `x / rms(x) * (1 + w)`.
    OnePlus,
}

/// Where one decoder differs from Llama.
#[derive(Debug, Clone)]
pub struct DecoderOptions {
    pub activation: Activation,
    pub eps: f64,
    pub attention_bias: Bias,
    pub mlp_bias: Bias,
    /// Per-head RMSNorm of queries and keys (Qwen3, Gemma3).
    pub query_key_norms: bool,
    pub norm_weight: NormWeight,
    /// Each branch's output normed again before the residual add (Gemma).
    pub branch_output_norms: bool,
    /// What the embeddings are multiplied by (Gemma: sqrt(hidden)).
    pub embedding_scale: Option<f64>,
    /// What the scores are multiplied by.
    pub scale: f64,
    pub rotary_global_theta: f64,
    /// The local layers' own rotary base, where they have one (Gemma3).
    pub rotary_local_theta: Option<f64>,
    /// Each layer's rotary base.
    pub layer_rotary: Vec<RotaryBase>,
}

#[derive(Debug, Clone)]
pub struct Decoder {
    pub shape: ModelShape,
    pub options: DecoderOptions,
}

impl Decoder {
    fn norm(&self, vb: VarBuilder, size: usize) -> Result<Norm> {
        match self.options.norm_weight {
            NormWeight::Plain => Norm::rms(vb, size, self.options.eps),
            NormWeight::OnePlus => Norm::rms_one_plus(vb, size, self.options.eps),
        }
    }

    fn load_layer(&self, vb: VarBuilder, index: usize, precision: Precision) -> Result<Block> {
        let shape = &self.shape;
        let options = &self.options;
        let (h, d) = (shape.hidden_size, shape.head_dim);
        let (q_width, kv_width) = (shape.heads * d, shape.kv_heads * d);
        let attn = vb.pp("self_attn");
        let (qkv_weight, qkv_bias) = AttentionParts::stack(
            read_linear(&attn.pp("q_proj"), h, q_width, options.attention_bias)?,
            read_linear(&attn.pp("k_proj"), h, kv_width, options.attention_bias)?,
            read_linear(&attn.pp("v_proj"), h, kv_width, options.attention_bias)?,
        )?;
        let (output_weight, output_bias) = read_linear(&attn.pp("o_proj"), q_width, h, options.attention_bias)?;
        let (query_norm, key_norm) = if options.query_key_norms {
            (
                Some(self.norm(attn.pp("q_norm"), d)?),
                Some(self.norm(attn.pp("k_norm"), d)?),
            )
        } else {
            (None, None)
        };
        let attention = Attention::new(
            AttentionParts {
                qkv_weight,
                qkv_bias,
                heads: shape.heads,
                kv_heads: shape.kv_heads,
                head_dim: d,
                scale: options.scale,
                query_norm,
                key_norm,
                rotary: Some(options.layer_rotary[index]),
                mask: shape.layer_masks[index],
                output_weight,
                output_bias,
            },
            precision,
        )?;
        let i = shape.intermediate_size;
        let mlp = vb.pp("mlp");
        let gate = read_linear(&mlp.pp("gate_proj"), h, i, options.mlp_bias)?;
        let up = read_linear(&mlp.pp("up_proj"), h, i, options.mlp_bias)?;
        let (gate_up, gate_up_bias) = stack_rows(&[gate.0, up.0], &[gate.1, up.1])?;
        let mlp = Mlp::Gated {
            gate_up: Projection::new(gate_up, gate_up_bias, precision)?,
            intermediate: i,
            activation: options.activation,
            down: Projection::load(mlp.pp("down_proj"), i, h, options.mlp_bias, precision)?,
        };
        Ok(if options.branch_output_norms {
            Block::PreNorm {
                attention_norm: Some(self.norm(vb.pp("input_layernorm"), h)?),
                attention,
                attention_output_norm: Some(self.norm(vb.pp("post_attention_layernorm"), h)?),
                mlp_norm: self.norm(vb.pp("pre_feedforward_layernorm"), h)?,
                mlp,
                mlp_output_norm: Some(self.norm(vb.pp("post_feedforward_layernorm"), h)?),
            }
        } else {
            Block::PreNorm {
                attention_norm: Some(self.norm(vb.pp("input_layernorm"), h)?),
                attention,
                attention_output_norm: None,
                mlp_norm: self.norm(vb.pp("post_attention_layernorm"), h)?,
                mlp,
                mlp_output_norm: None,
            }
        })
    }
}

impl Architecture for Decoder {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        // Saved from a *ForCausalLM, the backbone sits under `model.`; the LM head is unused.
        let vb = nested(vb, "embed_tokens.weight", &["model"]);
        let (h, d) = (self.shape.hidden_size, self.shape.head_dim);
        let mut embeddings = InputEmbeddings::new(&vb, "embed_tokens.weight", self.shape.vocab_size, h)?;
        if let Some(scale) = self.options.embedding_scale {
            embeddings = embeddings.with_scale(scale);
        }
        let layers = load_layers(&vb, "layers", self.shape.layers, |layer, i| {
            self.load_layer(layer, i, precision)
        })?;
        let rotaries = Rotaries {
            global: Rotary::new(d, self.options.rotary_global_theta),
            local: self.options.rotary_local_theta.map(|theta| Rotary::new(d, theta)),
        };
        Ok(Transformer::new(&self.shape, embeddings, layers, precision)
            .with_final_norm(self.norm(vb.pp("norm"), h)?)
            .with_rotaries(rotaries)
            .boxed())
    }
}
