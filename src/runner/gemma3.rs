//! Gemma3's text model (EmbeddingGemma): the decoder with Gemma's `1 + w` RMSNorms (also on
//! each branch's output and on queries and keys), embeddings scaled by sqrt(hidden), scores
//! scaled by `query_pre_attn_scalar^-0.5`, GeGLU with tanh GELU, and sliding layers with their
//! own rotary base. With `use_bidirectional_attention` (EmbeddingGemma) full layers see every
//! token and sliding layers `sliding_window / 2` on either side; otherwise both are causal.

use serde::Deserialize;
use serde_json::Value;

use super::architecture::{refuse, Registration};
use super::decoder::{Decoder, DecoderConfig, DecoderOptions};
use super::mask::MaskKind;
use super::projection::Bias;

pub const REGISTRATION: Registration = Registration {
    model_types: &["gemma3_text"],
    parse: |text| Ok(Box::new(parse(text)?)),
};

#[derive(Deserialize)]
struct Extra {
    #[serde(default)]
    use_bidirectional_attention: bool,
    #[serde(default = "default_scalar")]
    query_pre_attn_scalar: f64,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default, alias = "_sliding_window_pattern")]
    sliding_window_pattern: Option<usize>,
    #[serde(default)]
    rope_local_base_freq: Option<f64>,
    #[serde(default)]
    attn_logit_softcapping: Option<Value>,
}

fn default_scalar() -> f64 {
    256.0
}

fn parse(text: &str) -> Result<Decoder, String> {
    let config = DecoderConfig::parse(text)?;
    let extra: Extra = serde_json::from_str(text).map_err(|e| format!("not a Gemma3 config: {e}"))?;
    if let Some(capping) = extra.attn_logit_softcapping.filter(|v| !v.is_null()) {
        return Err(refuse("attn_logit_softcapping", capping));
    }
    let layers = config.num_hidden_layers;
    let sliding: Vec<bool> = match &extra.layer_types {
        Some(types) if types.len() == layers => types
            .iter()
            .map(|t| match t.as_str() {
                "sliding_attention" => Ok(true),
                "full_attention" => Ok(false),
                other => Err(refuse("layer_types", other)),
            })
            .collect::<Result<_, _>>()?,
        Some(types) => return Err(format!("layer_types lists {} layers, not {layers}", types.len())),
        None => {
            let pattern = extra.sliding_window_pattern.unwrap_or(6).max(1);
            (0..layers).map(|i| !(i + 1).is_multiple_of(pattern)).collect()
        }
    };
    let window = config.sliding_window.unwrap_or(4096);
    let (full, local) = if extra.use_bidirectional_attention {
        // transformers keeps `sliding_window // 2 + 1` as an exclusive bound on |i - j|.
        (MaskKind::Full, MaskKind::Local(window / 2))
    } else {
        (MaskKind::Causal, MaskKind::CausalWindow(window))
    };
    let masks = sliding.iter().map(|&s| if s { local } else { full }).collect();
    let shape = config.shape("gemma3", masks)?;
    let global = config.rope_theta_for("full_attention", config.rope_theta.unwrap_or(1_000_000.0))?;
    let local_theta = config.rope_theta_for("sliding_attention", extra.rope_local_base_freq.unwrap_or(10_000.0))?;
    Ok(Decoder {
        options: DecoderOptions {
            activation: config.activation("gelu_pytorch_tanh")?,
            eps: config.rms_norm_eps,
            attention_bias: Bias::when(config.attention_bias),
            mlp_bias: Bias::Without,
            query_key_norms: true,
            gemma: true,
            scale: extra.query_pre_attn_scalar.powf(-0.5),
            rotary_thetas: vec![global, local_theta],
            layer_rotary: sliding.iter().map(|&s| usize::from(s)).collect(),
        },
        shape,
    })
}
