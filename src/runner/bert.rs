//! A BERT encoder whose per-token layers run on packed tokens.
//!
//! A batch of sequences is laid end to end as one `[tokens, hidden]` matrix with no padding.
//! Embeddings, the linear layers, layer norms and GELU work on that matrix directly; only
//! attention needs per-sequence structure, so it alone gathers the packed rows into a padded
//! `[batch, len, ...]` layout (masked) and scatters the result back.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::Deserialize;

use super::kernels::{BiasGelu, MaskedSoftmax};

#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    /// The exact erf form, which BERT's `gelu` means and the weights were trained with.
    GeluErf,
    GeluTanh,
    Relu,
}

impl BertConfig {
    /// Checks the checkpoint is one this encoder computes faithfully.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self.model_type.as_deref() {
            Some("bert") => {}
            Some(other) => {
                return Err(format!(
                    "unsupported architecture {other:?}: only BERT-family encoders (model_type \"bert\") are supported"
                ))
            }
            None => return Err("config.json has no model_type; only BERT-family encoders are supported".to_owned()),
        }
        if let Some(kind) = self.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return Err(format!("unsupported position_embedding_type {kind:?}"));
            }
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err("hidden_size is not a multiple of num_attention_heads".to_owned());
        }
        self.activation().map(|_| ())
    }

    fn activation(&self) -> std::result::Result<Activation, String> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(format!("unsupported hidden_act {other:?}")),
        }
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        // Checkpoints converted from the original TensorFlow BERT name these gamma/beta.
        let (weight, bias) = if vb.contains_tensor("weight") {
            (vb.get(size, "weight")?, vb.get(size, "bias")?)
        } else {
            (vb.get(size, "gamma")?, vb.get(size, "beta")?)
        };
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

fn linear(vb: VarBuilder, input: usize, output: usize) -> Result<Linear> {
    Ok(Linear::new(
        vb.get((output, input), "weight")?,
        Some(vb.get(output, "bias")?),
    ))
}

struct EncoderLayer {
    /// Query, key and value projections fused into one matmul; the query rows are pre-scaled by
    /// 1/sqrt(head_dim) so the scores need no separate scaling pass.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    /// The intermediate bias on the host, for the fused CPU bias + GELU kernel.
    intermediate_bias: Vec<f32>,
    output: Linear,
    output_norm: LayerNorm,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, config: &BertConfig) -> Result<Self> {
        let h = config.hidden_size;
        let head_dim = h / config.num_attention_heads;
        let attention = vb.pp("attention");
        let this = attention.pp("self");
        let scale = 1.0 / (head_dim as f64).sqrt();
        let query = linear(this.pp("query"), h, h)?;
        let key = linear(this.pp("key"), h, h)?;
        let value = linear(this.pp("value"), h, h)?;
        let bias = |l: &Linear| {
            l.bias()
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("missing bias".into()))
        };
        let weight = Tensor::cat(
            &[(query.weight() * scale)?, key.weight().clone(), value.weight().clone()],
            0,
        )?;
        let bias = Tensor::cat(&[(bias(&query)? * scale)?, bias(&key)?, bias(&value)?], 0)?;
        let intermediate = linear(vb.pp("intermediate").pp("dense"), h, config.intermediate_size)?;
        let intermediate_bias = match intermediate.bias() {
            Some(bias) if bias.device().is_cpu() => bias.to_vec1::<f32>()?,
            _ => Vec::new(),
        };
        Ok(Self {
            qkv: Linear::new(weight, Some(bias)),
            attention_out: linear(attention.pp("output").pp("dense"), h, h)?,
            attention_norm: LayerNorm::load(attention.pp("output").pp("LayerNorm"), h, config.layer_norm_eps)?,
            intermediate,
            intermediate_bias,
            output: linear(vb.pp("output").pp("dense"), config.intermediate_size, h)?,
            output_norm: LayerNorm::load(vb.pp("output").pp("LayerNorm"), h, config.layer_norm_eps)?,
        })
    }
}

