//! MPNet: BERT's block with RoBERTa-style positions, no token types, and a learned attention
//! bias per head looked up by the bucketed relative distance between query and key.

use candle_core::{Device, Result, Tensor};

use super::architecture::Registration;
use super::bert::{BertFamily, BertLikeConfig, LayerNames};

pub const REGISTRATION: Registration = Registration {
    model_types: &["mpnet"],
    parse: |text| Ok(Box::new(config(text)?)),
};

const LAYER_NAMES: LayerNames = LayerNames {
    query: "attention.attn.q",
    key: "attention.attn.k",
    value: "attention.attn.v",
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

/// transformers computes the buckets with its default of 32 whatever the config says (the
/// table's size comes from `relative_attention_num_buckets`), and a maximum distance of 128.
const BUCKETS: i64 = 32;
const MAX_DISTANCE: f32 = 128.0;

pub const RELATIVE_BIAS_WEIGHT: &str = "encoder.relative_attention_bias.weight";

fn config(text: &str) -> std::result::Result<BertFamily, String> {
    #[derive(serde::Deserialize)]
    struct Extra {
        #[serde(default = "default_buckets")]
        relative_attention_num_buckets: usize,
    }
    fn default_buckets() -> usize {
        32
    }
    let parsed = BertLikeConfig::parse(text)?;
    let extra: Extra = serde_json::from_str(text).map_err(|e| format!("not an MPNet config: {e}"))?;
    if extra.relative_attention_num_buckets < BUCKETS as usize {
        return Err(format!(
            "relative_attention_num_buckets is {}, fewer than the {BUCKETS} buckets MPNet uses",
            extra.relative_attention_num_buckets
        ));
    }
    let pad = parsed.pad_token_id.unwrap_or(1);
    Ok(BertFamily {
        type_vocab_size: 0,
        relative_attention_buckets: Some(extra.relative_attention_num_buckets),
        ..parsed.family("mpnet", LAYER_NAMES)?.with_positions_after_padding(pad)
    })
}

/// The bucket of key position `key` seen from query position `query`, computed in float32 as
/// transformers does (the rounding of the logarithm decides the buckets at 16, 32 and 64).
pub fn relative_bucket(query: i64, key: i64) -> u32 {
    let half = BUCKETS / 2;
    let max_exact = half / 2;
    let n = query - key;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.abs();
    bucket += if n < max_exact {
        n
    } else {
        let scaled = (n as f32 / max_exact as f32).ln() / ((MAX_DISTANCE / max_exact as f32) as f64).ln() as f32
            * (half - max_exact) as f32;
        (max_exact + scaled as i64).min(half - 1)
    };
    bucket as u32
}

/// `[1, heads, len, len]`: the bias each head adds to its attention scores for a padded length.
pub fn relative_bias(table: &Tensor, len: usize, device: &Device) -> Result<Tensor> {
    let buckets: Vec<u32> = (0..len as i64)
        .flat_map(|q| (0..len as i64).map(move |k| relative_bucket(q, k)))
        .collect();
    let buckets = Tensor::from_vec(buckets, len * len, device)?;
    let heads = table.dim(1)?;
    table
        .index_select(&buckets, 0)?
        .t()?
        .reshape((1, heads, len, len))?
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_reference_scheme() {
        // Small distances are exact; keys before the query use the upper half of the buckets.
        assert_eq!(relative_bucket(5, 5), 0);
        assert_eq!(relative_bucket(5, 4), 1);
        assert_eq!(relative_bucket(4, 5), 17);
        assert_eq!(relative_bucket(10, 3), 7);
        // Logarithmic beyond 8, saturating at 15 (and 31) from a distance of 128 on.
        assert_eq!(relative_bucket(8, 0), 8);
        assert_eq!(relative_bucket(16, 0), 10);
        assert_eq!(relative_bucket(32, 0), 12);
        assert_eq!(relative_bucket(64, 0), 14);
        assert_eq!(relative_bucket(300, 0), 15);
        assert_eq!(relative_bucket(0, 300), 31);
    }
}
