//! What the shared encoder needs to know about a checkpoint, read from its `config.json` by the
//! architecture's own module. Every supported architecture is the same post-LayerNorm transformer
//! block; they differ in weight names, position ids, token types and attention biases.

use std::path::Path;

use serde::Deserialize;

use super::{bert, distilbert, mpnet, roberta};

/// The encoder families this service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Bert,
    /// RoBERTa, XLM-RoBERTa and CamemBERT: BERT's block with padding-offset positions.
    Roberta,
    DistilBert,
    MpNet,
}

impl Architecture {
    /// The `model_type` values each family is recognised by.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            "roberta" | "xlm-roberta" | "camembert" => Some(Self::Roberta),
            "distilbert" => Some(Self::DistilBert),
            "mpnet" => Some(Self::MpNet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::DistilBert => "distilbert",
            Self::MpNet => "mpnet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The exact erf form, which BERT's `gelu` means and the weights were trained with.
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn from_hidden_act(name: &str) -> Result<Self, String> {
        match name {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(format!("unsupported hidden_act {other:?}")),
        }
    }
}

/// How position ids are assigned to a sequence's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, ... (BERT, DistilBERT).
    FromZero,
    /// RoBERTa's scheme: padding tokens sit at `pad`, the others count up from `pad + 1`.
    AfterPadding { pad: u32 },
}

/// The weight names of one encoder layer, relative to the layer's prefix.
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

#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub architecture: Architecture,
    /// `model_type` as written in config.json (`xlm-roberta`, ...), for display.
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate_size: usize,
    pub activation: Activation,
    /// Rows of the position table.
    pub position_table: usize,
    pub positions: Positions,
    /// Rows of the token-type table; 0 when the architecture has none.
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Where layer `i` lives: `{layer_prefix}.{i}`.
    pub layer_prefix: &'static str,
    pub layer_names: LayerNames,
    /// MPNet's bucketed relative-position attention bias (number of buckets).
    pub relative_attention_buckets: Option<usize>,
}

impl EncoderConfig {
    /// Reads `config.json` and hands it to the module of its architecture.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct ModelType {
            model_type: Option<String>,
        }
        let kind: ModelType = serde_json::from_str(text).map_err(|e| format!("not a model config: {e}"))?;
        let model_type = kind.model_type.ok_or(
            "config.json has no model_type; supported: bert, roberta, xlm-roberta, camembert, distilbert, mpnet",
        )?;
        let architecture = Architecture::from_model_type(&model_type).ok_or_else(|| {
            format!(
                "unsupported architecture {model_type:?}: supported are bert, roberta, xlm-roberta, camembert, distilbert and mpnet"
            )
        })?;
        let config = match architecture {
            Architecture::Bert => bert::config(text),
            Architecture::Roberta => roberta::config(text),
            Architecture::DistilBert => distilbert::config(text),
            Architecture::MpNet => mpnet::config(text),
        }?;
        config.validate()?;
        Ok(Self { model_type, ..config })
    }

    /// The longest sequence the position table can hold.
    pub fn max_sequence(&self) -> usize {
        match self.positions {
            Positions::FromZero => self.position_table,
            Positions::AfterPadding { pad } => self.position_table.saturating_sub(pad as usize + 1),
        }
    }

    /// The encoder's arithmetic per token of a `len`-token sequence, multiply-adds counted as two
    /// FLOPs: the linear layers plus the two attention products. (Benchmarks turn tokens/s into
    /// a share of the matmul roof with it.)
    pub fn flops_per_token(&self, len: usize) -> f64 {
        let (h, i, layers) = (
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.layers as f64,
        );
        let linear = 2.0 * (4.0 * h * h + 2.0 * h * i);
        let attention = 2.0 * 2.0 * len as f64 * h;
        layers * (linear + attention)
    }

    fn validate(&self) -> Result<(), String> {
        if self.heads == 0 || !self.hidden_size.is_multiple_of(self.heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".to_owned());
        }
        if self.max_sequence() == 0 {
            return Err("the position table holds no tokens".to_owned());
        }
        Ok(())
    }
}
