//! TEI's routes beside `/embed`: `/decode`, `/similarity`, Vertex AI's `/vertex`, SageMaker's
//! `/invocations` and `/ping`, `POST /` by the model's kind, and TEI's limits
//! (`--max-client-batch-size`, `--auto-truncate false`), over HTTP on loopback.

use crate::common;

use common::rerank::{self, floats, scores_by_index, tei_ranks};
use common::{offline_hub, read_references, reference_fixtures, test_hf_cache, Limits, Options, TestServer, MINILM};
use serde_json::{json, Value};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn vectors(body: &Value) -> Vec<Vec<f32>> {
    body.as_array().expect("vectors").iter().map(floats).collect()
}

fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= tolerance, "{what}: {worst}");
}

#[tokio::test]
async fn decode_turns_ids_back_into_text_one_sequence_or_a_batch() {
    let server = TestServer::minilm().await;
    let references = read_references(&reference_fixtures());
    let (status, one) = server.post("/decode", &json!({"ids": references[0].ids})).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one, json!([references[0].text.to_lowercase()]));
    let batch: Vec<&Vec<u32>> = references[..3].iter().map(|r| &r.ids).collect();
    let (status, texts) = server.post("/decode", &json!({"ids": batch})).await;
    assert_eq!(status, 200, "{texts}");
    // Decoding then tokenizing gives the ids back.
    for (text, reference) in texts.as_array().expect("texts").iter().zip(&references) {
        let (_, tokens) = server.post("/tokenize", &json!({"inputs": text})).await;
        let ids: Vec<u64> = tokens[0]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| t["id"].as_u64().expect("id"))
            .collect();
        assert_eq!(ids, reference.ids.iter().map(|&i| u64::from(i)).collect::<Vec<_>>());
    }
    let (_, framed) = server
        .post(
            "/decode",
            &json!({"ids": [101, 7592, 102], "skip_special_tokens": false}),
        )
        .await;
    assert_eq!(framed, json!(["[CLS] hello [SEP]"]));
    let (status, error) = server.post("/decode", &json!({"ids": [1_000_000_000u64]})).await;
    assert_eq!(
        (status, error["error_type"].as_str()),
        (422, Some("Validation")),
        "{error}"
    );
    let (status, error) = server.post("/decode", &json!({"ids": []})).await;
    assert_eq!((status, error["error_type"].as_str()), (400, Some("Empty")), "{error}");
    let (status, error) = server.post("/decode", &json!({"ids": "hello"})).await;
    assert_eq!(status, 422, "{error}");
}