/// Index tensors describing how a batch is packed, built once per forward pass on the host and
/// uploaded with the token ids (so the forward itself never copies back to the host).
pub struct PackedBatch {
    token_ids: Tensor,
    positions: Tensor,
    /// For each packed token, the index of its sequence (pooling sums by it).
    sequence_of_token: Tensor,
    sequences: usize,
    longest: usize,
    lengths: Vec<usize>,
    /// Present when sequence lengths differ; equal lengths need no gather at all.
    padding: Option<Padding>,
}

struct Padding {
    /// `[sequences * longest]`: the packed row for each padded slot (padding slots point at
    /// row 0, whose values the mask then ignores).
    gather: Tensor,
    /// `[tokens]`: the padded slot each packed token came from.
    scatter: Tensor,
    /// `[sequences, 1, 1, longest]`: 0 for real keys, -inf for padding keys. Only off the CPU,
    /// where candle's softmax runs; the CPU kernel masks by length instead.
    mask: Option<Tensor>,
}

impl PackedBatch {
    pub fn new(sequences: &[&[u32]], device: &Device) -> Result<Self> {
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        if longest == 0 || sequences.iter().any(|s| s.is_empty()) {
            candle_core::bail!("every sequence needs at least one token");
        }
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut token_ids = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        let mut sequence_of_token = Vec::with_capacity(total);
        for (index, sequence) in sequences.iter().enumerate() {
            token_ids.extend_from_slice(sequence);
            positions.extend(0..sequence.len() as u32);
            sequence_of_token.extend(std::iter::repeat_n(index as u32, sequence.len()));
        }
        let ragged = sequences.iter().any(|s| s.len() != longest);
        let padding = if ragged {
            let mut gather = vec![0u32; sequences.len() * longest];
            let mut scatter = Vec::with_capacity(total);
            let mut row = 0u32;
            for (index, sequence) in sequences.iter().enumerate() {
                for position in 0..sequence.len() {
                    let slot = index * longest + position;
                    gather[slot] = row;
                    scatter.push(slot as u32);
                    row += 1;
                }
            }
            Some(Padding {
                gather: Tensor::from_vec(gather, sequences.len() * longest, device)?,
                scatter: Tensor::from_vec(scatter, total, device)?,
                mask: if device.is_cpu() {
                    None
                } else {
                    let mask: Vec<f32> = sequences
                        .iter()
                        .flat_map(|s| (0..longest).map(move |p| if p < s.len() { 0.0 } else { f32::NEG_INFINITY }))
                        .collect();
                    Some(Tensor::from_vec(mask, (sequences.len(), 1, 1, longest), device)?)
                },
            })
        } else {
            None
        };
        Ok(Self {
            token_ids: Tensor::from_vec(token_ids, total, device)?,
            positions: Tensor::from_vec(positions, total, device)?,
            sequence_of_token: Tensor::from_vec(sequence_of_token, total, device)?,
            sequences: sequences.len(),
            longest,
            lengths: sequences.iter().map(|s| s.len()).collect(),
            padding,
        })
    }
}

pub struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    /// Row 0 of the token-type table: every input is a single segment.
    token_type_zero: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    heads: usize,
    hidden: usize,
    activation: Activation,
}

