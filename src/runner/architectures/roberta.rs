//! RoBERTa, XLM-RoBERTa and CamemBERT: BERT's weights and block, but position ids start after
//! the padding index (`padding_idx + 1`), and the single token type is row 0 as in BERT.

use super::bert::{BertLikeConfig, LAYER_NAMES};
use super::Registration;
use crate::runner::head::score::ScoreHeadSpec;
use crate::runner::head::DenseActivation;

pub const REGISTRATION: Registration = Registration {
    model_types: &["roberta", "xlm-roberta", "camembert"],
    parse: |config| {
        let parsed = BertLikeConfig::read(config)?;
        let pad = parsed.pad_token_id.unwrap_or(1);
        Ok(Box::new(
            parsed.family("roberta", LAYER_NAMES)?.with_positions_after_padding(pad),
        ))
    },
    // RobertaClassificationHead: `<s>` through dense + tanh, then `out_proj`; no pooler.
    classification_head: Some(|_, shape, labels| {
        Ok(ScoreHeadSpec::first_token_dense(
            "classifier.dense",
            DenseActivation::Tanh,
            "classifier.out_proj",
            shape.hidden_size,
            labels,
        ))
    }),
    masked_lm_head: None,
};