#[tokio::test]
async fn similarity_is_the_cosine_of_sentence_transformers_vectors() {
    let server = TestServer::minilm().await;
    let references = read_references(&reference_fixtures());
    let sentences: Vec<&str> = references[1..8].iter().map(|r| r.text.as_str()).collect();
    let expected: Vec<f32> = references[1..8]
        .iter()
        .map(|r| dot(&references[0].embedding, &r.embedding))
        .collect();
    let body = json!({"inputs": {"source_sentence": references[0].text, "sentences": sentences}});
    let (status, scores) = server.post("/similarity", &body).await;
    assert_eq!(status, 200, "{scores}");
    assert_close(&floats(&scores), &expected, 1e-5, "/similarity");
    // What InferenceClient.sentence_similarity posts to a TEI server's root.
    let (status, root) = server.post("/", &body).await;
    assert_eq!(status, 200, "{root}");
    assert_close(&floats(&root), &expected, 1e-5, "POST /");
    let with_parameters = json!({
        "inputs": {"source_sentence": "a", "sentences": ["b"]},
        "parameters": {"truncate": true, "truncation_direction": "left"}
    });
    assert_eq!(server.post("/similarity", &with_parameters).await.0, 200);
    let (status, error) = server.post("/similarity", &json!({"inputs": "a"})).await;
    assert_eq!(
        (status, error["error_type"].as_str()),
        (422, Some("Validation")),
        "{error}"
    );
    let (status, _) = server
        .post(
            "/similarity",
            &json!({"inputs": {"source_sentence": "a", "sentences": []}}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn vertex_and_invocations_run_each_body_as_the_models_task() {
    let server = TestServer::start(
        &format!("{MINILM} minilm\n{}", rerank::models_file()),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let references = read_references(&reference_fixtures());
    let (status, vertex) = server
        .post(
            "/vertex",
            &json!({"instances": [{"inputs": references[0].text}, {"inputs": [references[1].text, references[2].text]}]}),
        )
        .await;
    assert_eq!(status, 200, "{vertex}");
    let predictions = vertex["predictions"].as_array().expect("predictions");
    assert_close(&vectors(&predictions[0])[0], &references[0].embedding, 2e-5, "vertex 0");
    assert_close(&vectors(&predictions[1])[1], &references[2].embedding, 2e-5, "vertex 1");

    let row = &rerank::rows("tiny-bert-reranker")[0];
    let rerank_body = json!({"query": row["query"], "texts": row["documents"], "model": "bert-rr"});
    let (status, ranks) = server.post("/invocations", &rerank_body).await;
    assert_eq!(status, 200, "{ranks}");
    assert_close(
        &scores_by_index(&ranks),
        &floats(&row["scores"]),
        1e-5,
        "invocations rerank",
    );
    let classified = &rerank::rows("tiny-bert-classifier")[0];
    let (status, labels) = server
        .post(
            "/invocations",
            &json!({"inputs": classified["text"], "model": "bert-cls"}),
        )
        .await;
    assert_eq!(status, 200, "{labels}");
    let scores: Vec<f32> = labels
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l["score"].as_f64().expect("score") as f32)
        .collect();
    let mut expected = floats(&classified["probabilities"]);
    expected.sort_by(|a, b| b.total_cmp(a));
    assert_close(&scores, &expected, 1e-6, "invocations predict");
    let (status, embedded) = server
        .post("/invocations", &json!({"inputs": references[3].text}))
        .await;
    assert_eq!(status, 200, "{embedded}");
    assert_close(
        &vectors(&embedded)[0],
        &references[3].embedding,
        2e-5,
        "invocations embed",
    );

    // Vertex instances of several kinds in one request, and its errors in TEI's shape.
    let mixed = json!({"instances": [rerank_body, {"inputs": "a text", "model": "bert-cls"}]});
    let (status, mixed) = server.post("/vertex", &mixed).await;
    assert_eq!(status, 200, "{mixed}");
    assert_eq!(
        tei_ranks(&mixed["predictions"][0]).len(),
        row["documents"].as_array().expect("docs").len()
    );
    assert_eq!(mixed["predictions"][1].as_array().expect("labels").len(), 3);
    for (bad, status) in [
        (json!({"instances": []}), 400),
        (json!({}), 400),
        (json!({"instances": [1]}), 422),
        (json!({"instances": [{"inputs": "a", "model": "unknown"}]}), 404),
    ] {
        let (got, error) = server.post("/vertex", &bad).await;
        assert_eq!(got, status, "{bad}: {error}");
        assert!(error["error_type"].is_string(), "{error}");
    }
}

#[tokio::test]
async fn ping_is_the_health_check_and_needs_no_key() {
    let server = TestServer::start(
        &format!("{MINILM} minilm\n"),
        offline_hub(&test_hf_cache()),
        Options {
            api_keys: "secret",
            ..Options::default()
        },
    )
    .await;
    let (status, body) = server.get("/ping").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(server.post("/decode", &json!({"ids": [101]})).await.0, 401);
}

#[tokio::test]
async fn tei_limits_bound_inputs_and_turn_truncation_off_by_default() {
    let server = TestServer::start(
        &format!("{MINILM} minilm\n"),
        offline_hub(&test_hf_cache()),
        Options {
            limits: Limits {
                max_inputs: 2,
                auto_truncate: false,
                ..Limits::default()
            },
            ..Options::default()
        },
    )
    .await;
    let (status, error) = server.post("/embed", &json!({"inputs": ["a", "b", "c"]})).await;
    assert_eq!(
        (status, error["error_type"].as_str()),
        (422, Some("Validation")),
        "TEI answers too many inputs with 422, though its spec documents 413: {error}"
    );
    assert_eq!(server.post("/embed", &json!({"inputs": ["a", "b"]})).await.0, 200);
    let long = "word ".repeat(600);
    let (status, error) = server.post("/embed", &json!({"inputs": long})).await;
    assert_eq!(status, 422, "--auto-truncate false: {error}");
    assert_eq!(
        server
            .post("/embed", &json!({"inputs": long, "truncate": true}))
            .await
            .0,
        200
    );
    let (_, info) = server.get("/info").await;
    assert_eq!(
        (info["max_client_batch_size"].as_u64(), info["auto_truncate"].as_bool()),
        (Some(2), Some(false))
    );
}