impl Bert {
    pub fn load(vb: VarBuilder, config: &BertConfig) -> Result<Self> {
        config.validate().map_err(candle_core::Error::Msg)?;
        // Checkpoints saved from BertForMaskedLM and friends nest the encoder under `bert.`.
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let token_types = embeddings.get((config.type_vocab_size, h), "token_type_embeddings.weight")?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| EncoderLayer::load(vb.pp("encoder").pp("layer").pp(i), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: Embedding::new(embeddings.get((config.vocab_size, h), "word_embeddings.weight")?, h),
            position_embeddings: Embedding::new(
                embeddings.get((config.max_position_embeddings, h), "position_embeddings.weight")?,
                h,
            ),
            token_type_zero: token_types.get(0)?,
            embedding_norm: LayerNorm::load(embeddings.pp("LayerNorm"), h, config.layer_norm_eps)?,
            layers,
            heads: config.num_attention_heads,
            hidden: h,
            activation: config.activation().map_err(candle_core::Error::Msg)?,
        })
    }

    /// Runs the encoder and returns the L2-normalised mean of each sequence's token states,
    /// `[sequences, hidden]`.
    pub fn embed(&self, batch: &PackedBatch) -> Result<Tensor> {
        let words = self.word_embeddings.forward(&batch.token_ids)?;
        let positions = self.position_embeddings.forward(&batch.positions)?;
        let embedded = (words + positions)?.broadcast_add(&self.token_type_zero)?;
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        for layer in &self.layers {
            hidden = self.layer_forward(layer, &hidden, batch)?;
        }
        self.mean_pool_normalized(&hidden, batch)
    }

    fn layer_forward(&self, layer: &EncoderLayer, x: &Tensor, batch: &PackedBatch) -> Result<Tensor> {
        let context = self.attention(layer, x, batch)?;
        let attended = layer
            .attention_norm
            .forward(&(layer.attention_out.forward(&context)? + x)?)?;
        let activated = if self.activation == Activation::GeluErf && !layer.intermediate_bias.is_empty() {
            let expanded = attended.matmul(&layer.intermediate.weight().t()?)?;
            expanded.inplace_op1(&BiasGelu(&layer.intermediate_bias))?;
            expanded
        } else {
            let expanded = layer.intermediate.forward(&attended)?;
            match self.activation {
                Activation::GeluErf => expanded.gelu_erf()?,
                Activation::GeluTanh => expanded.gelu()?,
                Activation::Relu => expanded.relu()?,
            }
        };
        layer
            .output_norm
            .forward(&(layer.output.forward(&activated)? + attended)?)
    }

    fn attention(&self, layer: &EncoderLayer, x: &Tensor, batch: &PackedBatch) -> Result<Tensor> {
        let (b, l, heads) = (batch.sequences, batch.longest, self.heads);
        let head_dim = self.hidden / heads;
        let qkv = layer.qkv.forward(x)?;
        let qkv = match &batch.padding {
            Some(padding) => qkv.index_select(&padding.gather, 0)?,
            None => qkv,
        };
        // [b*l, 3h] -> [3, b, heads, l, head_dim]
        let qkv = qkv.reshape((b, l, 3, heads, head_dim))?.permute((2, 0, 3, 1, 4))?;
        let query = qkv.get(0)?.contiguous()?;
        let key = qkv.get(1)?.contiguous()?;
        let value = qkv.get(2)?.contiguous()?;
        let scores = query.matmul(&key.t()?)?;
        let weights = if scores.device().is_cpu() {
            scores.inplace_op1(&MaskedSoftmax {
                lengths: &batch.lengths,
                heads,
                longest: l,
            })?;
            scores
        } else {
            let scores = match batch.padding.as_ref().and_then(|p| p.mask.as_ref()) {
                Some(mask) => scores.broadcast_add(mask)?,
                None => scores,
            };
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let context = weights.matmul(&value)?.transpose(1, 2)?.reshape((b * l, self.hidden))?;
        match &batch.padding {
            Some(padding) => context.index_select(&padding.scatter, 0),
            None => Ok(context),
        }
    }

    /// Mean pooling over each sequence's tokens followed by L2 normalisation. The division by
    /// the token count is skipped: a positive scale does not change the normalised vector.
    fn mean_pool_normalized(&self, hidden: &Tensor, batch: &PackedBatch) -> Result<Tensor> {
        let sums = Tensor::zeros((batch.sequences, self.hidden), DType::F32, hidden.device())?.index_add(
            &batch.sequence_of_token,
            hidden,
            0,
        )?;
        // Same floor as torch.nn.functional.normalize, so an all-zero vector stays finite.
        let norms = sums.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
        sums.broadcast_div(&norms)
    }
}
