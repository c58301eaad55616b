//! NomicBERT (nomic-embed-text-v1 / v1.5): a post-norm encoder with the hub's GPT-2-style config
//! keys, rotary positions over the whole head, a fused `Wqkv`, SwiGLU (`fc11` up, `fc12` the
//! SiLU gate) and no linear biases by default; the single token type's row is added.

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
use super::projection::{read_linear, stack_rows, Bias, Projection};
use super::rotary::Rotary;
use super::shape::{ModelShape, Positions};

pub const REGISTRATION: Registration = Registration {
    model_types: &["nomic_bert"],
    parse: |text| Ok(Box::new(NomicBert::parse(text)?)),
};

#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    n_embd: usize,
    n_head: usize,
    n_layer: usize,
    #[serde(default)]
    n_inner: Option<usize>,
    n_positions: usize,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_base")]
    rotary_emb_base: f64,
    #[serde(default = "one")]
    rotary_emb_fraction: f64,
    #[serde(default)]
    rotary_emb_interleaved: bool,
    #[serde(default)]
    rotary_scaling_factor: Option<Value>,
    #[serde(default = "default_activation")]
    activation_function: String,
    #[serde(default)]
    prenorm: bool,
    #[serde(default)]
    causal: bool,
    #[serde(default)]
    parallel_block: bool,
    #[serde(default)]
    use_rms_norm: Option<bool>,
    #[serde(default = "yes")]
    qkv_proj_bias: bool,
    #[serde(default = "yes")]
    mlp_fc1_bias: bool,
    #[serde(default = "yes")]
    mlp_fc2_bias: bool,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_base() -> f64 {
    10_000.0
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_activation() -> String {
    "swiglu".to_owned()
}
fn default_types() -> usize {
    2
}

#[derive(Debug)]
pub struct NomicBert {
    shape: ModelShape,
    eps: f64,
    rotary_base: f64,
    activation: Activation,
    qkv_bias: Bias,
    fc1_bias: Bias,
    fc2_bias: Bias,
    type_vocab_size: usize,
}

impl NomicBert {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Config = serde_json::from_str(text).map_err(|e| format!("not a NomicBERT config: {e}"))?;
        if config.rotary_emb_fraction != 1.0 {
            return Err(refuse("rotary_emb_fraction", config.rotary_emb_fraction));
        }
        if config.rotary_emb_interleaved {
            return Err(refuse("rotary_emb_interleaved", true));
        }
        if let Some(factor) = config.rotary_scaling_factor.filter(|v| !v.is_null()) {
            return Err(refuse("rotary_scaling_factor", factor));
        }
        for (key, on) in [
            ("prenorm", config.prenorm),
            ("causal", config.causal),
            ("parallel_block", config.parallel_block),
            ("use_rms_norm", config.use_rms_norm.unwrap_or(false)),
        ] {
            if on {
                return Err(refuse(key, true));
            }
        }
        let activation = match config.activation_function.as_str() {
            "swiglu" => Activation::Silu,
            "geglu" => Activation::GeluErf,
            other => return Err(refuse("activation_function", other)),
        };
        if config.n_head == 0 || !config.n_embd.is_multiple_of(config.n_head) {
            return Err("n_embd is not a multiple of n_head".to_owned());
        }
        Ok(Self {
            shape: ModelShape {
                architecture: "nomic_bert",
                model_type: "nomic_bert".to_owned(),
                vocab_size: config.vocab_size,
                hidden_size: config.n_embd,
                layers: config.n_layer,
                heads: config.n_head,
                kv_heads: config.n_head,
                head_dim: config.n_embd / config.n_head,
                intermediate_size: config.n_inner.unwrap_or(4 * config.n_embd),
                gated_mlp: true,
                max_positions: config.n_positions,
                positions: Positions::FromZero,
                layer_masks: vec![MaskKind::Full; config.n_layer],
            },
            eps: config.layer_norm_epsilon,
            rotary_base: config.rotary_emb_base,
            activation,
            qkv_bias: Bias::when(config.qkv_proj_bias),
            fc1_bias: Bias::when(config.mlp_fc1_bias),
            fc2_bias: Bias::when(config.mlp_fc2_bias),
            type_vocab_size: config.type_vocab_size,
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
                read_linear(&vb.pp("attn.Wqkv"), h, 3 * h, self.qkv_bias)?,
                read_linear(&vb.pp("attn.out_proj"), h, h, self.qkv_bias)?,
                self.shape.heads,
                d,
                Some(0),
                MaskKind::Full,
            ),
            precision,
        )?;
        let up = read_linear(&vb.pp("mlp.fc11"), h, i, self.fc1_bias)?;
        let gate = read_linear(&vb.pp("mlp.fc12"), h, i, self.fc1_bias)?;
        let (gate_up, gate_up_bias) = stack_rows(&[gate.0, up.0], &[gate.1, up.1])?;
        let mlp = Mlp::Gated {
            gate_up: Projection::new(gate_up, gate_up_bias, precision)?,
            intermediate: i,
            activation: self.activation,
            down: Projection::load(vb.pp("mlp.fc2"), i, h, self.fc2_bias, precision)?,
        };
        Ok(Block::PostNorm {
            attention,
            attention_norm: Norm::layer(vb.pp("norm1"), h, self.eps)?,
            mlp,
            mlp_norm: Norm::layer(vb.pp("norm2"), h, self.eps)?,
        })
    }
}

impl Architecture for NomicBert {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let vb = nested(vb, "embeddings.word_embeddings.weight", &["bert"]);
        let (h, vocab) = (self.shape.hidden_size, self.shape.vocab_size);
        let table = vb.pp("embeddings");
        let embeddings = Embeddings::bert_style(&table, vocab, h, self.type_vocab_size)?;
        let embeddings = embeddings.with_norm(Norm::layer(vb.pp("emb_ln"), h, self.eps)?);
        let layers = (0..self.shape.layers)
            .map(|i| self.load_layer(vb.pp("encoder.layers").pp(i), precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Transformer {
            shape: self.shape.clone(),
            embeddings,
            layers,
            final_norm: None,
            rotaries: vec![Rotary::new(self.shape.head_dim, self.rotary_base)],
            score_bias: None,
            precision,
        }))
    }
}
