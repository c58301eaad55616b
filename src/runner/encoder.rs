//! The encoder body shared by every architecture: embeddings (word + position + optional token
//! type, then LayerNorm) and the stack of [`EncoderLayer`]s, on packed tokens. It returns the
//! last hidden state of every token, `[tokens, hidden]`; pooling is the pipeline's business.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::batch::PackedBatch;
use super::config::EncoderConfig;
use super::layers::{EncoderLayer, LayerContext, LayerNorm};
use super::mpnet;
use super::precision::Precision;

pub struct Encoder {
    config: EncoderConfig,
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    /// Row 0 of the token-type table, when the architecture has one: every input is a single
    /// segment.
    token_type_zero: Option<Tensor>,
    embedding_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    /// MPNet's `[buckets, heads]` relative-position bias table.
    relative_bias_table: Option<Tensor>,
    precision: Precision,
}

/// Checkpoints saved from a task model (BertForMaskedLM, ...) nest the encoder under a prefix.
const NESTED_PREFIXES: [&str; 6] = ["bert", "roberta", "distilbert", "mpnet", "model", "encoder"];

impl Encoder {
    pub fn load(vb: VarBuilder, config: &EncoderConfig, precision: Precision) -> Result<Self> {
        let vb = match NESTED_PREFIXES
            .iter()
            .find(|prefix| vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")))
        {
            Some(prefix) => vb.pp(*prefix),
            None => vb,
        };
        let h = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let token_type_zero = if config.type_vocab_size > 0 {
            Some(
                embeddings
                    .get((config.type_vocab_size, h), "token_type_embeddings.weight")?
                    .get(0)?,
            )
        } else {
            None
        };
        let relative_bias_table = match config.relative_attention_buckets {
            Some(buckets) => Some(vb.get((buckets, config.heads), mpnet::RELATIVE_BIAS_WEIGHT)?),
            None => None,
        };
        let layers = (0..config.layers)
            .map(|i| EncoderLayer::load(vb.pp(config.layer_prefix).pp(i), config, precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            word_embeddings: Embedding::new(embeddings.get((config.vocab_size, h), "word_embeddings.weight")?, h),
            position_embeddings: Embedding::new(
                embeddings.get((config.position_table, h), "position_embeddings.weight")?,
                h,
            ),
            token_type_zero,
            embedding_norm: LayerNorm::load(embeddings.pp("LayerNorm"), h, config.layer_norm_eps)?,
            layers,
            relative_bias_table,
            precision,
        })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The last hidden state of every packed token, `[tokens, hidden]`.
    pub fn forward(&self, batch: &PackedBatch) -> Result<Tensor> {
        let words = self.word_embeddings.forward(&batch.token_ids)?;
        let positions = self.position_embeddings.forward(&batch.positions)?;
        let mut embedded = (words + positions)?;
        if let Some(token_type) = &self.token_type_zero {
            embedded = embedded.broadcast_add(token_type)?;
        }
        let attention_bias = match &self.relative_bias_table {
            Some(table) => Some(mpnet::relative_bias(table, batch.longest, batch.device())?),
            None => None,
        };
        let context = LayerContext {
            batch,
            heads: self.config.heads,
            hidden: self.config.hidden_size,
            activation: self.config.activation,
            attention_bias: attention_bias.as_ref(),
            per_sequence: self.precision == Precision::BFloat16 && batch.device().is_cpu(),
        };
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &context)?;
        }
        Ok(hidden)
    }
}
