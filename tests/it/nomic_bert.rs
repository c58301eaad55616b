//! The nomic_bert architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_nomic_bert_mean_matches_sentence_transformers() {
    check_float32("tiny-nomic-bert-mean").await;
}

#[tokio::test]
async fn tiny_nomic_bert_mean_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-nomic-bert-mean").await;
}

#[test]
fn a_rotary_scaling_factor_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-nomic-bert-mean",
        "\"rotary_scaling_factor\": null",
        "\"rotary_scaling_factor\": 2.0",
        "rotary_scaling_factor",
    );
}
