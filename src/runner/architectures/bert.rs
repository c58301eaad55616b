//! BERT, and the family built on its post-norm block with learned positions (RoBERTa,
//! DistilBERT, MPNet): they differ in weight names, position ids and token types, which
//! [`BertFamily`] records. BERT's config keys are shared by RoBERTa and MPNet, so their parsing
//! lives here too.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

use super::encoder::{EncoderInput, EncoderLayout};
use super::Registration;
use crate::runner::backbone::{Architecture, Backbone, Transformer};
use crate::runner::config::{self, ConfigError, ConfigResult};
use crate::runner::head::score::{ScoreHeadSpec, ScoreStep};
use crate::runner::head::sparse::MaskedLmSpec;
use crate::runner::head::DenseActivation;
use crate::runner::layers::attention::{Attention, AttentionParts};
use crate::runner::layers::block::Block;
use crate::runner::layers::mlp::{Activation, Mlp};
use crate::runner::layers::norm::Norm;
use crate::runner::layers::projection::{Bias, Projection};
use crate::runner::mask::MaskKind;
use crate::runner::precision::Precision;
use crate::runner::shape::{ModelShape, Positions, Sizes};

pub const REGISTRATION: Registration = Registration {
    model_types: &["bert"],
    parse: |config| Ok(Box::new(BertLikeConfig::read(config)?.family("bert", LAYER_NAMES)?)),
    // BertForSequenceClassification: the pooler (dense + tanh on `[CLS]`), then the classifier.
    classification_head: Some(|_, shape, labels| {
        Ok(ScoreHeadSpec::first_token_dense(
            "bert.pooler.dense",
            DenseActivation::Tanh,
            "classifier",
            shape.hidden_size,
            labels,
        ))
    }),
    // BertForMaskedLM: `cls.predictions` (transform, then the decoder tied to the word table).
    masked_lm_head: Some(|config, shape| {
        let parsed = BertLikeConfig::read(config)?;
        Ok(MaskedLmSpec::dense_norm_decoder(
            shape,
            ("cls.predictions.transform.dense", true),
            ScoreStep::HiddenActivation(parsed.hidden_act),
            ("cls.predictions.transform.LayerNorm", parsed.layer_norm_eps, true),
            &[
                "cls.predictions.decoder.weight",
                "bert.embeddings.word_embeddings.weight",
            ],
            &["cls.predictions.bias", "cls.predictions.decoder.bias"],
        ))
    }),
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
const NESTED_PREFIXES: &[&str] = &["bert", "roberta", "distilbert", "mpnet", "model", "encoder"];

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
    pub hidden_act: Activation,
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

fn default_hidden_act() -> Activation {
    Activation::GeluErf
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertLikeConfig {
    pub fn read(config: &Value) -> ConfigResult<Self> {
        let config: Self = config::read(config, "BERT-style")?;
        if let Some(kind) = config.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return Err(ConfigError::unsupported("position_embedding_type", kind));
            }
        }
        Ok(config)
    }

    /// The family settings, with BERT's own position and token-type scheme.
    pub fn family(&self, architecture: &'static str, layer_names: LayerNames) -> ConfigResult<BertFamily> {
        let model_type = if self.model_type.is_empty() {
            architecture
        } else {
            &self.model_type
        };
        let sizes = Sizes {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: None,
            head_dim: None,
            intermediate_size: self.intermediate_size,
            max_positions: self.max_position_embeddings,
        };
        Ok(BertFamily {
            shape: ModelShape::new(architecture, model_type, sizes)?,
            activation: self.hidden_act,
            position_table: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            layer_prefix: "encoder.layer",
            layer_names,
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
        let linear = |name: &str, input: usize, output: usize| -> Result<(Tensor, Option<Tensor>)> {
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

    fn layout(&self) -> EncoderLayout {
        EncoderLayout {
            prefixes: NESTED_PREFIXES,
            input_norm: "embeddings.LayerNorm",
            layers: self.layer_prefix,
        }
    }

    /// The backbone's weights inside the checkpoint.
    pub fn root<'a>(&self, vb: VarBuilder<'a>) -> VarBuilder<'a> {
        self.layout().root(vb)
    }

    /// The encoder under `root`.
    pub fn transformer(&self, root: &VarBuilder, precision: Precision) -> Result<Transformer> {
        let input = EncoderInput {
            token_types: self.type_vocab_size,
            learned_positions: Some(self.position_table),
            norm_eps: self.layer_norm_eps,
        };
        self.layout().load(root, &self.shape, input, precision, |layer| {
            self.load_layer(layer, precision)
        })
    }
}

impl Architecture for BertFamily {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        Ok(self.transformer(&self.root(vb), precision)?.boxed())
    }
}
