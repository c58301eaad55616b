//! BERT, and the family built on its post-norm block with learned positions (RoBERTa,
//! DistilBERT, MPNet): they differ in weight names, position ids, token types and an attention
//! bias, which [`BertFamily`] records. BERT's config keys are shared by RoBERTa and MPNet, so
//! their parsing lives here too.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::architecture::{nested, Architecture, Registration};
use super::attention::{Attention, AttentionParts};
use super::backbone::{Backbone, ScoreBias, Transformer};
use super::block::Block;
use super::embeddings::Embeddings;
use super::mask::MaskKind;
use super::mlp::{Activation, Mlp};
use super::norm::Norm;
use super::precision::Precision;
use super::projection::{Bias, Projection};
use super::shape::{ModelShape, Positions};

pub const REGISTRATION: Registration = Registration {
    model_types: &["bert"],
    parse: |text| Ok(Box::new(BertLikeConfig::parse(text)?.family("bert", LAYER_NAMES)?)),
};

/// The weight names of one layer, relative to the layer's prefix.
#[derive(Debug, Clone, Copy)]
pub struct LayerNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
    pub intermediate: &'static str,
    pub output: &'static str,
    pub output_norm: &'static str,
}

pub const LAYER_NAMES: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

/// Checkpoints saved from a task model (BertForMaskedLM, ...) nest the encoder under a prefix.
const NESTED_PREFIXES: [&str; 6] = ["bert", "roberta", "distilbert", "mpnet", "model", "encoder"];

/// A member of the BERT family, ready to load.
#[derive(Debug, Clone)]
pub struct BertFamily {
    pub shape: ModelShape,
    pub activation: Activation,
    /// Rows of the learned position table.
    pub position_table: usize,
    /// Rows of the token-type table; 0 when the architecture has none.
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Where layer `i` lives: `{layer_prefix}.{i}`.
    pub layer_prefix: &'static str,
    pub layer_names: LayerNames,
    /// MPNet's bucketed relative-position attention bias (number of buckets).
    pub relative_attention_buckets: Option<usize>,
}

/// The `config.json` keys of BERT and the architectures derived from it.
#[derive(Debug, Deserialize)]
pub struct BertLikeConfig {
    #[serde(default)]
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_hidden_act() -> String {
    "gelu".to_owned()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertLikeConfig {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Self = serde_json::from_str(text).map_err(|e| format!("not a BERT-style config: {e}"))?;
        if let Some(kind) = config.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return Err(format!("unsupported position_embedding_type {kind:?}"));
            }
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".to_owned());
        }
        Ok(config)
    }

    /// The family settings, with BERT's own position and token-type scheme.
    pub fn family(
        &self,
        architecture: &'static str,
        layer_names: LayerNames,
    ) -> std::result::Result<BertFamily, String> {
        Ok(BertFamily {
            shape: ModelShape {
                architecture,
                model_type: if self.model_type.is_empty() {
                    architecture.to_owned()
                } else {
                    self.model_type.clone()
                },
                vocab_size: self.vocab_size,
                hidden_size: self.hidden_size,
                layers: self.num_hidden_layers,
                heads: self.num_attention_heads,
                kv_heads: self.num_attention_heads,
                head_dim: self.hidden_size / self.num_attention_heads,
                intermediate_size: self.intermediate_size,
                gated_mlp: false,
                max_positions: self.max_position_embeddings,
                positions: Positions::FromZero,
                layer_masks: vec![MaskKind::Full; self.num_hidden_layers],
            },
            activation: Activation::from_hidden_act(&self.hidden_act)?,
            position_table: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            layer_prefix: "encoder.layer",
            layer_names,
            relative_attention_buckets: None,
        })
    }
}

impl BertFamily {
    /// RoBERTa's position ids: padding sits at `pad` and real tokens count from `pad + 1`, so
    /// the table holds `pad + 1` fewer tokens.
    pub fn with_positions_after_padding(mut self, pad: u32) -> Self {
        self.shape.positions = Positions::AfterPadding { pad };
        self.shape.max_positions = self.position_table.saturating_sub(pad as usize + 1);
        self
    }

    fn load_layer(&self, vb: VarBuilder, precision: Precision) -> Result<Block> {
        let names = self.layer_names;
        let (h, eps) = (self.shape.hidden_size, self.layer_norm_eps);
        let linear =
            |name: &str, input: usize, output: usize| -> Result<(candle_core::Tensor, Option<candle_core::Tensor>)> {
                let vb = vb.pp(name);
                Ok((vb.get((output, input), "weight")?, Some(vb.get(output, "bias")?)))
            };
        let qkv = AttentionParts::stack(
            linear(names.query, h, h)?,
            linear(names.key, h, h)?,
            linear(names.value, h, h)?,
        )?;
        let attention = Attention::new(
            AttentionParts::encoder(
                qkv,
                linear(names.attention_out, h, h)?,
                self.shape.heads,
                self.shape.head_dim,
                None,
                MaskKind::Full,
            ),
            precision,
        )?;
        let i = self.shape.intermediate_size;
        let mlp = Mlp::plain(
            Projection::load(vb.pp(names.intermediate), h, i, Bias::With, precision)?,
            self.activation,
            Projection::load(vb.pp(names.output), i, h, Bias::With, precision)?,
        )?;
        Ok(Block::PostNorm {
            attention,
            attention_norm: Norm::layer(vb.pp(names.attention_norm), h, eps)?,
            mlp,
            mlp_norm: Norm::layer(vb.pp(names.output_norm), h, eps)?,
        })
    }
}

impl Architecture for BertFamily {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let vb = nested(vb, "embeddings.word_embeddings.weight", &NESTED_PREFIXES);
        let (h, vocab) = (self.shape.hidden_size, self.shape.vocab_size);
        let table = vb.pp("embeddings");
        // The forward adds positions, then the token type, whatever the order here.
        let embeddings = Embeddings::bert_style(&table, vocab, h, self.type_vocab_size)?
            .with_positions(&table, "position_embeddings.weight", self.position_table)?
            .with_norm(Norm::layer(table.pp("LayerNorm"), h, self.layer_norm_eps)?);
        let score_bias = match self.relative_attention_buckets {
            Some(buckets) => Some(ScoreBias::RelativeBuckets(
                vb.get((buckets, self.shape.heads), super::mpnet::RELATIVE_BIAS_WEIGHT)?,
            )),
            None => None,
        };
        let layers = (0..self.shape.layers)
            .map(|i| self.load_layer(vb.pp(self.layer_prefix).pp(i), precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Transformer {
            shape: self.shape.clone(),
            embeddings,
            layers,
            final_norm: None,
            rotaries: Vec::new(),
            score_bias,
            precision,
        }))
    }
}
