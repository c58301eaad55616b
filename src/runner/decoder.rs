//! What the decoder architectures share (Llama, Mistral, Qwen3, Gemma3): Llama-style config
//! keys and weight names, pre-norm blocks with RMSNorm, grouped-query attention with an
//! explicit head size and rotary positions, and a gated MLP. Each architecture's module says
//! what differs ([`DecoderOptions`]); embedding models run them over the whole sequence.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

use super::architecture::{nested, refuse};
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
    pub hidden_act: Option<String>,
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
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Self = serde_json::from_str(text).map_err(|e| format!("not a decoder config: {e}"))?;
        if let Some(scaling) = config.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(refuse("rope_scaling", scaling));
        }
        Ok(config)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    pub fn activation(&self, default: &str) -> std::result::Result<Activation, String> {
        Activation::from_hidden_act(self.hidden_act.as_deref().unwrap_or(default))
    }

    /// The rotary base for layers of `layer_type` (`full_attention`, `sliding_attention`), from
    /// transformers 5's `rope_parameters` when present, else `fallback`.
    pub fn rope_theta_for(&self, layer_type: &str, fallback: f64) -> std::result::Result<f64, String> {
        let Some(parameters) = &self.rope_parameters else {
            return Ok(fallback);
        };
        let entry = parameters.get(layer_type).unwrap_or(parameters);
        match entry.get("rope_type").and_then(Value::as_str) {
            None | Some("default") => Ok(entry.get("rope_theta").and_then(Value::as_f64).unwrap_or(fallback)),
            Some(other) => Err(refuse("rope_parameters.rope_type", other)),
        }
    }

    /// The shape, with each layer's mask.
    pub fn shape(
        &self,
        architecture: &'static str,
        layer_masks: Vec<MaskKind>,
    ) -> std::result::Result<ModelShape, String> {
        // architecture::from_json checks that the heads can share their key/value heads.
        Ok(ModelShape {
            architecture,
            model_type: self.model_type.clone(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.kv_heads(),
            head_dim: self.head_dim(),
            intermediate_size: self.intermediate_size,
            gated_mlp: true,
            max_positions: self.max_position_embeddings,
            positions: Positions::FromZero,
            layer_masks,
        })
    }
}

impl DecoderOptions {
    /// Llama's: SiLU unless the config says otherwise, the config's biases, no query/key norms,
    /// scores scaled by 1/sqrt(head_dim), one rotary base for every layer.
    pub fn llama(config: &DecoderConfig, shape: &ModelShape, theta: f64) -> std::result::Result<Self, String> {
        Ok(Self {
            activation: config.activation("silu")?,
            eps: config.rms_norm_eps,
            attention_bias: Bias::when(config.attention_bias),
            mlp_bias: Bias::when(config.mlp_bias),
            query_key_norms: false,
            gemma: false,
            scale: 1.0 / (shape.head_dim as f64).sqrt(),
            rotary_thetas: vec![theta],
            layer_rotary: vec![0; shape.layers],
        })
    }
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
    /// Gemma: norms hold `w - 1`, each branch's output is normed again, and the embeddings
    /// are scaled by sqrt(hidden).
    pub gemma: bool,
    /// What the scores are multiplied by.
    pub scale: f64,
    /// Rotary bases; each layer names one by index.
    pub rotary_thetas: Vec<f64>,
    pub layer_rotary: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Decoder {
    pub shape: ModelShape,
    pub options: DecoderOptions,
}

impl Decoder {
    fn norm(&self, vb: VarBuilder, size: usize) -> Result<Norm> {
        if self.options.gemma {
            Norm::rms_one_plus(vb, size, self.options.eps)
        } else {
            Norm::rms(vb, size, self.options.eps)
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
        let (gate_up, gate_up_bias) = super::projection::stack_rows(
            &[
                mlp.pp("gate_proj").get((i, h), "weight")?,
                mlp.pp("up_proj").get((i, h), "weight")?,
            ],
            &match options.mlp_bias {
                Bias::With => vec![
                    Some(mlp.pp("gate_proj").get(i, "bias")?),
                    Some(mlp.pp("up_proj").get(i, "bias")?),
                ],
                Bias::Without => vec![None, None],
            },
        )?;
        let mlp = Mlp::Gated {
            gate_up: Projection::new(gate_up, gate_up_bias, precision)?,
            intermediate: i,
            activation: options.activation,
            down: Projection::load(mlp.pp("down_proj"), i, h, options.mlp_bias, precision)?,
        };
        Ok(if options.gemma {
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

    pub fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        // Saved from a *ForCausalLM, the backbone sits under `model.`; the LM head is unused.
        let vb = nested(vb, "embed_tokens.weight", &["model"]);
        let h = self.shape.hidden_size;
        let mut embeddings = Embeddings::new(&vb, "embed_tokens.weight", self.shape.vocab_size, h)?;
        if self.options.gemma {
            embeddings = embeddings.with_scale((h as f64).sqrt());
        }
        let layers = (0..self.shape.layers)
            .map(|i| self.load_layer(vb.pp("layers").pp(i), i, precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Transformer {
            shape: self.shape.clone(),
            embeddings,
            layers,
            final_norm: Some(self.norm(vb.pp("norm"), h)?),
            rotaries: self
                .options
                .rotary_thetas
                .iter()
                .map(|&theta| Rotary::new(self.shape.head_dim, theta))
                .collect(),
            score_bias: None,
            precision,
        }))
    }
}

impl super::architecture::Architecture for Decoder {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        Decoder::load(self, vb, precision)
    }
}
