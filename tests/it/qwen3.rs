//! The qwen3 architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

use common::fidelity::{check_bfloat16, check_float32};

#[tokio::test]
async fn tiny_qwen3_lasttoken_matches_sentence_transformers() {
    check_float32("tiny-qwen3-lasttoken").await;
}

#[tokio::test]
async fn tiny_qwen3_lasttoken_in_bfloat16_stays_within_the_bounds() {
    check_bfloat16("tiny-qwen3-lasttoken").await;
}

#[test]
fn a_sliding_window_it_does_not_implement_stops_the_start() {
    common::assert_refused_at_start(
        "tiny-qwen3-lasttoken",
        "\"use_sliding_window\": false",
        "\"use_sliding_window\": true",
        "use_sliding_window",
    );
}
