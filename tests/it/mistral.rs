//! The mistral architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_mistral_lasttoken_sharded_matches_sentence_transformers() {
    check_float32("tiny-mistral-lasttoken-sharded").await;
}

#[tokio::test]
async fn tiny_mistral_lasttoken_sharded_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-mistral-lasttoken-sharded").await;
}

#[test]
fn llama3_rope_scaling_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-mistral-lasttoken-sharded",
        "\"rope_theta\": 10000.0,",
        "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0},",
        "rope_scaling",
    );
}
