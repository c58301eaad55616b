//! RoBERTa, XLM-RoBERTa and CamemBERT: BERT's weights and block, but position ids start after
//! the padding index (`padding_idx + 1`), and the single token type is row 0 as in BERT.

use super::bert::{BertLikeConfig, LAYER_NAMES};
use super::config::{Architecture, EncoderConfig, Positions};

pub fn config(text: &str) -> Result<EncoderConfig, String> {
    let parsed = BertLikeConfig::parse(text)?;
    let pad = parsed.pad_token_id.unwrap_or(1);
    Ok(EncoderConfig {
        positions: Positions::AfterPadding { pad },
        ..parsed.encoder(Architecture::Roberta, LAYER_NAMES)?
    })
}
