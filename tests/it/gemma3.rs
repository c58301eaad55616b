//! The gemma3 architecture through HTTP on its tiny fixture(s) in `tests/fixtures/st-pipelines/`:
//! float32 parity with sentence-transformers for every prompt row, usage, token ids, batch
//! invariance, and bfloat16 within its bounds.

use crate::common;

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

/// Every dialect's model description names the pipeline: the architecture, its windows and
/// context, pooling, each Dense layer and Normalize.
#[tokio::test]
async fn clients_see_the_whole_pipeline() {
    let name = "tiny-gemma3-mean-dense";
    let server = common::fidelity::serve_pipeline(name, "float32").await;
    let (_, models) = server.get("/v1/models").await;
    let pipeline = &models["data"][0]["pipeline"];
    assert_eq!(pipeline["architecture"], "gemma3", "{pipeline}");
    assert_eq!(pipeline["model_type"], "gemma3_text");
    assert_eq!(pipeline["context_length"], 2048);
    assert_eq!(pipeline["max_input_tokens"], 64);
    assert_eq!(pipeline["pooling"], "mean");
    assert_eq!(
        pipeline["attention"],
        serde_json::json!(["local window +-8", "full", "local window +-8", "full"])
    );
    assert_eq!(
        pipeline["dense"],
        serde_json::json!([
            {"in_features": 48, "out_features": 192, "bias": false, "activation": "Identity"},
            {"in_features": 192, "out_features": 48, "bias": false, "activation": "Identity"},
        ])
    );
    assert_eq!(pipeline["normalize"], true);
    assert_eq!(pipeline["dimensions"], 48);
    let (_, info) = server.get("/info").await;
    assert_eq!(&info["pipeline"], pipeline);
    // The kernels chosen at start for this CPU, in one line.
    let kernels = models["data"][0]["kernels"].as_str().unwrap_or_default();
    assert!(
        kernels.starts_with("linear layers: ") && kernels.contains("attention:"),
        "{kernels}"
    );
    assert_eq!(info["kernels"], models["data"][0]["kernels"]);
    let (status, show) = server.post("/api/show", &serde_json::json!({"model": name})).await;
    assert_eq!(status, 200, "{show}");
    assert_eq!(&show["model_info"]["embeddings.pipeline"], pipeline);
}
