//! The modernbert architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_modernbert_cls_matches_sentence_transformers() {
    check_float32("tiny-modernbert-cls").await;
}

#[tokio::test]
async fn tiny_modernbert_cls_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-modernbert-cls").await;
}

#[tokio::test]
async fn tiny_modernbert_mean_prompts_matches_sentence_transformers() {
    check_float32("tiny-modernbert-mean-prompts").await;
}

#[tokio::test]
async fn tiny_modernbert_mean_prompts_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-modernbert-mean-prompts").await;
}

#[test]
fn an_unknown_layer_setting_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-modernbert-cls",
        "\"model_type\": \"modernbert\",",
        "\"model_type\": \"modernbert\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0},",
        "rope_scaling",
    );
}
