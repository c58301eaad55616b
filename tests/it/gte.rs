//! The gte architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_gte_cls_matches_sentence_transformers() {
    check_float32("tiny-gte-cls").await;
}

#[tokio::test]
async fn tiny_gte_cls_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-gte-cls").await;
}

#[test]
fn a_rope_scaling_it_does_not_implement_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-gte-cls",
        "\"type\": \"ntk\"",
        "\"type\": \"yarn\"",
        "rope_scaling",
    );
}
