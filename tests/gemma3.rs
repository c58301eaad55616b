//! The gemma3 architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

mod common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_gemma3_mean_dense_matches_sentence_transformers() {
    check_float32("tiny-gemma3-mean-dense").await;
}

#[tokio::test]
async fn tiny_gemma3_mean_dense_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-gemma3-mean-dense").await;
}

#[test]
fn attention_logit_softcapping_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-gemma3-mean-dense",
        "\"attn_logit_softcapping\": null",
        "\"attn_logit_softcapping\": 50.0",
        "attn_logit_softcapping",
    );
}
