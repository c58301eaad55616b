//! What the rerank routes refuse, in each dialect's shape, and how they hold up: empty and
//! malformed fields, the documents limit, over-long inputs under `truncate: false`, truncation
//! of long documents, Cohere's `max_tokens_per_doc`, and a large request beside a small one.

use crate::common;

use std::time::Instant;

use common::rerank::{rows, scores_by_index, server, RERANKERS};
use common::{altered_copy_of, assert_refused, fixtures_dir, Options};
use embeddings::service::Limits;
use serde_json::{json, Value};

#[tokio::test]
async fn malformed_rerank_bodies_are_client_errors_in_each_dialect() {
    let server = server(Options::default()).await;
    let tei = [
        json!({"model": "bert-rr", "query": "q", "texts": []}),
        json!({"model": "bert-rr", "query": "q", "texts": ["a", 3]}),
        json!({"model": "bert-rr", "query": 5, "texts": ["a"]}),
        json!({"model": "bert-rr", "texts": ["a"]}),
        json!({"model": "bert-rr", "query": "q", "texts": ["a"], "raw_scores": "yes"}),
        json!({"model": "bert-rr", "query": "q", "texts": ["a"], "truncation_direction": "middle"}),
    ];
    for body in tei {
        let (status, answer) = server.post("/rerank", &body).await;
        assert!(matches!(status, 400 | 422), "{body}: {status} {answer}");
        assert!(
            answer["error"].is_string() && answer["error_type"].is_string(),
            "TEI's shape: {answer}"
        );
    }
    let cohere = [
        json!({"model": "bert-rr", "query": "q", "documents": []}),
        json!({"model": "bert-rr", "query": "q", "documents": [{"title": "no text"}]}),
        json!({"model": "bert-rr", "query": "q", "documents": ["a"], "top_n": 0}),
        json!({"model": "bert-rr", "query": "q", "documents": ["a"], "top_n": -2}),
        json!({"model": "bert-rr", "query": ["q"], "documents": ["a"]}),
        json!({"model": "bert-rr", "query": "q", "documents": "a"}),
        json!({"model": "no-such-model", "query": "q", "documents": ["a"]}),
    ];
    for path in ["/v1/rerank", "/v2/rerank"] {
        for body in &cohere {
            let (status, answer) = server.post(path, body).await;
            assert!(matches!(status, 400 | 404), "{path} {body}: {status} {answer}");
            assert!(answer["message"].is_string(), "Cohere's shape: {answer}");
        }
    }
    // v2 takes strings only.
    let (status, _) = server
        .post(
            "/v2/rerank",
            &json!({"model": "bert-rr", "query": "q", "documents": [{"text": "a"}]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, answer) = server
        .post("/v1/score", &json!({"model": "bert-rr", "text_1": "q"}))
        .await;
    assert_eq!(status, 400);
    assert!(answer["error"]["message"].is_string(), "OpenAI's shape: {answer}");
    let (status, answer) = server.post_raw("/v1/rerank", "{\"query\": ").await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn more_documents_than_the_limit_are_refused() {
    let limits = Limits {
        max_rerank_documents: 10,
        ..Limits::default()
    };
    let server = server(Options {
        limits,
        ..Options::default()
    })
    .await;
    let documents: Vec<String> = (0..11).map(|i| format!("document {i}")).collect();
    let (status, answer) = server
        .post(
            "/v2/rerank",
            &json!({"model": "bert-rr", "query": "q", "documents": documents}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().is_some_and(|m| m.contains("limit is 10")),
        "{answer}"
    );
    let (status, answer) = server
        .post(
            "/rerank",
            &json!({"model": "bert-rr", "query": "q", "texts": documents}),
        )
        .await;
    assert_eq!((status, answer["error_type"].as_str()), (422, Some("Validation")));
    let (status, _) = server
        .post(
            "/rerank",
            &json!({"model": "bert-rr", "query": "q", "texts": &documents[..10]}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn long_documents_are_truncated_unless_truncation_is_off() {
    let server = server(Options::default()).await;
    for (name, alias) in RERANKERS {
        let row = &rows(name)[0];
        let long = row["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .find(|d| d.as_str().is_some_and(|d| d.len() > 1000))
            .cloned()
            .expect("the fixture's long document");
        let body = json!({"model": alias, "query": row["query"], "texts": [long], "truncate": false});
        let (status, answer) = server.post("/rerank", &body).await;
        assert_eq!(status, 422, "{name}: {answer}");
        assert_eq!(answer["error_type"], "Validation");
        // Truncated at the right (sentence-transformers' way) or the left: different tokens.
        let right = json!({"model": alias, "query": row["query"], "texts": [long], "raw_scores": true});
        let left = json!({"model": alias, "query": row["query"], "texts": [long], "raw_scores": true,
            "truncation_direction": "left"});
        let right = scores_by_index(&server.post("/rerank", &right).await.1);
        let left = scores_by_index(&server.post("/rerank", &left).await.1);
        assert_ne!(right, left, "{name}");
        // A document far longer than the body of one is cut the same way (a part at a time).
        let huge = format!("{} {}", long.as_str().expect("text"), "filler words ".repeat(20_000));
        let body = json!({"model": alias, "query": row["query"], "texts": [huge], "raw_scores": true});
        let (status, answer) = server.post("/rerank", &body).await;
        assert_eq!(status, 200, "{answer}");
        assert!((scores_by_index(&answer)[0] - right[0]).abs() <= 1e-6, "{name}");
    }
}

#[tokio::test]
async fn max_tokens_per_doc_cuts_each_document_first() {
    let server = server(Options::default()).await;
    let text = "the quick brown fox jumps over the lazy dog";
    let tokens = |body: &Value| body["usage"]["total_tokens"].as_u64().expect("usage");
    let whole = server
        .post(
            "/v2/rerank",
            &json!({"model": "bert-rr", "query": "q", "documents": [text]}),
        )
        .await
        .1;
    let cut = server
        .post(
            "/v2/rerank",
            &json!({"model": "bert-rr", "query": "q", "documents": [text], "max_tokens_per_doc": 3}),
        )
        .await
        .1;
    assert_eq!(tokens(&whole) - tokens(&cut), 6, "{whole} {cut}");
}

#[tokio::test]
async fn a_thousand_documents_do_not_hold_up_a_small_request() {
    let server = server(Options::default()).await;
    let row = &rows(RERANKERS[0].0)[0];
    let long = row["documents"][1].clone();
    let documents = vec![long; 1000];
    let body = json!({"model": "bert-rr", "query": row["query"], "texts": documents});
    let big = server.post("/rerank", &body);
    let small = async {
        // Let the large request reach the engine first.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let started = Instant::now();
        let (status, _) = server
            .post(
                "/rerank",
                &json!({"model": "bert-rr", "query": "q", "texts": ["a short document"]}),
            )
            .await;
        assert_eq!(status, 200);
        Instant::now().duration_since(started)
    };
    let started = Instant::now();
    let ((status, answer), small_took) = tokio::join!(big, small);
    let big_took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(answer.as_array().map(Vec::len), Some(1000));
    assert!(
        small_took * 4 < big_took,
        "the small request took {small_took:?}, the thousand documents {big_took:?}"
    );
}

#[test]
fn what_a_scoring_model_asks_for_that_is_not_run_stops_the_start() {
    let bert = fixtures_dir().join("rerank").join(RERANKERS[0].0);
    let softmax = altered_copy_of(&bert, "config.json", |t| {
        t.replace(
            "torch.nn.modules.linear.Identity",
            "torch.nn.modules.activation.Softmax",
        )
    });
    assert_refused(&softmax, "", "activation_fn");
    let qwen = fixtures_dir().join("rerank").join(RERANKERS[3].0);
    let untemplated = altered_copy_of(&qwen, "config.json", |t| t);
    std::fs::remove_file(untemplated.join("chat_template.jinja")).expect("removed");
    assert_refused(&untemplated, "", "chat template");
    let broken = altered_copy_of(&qwen, "chat_template.jinja", |t| format!("{t}{{% if %}}"));
    assert_refused(&broken, "", "chat_template");
    let pooled = altered_copy_of(&bert, "config.json", |t| t);
    assert_refused(&pooled, "pooling=cls", "pooling=");
}

#[tokio::test]
async fn a_megabytes_long_query_is_read_once_for_all_its_documents() {
    let server = server(Options::default()).await;
    // Both the query and every document are far over the model's limit: the query is cut (and
    // counted) once, not once per document.
    let query = "the quick brown fox ".repeat(50_000);
    let documents: Vec<String> = (0..100).map(|i| format!("document {i} ").repeat(400)).collect();
    for (alias, path) in [("bert-rr", "/rerank"), ("qwen3-rr", "/rerank")] {
        let body = json!({"model": alias, "query": query, "texts": documents});
        let (status, answer) = server.post(path, &body).await;
        assert_eq!(status, 200, "{alias}: {answer}");
        assert_eq!(answer.as_array().map(Vec::len), Some(100));
    }
}
