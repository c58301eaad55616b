//! What the BERT-style encoders share (the BERT family, GTE, NomicBERT): the backbone under a
//! task model's prefix, word embeddings with the single token type's row (and learned positions
//! where the model has them) and a LayerNorm, then numbered post-norm layers; and the whole of
//! the rotary encoders ([`RotaryEncoder`]), which GTE's and NomicBERT's files only configure.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::runner::backbone::{load_layers, nested, Architecture, Backbone, Transformer};
use crate::runner::layers::attention::{Attention, AttentionParts};
use crate::runner::layers::block::Block;
use crate::runner::layers::embeddings::InputEmbeddings;
use crate::runner::layers::mlp::{Activation, Mlp};
use crate::runner::layers::norm::Norm;
use crate::runner::layers::projection::{read_linear, stack_rows, Bias, Projection};
use crate::runner::layers::rotary::{Rotaries, Rotary, RotaryBase};
use crate::runner::mask::MaskKind;
use crate::runner::precision::Precision;
use crate::runner::shape::ModelShape;

/// Where an encoder's weights are, relative to its backbone.
#[derive(Debug)]
pub struct EncoderLayout {
    /// The task models' prefixes a checkpoint may nest the backbone under.
    pub prefixes: &'static [&'static str],
    /// The input LayerNorm.
    pub input_norm: &'static str,
    /// Layer `i` is `{layers}.{i}`.
    pub layers: &'static str,
}

/// What an encoder adds to its word embeddings.
#[derive(Debug, Clone, Copy)]
pub struct EncoderInput {
    /// Rows of the token-type table; 0 when the architecture has none.
    pub token_types: usize,
    /// Rows of the learned position table; `None` for rotary encoders.
    pub learned_positions: Option<usize>,
    pub norm_eps: f64,
}

impl EncoderLayout {
    /// The backbone's weights inside the checkpoint.
    pub fn root<'a>(&self, vb: VarBuilder<'a>) -> VarBuilder<'a> {
        nested(vb, "embeddings.word_embeddings.weight", self.prefixes)
    }

    /// The encoder under `root`, each layer read by `load_layer`.
    pub fn load(
        &self,
        root: &VarBuilder,
        shape: &ModelShape,
        input: EncoderInput,
        precision: Precision,
        load_layer: impl Fn(VarBuilder) -> Result<Block>,
    ) -> Result<Transformer> {
        let (h, vocab) = (shape.hidden_size, shape.vocab_size);
        let table = root.pp("embeddings");
        let mut embeddings = InputEmbeddings::bert_style(&table, vocab, h, input.token_types)?;
        if let Some(rows) = input.learned_positions {
            // The forward adds positions, then the token type, whatever the order here.
            embeddings = embeddings.with_positions(&table, "position_embeddings.weight", rows)?;
        }
        let embeddings = embeddings.with_norm(Norm::layer(root.pp(self.input_norm), h, input.norm_eps)?);
        let layers = load_layers(root, self.layers, shape.layers, |layer, _| load_layer(layer))?;
        Ok(Transformer::new(shape, embeddings, layers, precision))
    }
}

/// Where a rotary encoder's layer keeps its weights, relative to the layer.
#[derive(Debug)]
pub struct RotaryLayerNames {
    /// The fused `[query; key; value]` projection.
    pub qkv: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
    pub gate_up: GateUpWeights,
    pub down: &'static str,
    pub mlp_norm: &'static str,
}

/// How a checkpoint stores a gated MLP's up and gate matrices.
#[derive(Debug)]
pub enum GateUpWeights {
    /// One matrix, the up rows then the gate rows (GTE's `up_gate_proj`).
    UpThenGate(&'static str),
    /// Two matrices (NomicBERT's `fc11` up and `fc12` gate).
    Separate { up: &'static str, gate: &'static str },
}

/// The post-norm encoders with rotary positions over the whole head, a fused query/key/value
/// projection and a gated MLP (GTE, NomicBERT): their files differ only in names, biases and
/// the rotary frequencies, which their config readers fill in here.
#[derive(Debug)]
pub struct RotaryEncoder {
    pub shape: ModelShape,
    pub layout: EncoderLayout,
    pub names: RotaryLayerNames,
    pub input: EncoderInput,
    pub activation: Activation,
    pub rotary: Rotary,
    /// The query/key/value and output projections' biases.
    pub attention_bias: Bias,
    pub gate_up_bias: Bias,
    pub down_bias: Bias,
}

impl RotaryEncoder {
    fn load_layer(&self, vb: VarBuilder, precision: Precision) -> Result<Block> {
        let (h, i, d) = (
            self.shape.hidden_size,
            self.shape.intermediate_size,
            self.shape.head_dim,
        );
        let names = &self.names;
        let attention = Attention::new(
            AttentionParts::encoder(
                read_linear(&vb.pp(names.qkv), h, 3 * h, self.attention_bias)?,
                read_linear(&vb.pp(names.attention_out), h, h, self.attention_bias)?,
                self.shape.heads,
                d,
                Some(RotaryBase::Global),
                MaskKind::Full,
            ),
            precision,
        )?;
        let (up, gate) = match names.gate_up {
            GateUpWeights::UpThenGate(name) => {
                let (weight, bias) = read_linear(&vb.pp(name), h, 2 * i, self.gate_up_bias)?;
                let rows = |start: usize| -> Result<(Tensor, Option<Tensor>)> {
                    Ok((
                        weight.narrow(0, start, i)?,
                        bias.as_ref().map(|b| b.narrow(0, start, i)).transpose()?,
                    ))
                };
                (rows(0)?, rows(i)?)
            }
            GateUpWeights::Separate { up, gate } => (
                read_linear(&vb.pp(up), h, i, self.gate_up_bias)?,
                read_linear(&vb.pp(gate), h, i, self.gate_up_bias)?,
            ),
        };
        // The gated MLP takes the gate's rows first.
        let (gate_up, gate_up_bias) = stack_rows(&[gate.0, up.0], &[gate.1, up.1])?;
        let mlp = Mlp::Gated {
            gate_up: Projection::new(gate_up, gate_up_bias, precision)?,
            intermediate: i,
            activation: self.activation,
            down: Projection::load(vb.pp(names.down), i, h, self.down_bias, precision)?,
        };
        let eps = self.input.norm_eps;
        Ok(Block::PostNorm {
            attention,
            attention_norm: Norm::layer(vb.pp(names.attention_norm), h, eps)?,
            mlp,
            mlp_norm: Norm::layer(vb.pp(names.mlp_norm), h, eps)?,
        })
    }
}

impl Architecture for RotaryEncoder {
    fn shape(&self) -> &ModelShape {
        &self.shape
    }

    fn load(&self, vb: VarBuilder, precision: Precision) -> Result<Box<dyn Backbone>> {
        let transformer = self
            .layout
            .load(&self.layout.root(vb), &self.shape, self.input, precision, |layer| {
                self.load_layer(layer, precision)
            })?;
        Ok(transformer.with_rotaries(Rotaries::one(self.rotary.clone())).boxed())
    }
}
