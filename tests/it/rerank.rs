//! Reranking and classification through HTTP on the tiny scoring fixtures of
//! `tests/fixtures/rerank/` (BERT, XLM-R and ModernBERT cross-encoders, a Qwen3 LLM reranker,
//! a three-label classifier): sentence-transformers' `CrossEncoder.predict` scores with and
//! without the model's activation, the tokens it reads, batch invariance, and each dialect's
//! answer (TEI, Cohere v1 and v2, Jina / vLLM, vLLM's score).

use crate::common;

use common::rerank::{floats, rows, scores_by_index, server, tei_ranks, CLASSIFIER, RERANKERS};
use common::{max_abs_diff, Options};
use serde_json::{json, Value};

#[tokio::test]
async fn every_reranker_scores_as_sentence_transformers_does() {
    let server = server(Options::default()).await;
    for (name, alias) in RERANKERS {
        for row in rows(name) {
            let documents = row["documents"].clone();
            for (raw, key) in [(false, "scores"), (true, "raw_scores")] {
                let body = json!({"model": alias, "query": row["query"], "texts": documents, "raw_scores": raw});
                let (status, answer) = server.post("/rerank", &body).await;
                assert_eq!(status, 200, "{name}: {answer}");
                let got = scores_by_index(&answer);
                let want = floats(&row[key]);
                assert!(max_abs_diff(&got, &want) <= 1e-5, "{name} {key}: {got:?} vs {want:?}");
                let ranks = tei_ranks(&answer);
                assert!(ranks.windows(2).all(|w| w[0].1 >= w[1].1), "{name}: sorted by score");
            }
            // The tokens it reads: the truncated pairs' lengths, summed.
            let body = json!({"model": alias, "query": row["query"], "documents": documents});
            let (status, answer) = server.post("/v1/rerank", &body).await;
            assert_eq!(status, 200, "{name}: {answer}");
            let tokens: u64 = row["tokens"]
                .as_array()
                .expect("tokens")
                .iter()
                .filter_map(Value::as_u64)
                .sum();
            assert_eq!(answer["usage"]["total_tokens"].as_u64(), Some(tokens), "{name}");
        }
    }
}

#[tokio::test]
async fn a_pair_scores_the_same_alone_and_inside_a_padded_batch() {
    let server = server(Options::default()).await;
    for (name, alias) in RERANKERS {
        let row = &rows(name)[0];
        let body = json!({"model": alias, "query": row["query"], "texts": row["documents"], "raw_scores": true});
        let together = scores_by_index(&server.post("/rerank", &body).await.1);
        for (i, document) in row["documents"].as_array().expect("documents").iter().enumerate() {
            let body = json!({"model": alias, "query": row["query"], "texts": [document], "raw_scores": true});
            let alone = scores_by_index(&server.post("/rerank", &body).await.1);
            assert!(
                (alone[0] - together[i]).abs() <= 1e-6,
                "{name} document {i}: {} vs {}",
                alone[0],
                together[i]
            );
        }
    }
}

#[tokio::test]
async fn the_classifier_gives_tei_probabilities_and_logits() {
    let server = server(Options::default()).await;
    let labels = ["negative", "neutral", "positive"];
    let references = rows(CLASSIFIER.0);
    for row in &references {
        for (raw, key) in [(false, "probabilities"), (true, "logits")] {
            let body = json!({"model": CLASSIFIER.1, "inputs": row["text"], "raw_scores": raw});
            let (status, answer) = server.post("/predict", &body).await;
            assert_eq!(status, 200, "{answer}");
            let predictions = answer.as_array().expect("one list for one text");
            assert_eq!(predictions.len(), 3);
            let want = floats(&row[key]);
            for prediction in predictions {
                let label = prediction["label"].as_str().expect("label");
                let index = labels.iter().position(|l| *l == label).expect("a known label");
                let score = prediction["score"].as_f64().expect("score") as f32;
                assert!(
                    (score - want[index]).abs() <= 1e-5,
                    "{label}: {score} vs {}",
                    want[index]
                );
            }
            let scores: Vec<f64> = predictions.iter().filter_map(|p| p["score"].as_f64()).collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by score");
        }
    }
    // A batch of texts and pairs, as TEI reads one ([string] or [string, string] each): one list
    // per input, the texts' as alone.
    let batch = json!({"model": CLASSIFIER.1, "inputs": [[references[0]["text"]], ["a question", "an answer"], [references[1]["text"]]]});
    let (status, answer) = server.post("/predict", &batch).await;
    assert_eq!(status, 200, "{answer}");
    let lists = answer.as_array().expect("a list per input");
    assert_eq!(lists.len(), 3);
    let top = |list: &Value| list[0]["score"].as_f64().expect("score") as f32;
    let want = floats(&references[1]["probabilities"])
        .into_iter()
        .fold(f32::MIN, f32::max);
    assert!((top(&lists[2]) - want).abs() <= 1e-5);
    // A pair alone is one input, answered with one list.
    let (status, pair) = server
        .post("/predict", &json!({"model": CLASSIFIER.1, "inputs": ["a", "b"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(pair.as_array().map(Vec::len), Some(3));
    // A reranker predicts too: its one label, through its own activation.
    let row = &rows(RERANKERS[1].0)[0];
    let body = json!({"model": RERANKERS[1].1, "inputs": [row["query"], row["documents"][0]]});
    let (status, answer) = server.post("/predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["label"], "LABEL_0");
    let score = answer[0]["score"].as_f64().expect("score") as f32;
    assert!((score - floats(&row["scores"])[0]).abs() <= 1e-5);
}

#[tokio::test]
async fn cohere_jina_and_vllm_shapes_carry_the_same_scores() {
    let server = server(Options::default()).await;
    let (name, alias) = RERANKERS[2];
    let row = &rows(name)[0];
    let want = floats(&row["scores"]);
    let documents = row["documents"].clone();
    let best = (0..want.len())
        .max_by(|&a, &b| want[a].total_cmp(&want[b]))
        .expect("documents");

    // Cohere v2: top_n, no documents back, meta.
    let (status, v2) = server
        .post(
            "/v2/rerank",
            &json!({"model": alias, "query": row["query"], "documents": documents, "top_n": 2}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(v2["results"][0]["index"].as_u64(), Some(best as u64));
    assert!(v2["results"][0].get("document").is_none());
    assert!(v2["id"].is_string() && v2["meta"]["api_version"]["version"] == "2");
    let score = v2["results"][0]["relevance_score"].as_f64().expect("score") as f32;
    assert!((score - want[best]).abs() <= 1e-5);

    // Cohere v1: `{text}` objects, documents back when asked; Jina's model and usage beside.
    let objects: Vec<Value> = documents
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| json!({"text": d}))
        .collect();
    let body = json!({"model": alias, "query": row["query"], "documents": objects, "return_documents": true});
    let (status, v1) = server.post("/v1/rerank", &body).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["results"].as_array().map(Vec::len), Some(want.len()));
    assert_eq!(v1["results"][0]["document"]["text"], documents[best]);
    assert_eq!(v1["model"], alias);
    assert!(v1["usage"]["total_tokens"].as_u64().is_some_and(|t| t > 0));

    // vLLM's /rerank (documents, not texts): documents back by default.
    let (status, vllm) = server
        .post(
            "/rerank",
            &json!({"model": alias, "query": row["query"], "documents": documents}),
        )
        .await;
    assert_eq!(status, 200, "{vllm}");
    assert_eq!(vllm["results"][0]["document"]["text"], documents[best]);

    // vLLM's score: one to many, in text_2's order; one to one.
    let (status, scored) = server
        .post(
            "/v1/score",
            &json!({"model": alias, "text_1": row["query"], "text_2": documents}),
        )
        .await;
    assert_eq!(status, 200, "{scored}");
    let got: Vec<f32> = scored["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["score"].as_f64().expect("score") as f32)
        .collect();
    assert!(max_abs_diff(&got, &want) <= 1e-5);
    assert_eq!(scored["object"], "list");
    let (status, one) = server
        .post(
            "/score",
            &json!({"model": alias, "text_1": [row["query"], row["query"]], "text_2": [documents[0], documents[1]]}),
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert!((one["data"][1]["score"].as_f64().expect("score") as f32 - want[1]).abs() <= 1e-5);
    let (status, _) = server
        .post(
            "/score",
            &json!({"model": alias, "text_1": ["a", "b"], "text_2": ["c", "d", "e"]}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn models_say_what_they_are_and_routes_take_only_their_kind() {
    let server = server(Options::default()).await;
    let (_, list) = server.get("/v1/models").await;
    let card = |id: &str| {
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|m| m["id"].as_str().is_some_and(|i| i.ends_with(id)) || m["aliases"][0] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    assert_eq!(card("bert-rr")["kind"], "reranker");
    assert_eq!(card("qwen3-rr")["pipeline"]["scoring"]["input"], "chat_template");
    assert_eq!(card("bert-cls")["kind"], "classifier");
    assert_eq!(card("bert-cls")["labels"], json!(["negative", "neutral", "positive"]));
    assert_eq!(card("embedder")["kind"], "embedding");
    // TEI's /info describes the first model, a reranker, as TEI does.
    let (_, info) = server.get("/info").await;
    assert_eq!(info["model_type"]["reranker"]["id2label"]["0"], "LABEL_0");

    let (status, body) = server
        .post("/rerank", &json!({"model": "embedder", "query": "q", "texts": ["d"]}))
        .await;
    assert_eq!(status, 424, "TEI's status for a model of the wrong kind: {body}");
    assert_eq!(body["error_type"], "Backend", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("an embedding model")),
        "{body}"
    );
    let (status, body) = server.embed(json!({"model": "bert-rr", "input": "hello"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("a reranker model")),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/v2/rerank",
            &json!({"model": "bert-cls", "query": "q", "documents": ["d"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|e| e.contains("a classifier model")),
        "{body}"
    );
    // An LLM reranker scores pairs only.
    let (status, _) = server
        .post("/predict", &json!({"model": "qwen3-rr", "inputs": "one text"}))
        .await;
    assert_eq!(status, 422);
    // A body that names no model gets the first of the kind its route needs.
    let (status, answer) = server.post("/predict", &json!({"inputs": "a text"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer.as_array().map(Vec::len), Some(3), "the classifier answered");
    let (status, _) = server.post("/rerank", &json!({"query": "q", "texts": ["d"]})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn scoring_is_counted_in_the_metrics() {
    let server = server(Options::default()).await;
    let labels = [("task", "rerank")];
    let before = server.metric_sum("embeddings_rerank_pairs_total", &labels).await;
    let (status, _) = server
        .post(
            "/v2/rerank",
            &json!({"model": "xlmr-rr", "query": "q", "documents": ["a", "b", "c"]}),
        )
        .await;
    assert_eq!(status, 200);
    let after = server.metric_sum("embeddings_rerank_pairs_total", &labels).await;
    assert!(after - before >= 3.0, "{before} -> {after}");
}
