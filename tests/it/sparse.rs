//! Sparse (SPLADE) models through HTTP: TEI's `/embed_sparse` and the OpenAI route against
//! sentence-transformers' `SparseEncoder.encode` for every sparse fixture (BERT max / relu,
//! ModernBERT with `max_active_dims`, DistilBERT sum / log1p_relu with a query prompt), batch
//! invariance, the options, and the kind checks both ways.

use crate::common;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use common::{fixtures_dir, offline_hub, pipeline_dir, scratch_dir, Options, TestServer};

/// Each sparse fixture, its folder under tests/fixtures and its alias.
const SPARSE: [(&str, &str); 3] = [
    ("rerank/tiny-splade", "splade"),
    ("sparse/tiny-modernbert-splade", "modernbert-splade"),
    ("sparse/tiny-distilbert-splade", "distilbert-splade"),
];

async fn server() -> TestServer {
    let mut file = String::new();
    for (dir, alias) in SPARSE {
        file.push_str(&format!("{} {alias}\n", fixtures_dir().join(dir).display()));
    }
    file.push_str(&format!(
        "{} router-splade\n",
        fixtures_dir().join("sparse/tiny-router-splade").display()
    ));
    file.push_str(&format!("{} embedder\n", pipeline_dir("tiny-bert-cls").display()));
    TestServer::start(&file, offline_hub(&scratch_dir("empty-cache")), Options::default()).await
}

struct Row {
    text: String,
    prompt_name: Option<String>,
    route: Option<String>,
    tokens: u64,
    vector: BTreeMap<u32, f32>,
}

fn rows(dir: &str) -> Vec<Row> {
    let path = fixtures_dir().join(format!("{dir}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("row");
            let indices = row["indices"].as_array().expect("indices");
            let values = row["values"].as_array().expect("values");
            Row {
                text: row["text"].as_str().expect("text").to_owned(),
                prompt_name: row["prompt_name"].as_str().map(str::to_owned),
                route: row["route"].as_str().map(str::to_owned),
                tokens: row["tokens"].as_u64().expect("tokens"),
                vector: indices
                    .iter()
                    .zip(values)
                    .map(|(i, v)| (i.as_u64().expect("index") as u32, v.as_f64().expect("value") as f32))
                    .collect(),
            }
        })
        .collect()
}

/// `[[{index, value}]]` as one map per input.
fn tei_vectors(body: &Value) -> Vec<BTreeMap<u32, f32>> {
    body.as_array()
        .unwrap_or_else(|| panic!("array of vectors: {body}"))
        .iter()
        .map(|vector| {
            let entries = vector.as_array().expect("entries");
            let indices: Vec<u64> = entries.iter().map(|e| e["index"].as_u64().expect("index")).collect();
            assert!(indices.windows(2).all(|w| w[0] < w[1]), "indices ascend: {indices:?}");
            entries
                .iter()
                .map(|e| {
                    (
                        e["index"].as_u64().expect("index") as u32,
                        e["value"].as_f64().expect("value") as f32,
                    )
                })
                .collect()
        })
        .collect()
}

/// The same vector: every value within `tolerance`, an entry absent on one side counting as 0.
/// Only entries that small may be present on one side alone: a logit within float32 rounding
/// of zero gives log1p of a few 1e-8 on one side and nothing on the other.
fn assert_same(got: &BTreeMap<u32, f32>, want: &BTreeMap<u32, f32>, tolerance: f32, what: &str) {
    let indices: std::collections::BTreeSet<&u32> = got.keys().chain(want.keys()).collect();
    let mut one_sided = 0;
    for index in indices {
        let (a, b) = (got.get(index), want.get(index));
        one_sided += usize::from(a.is_none() || b.is_none());
        let (a, b) = (a.copied().unwrap_or(0.0), b.copied().unwrap_or(0.0));
        assert!((a - b).abs() <= tolerance, "{what}: index {index} is {a} not {b}");
    }
    assert!(one_sided <= 2, "{what}: {one_sided} indices on one side only");
}

#[tokio::test]
async fn every_sparse_fixture_matches_sentence_transformers_in_a_batch_and_alone() {
    let server = server().await;
    for (dir, alias) in SPARSE {
        let rows = rows(dir);
        let mut by_prompt: BTreeMap<Option<String>, Vec<&Row>> = BTreeMap::new();
        for row in &rows {
            by_prompt.entry(row.prompt_name.clone()).or_default().push(row);
        }
        for (prompt_name, rows) in by_prompt {
            let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
            let mut body = json!({"model": alias, "inputs": texts});
            if let Some(name) = &prompt_name {
                body["prompt_name"] = json!(name);
            }
            let (status, answer) = server.post("/embed_sparse", &body).await;
            assert_eq!(status, 200, "{alias}: {answer}");
            let batch = tei_vectors(&answer);
            assert_eq!(batch.len(), rows.len());
            for (row, vector) in rows.iter().zip(&batch) {
                let what = format!("{alias} {prompt_name:?} {:?}", &row.text[..row.text.len().min(30)]);
                assert_same(vector, &row.vector, 1e-5, &what);
            }
            // Each text alone gives what it gave in the batch.
            for (row, in_batch) in rows.iter().zip(&batch).take(6) {
                body["inputs"] = json!(row.text);
                let (status, answer) = server.post("/embed_sparse", &body).await;
                assert_eq!(status, 200, "{answer}");
                assert_same(&tei_vectors(&answer)[0], in_batch, 1e-6, &format!("{alias}: alone"));
            }
            // The OpenAI route gives the same vectors as indices and values, with the tokens
            // the model read.
            let mut request = json!({"model": alias, "input": texts});
            if let Some(name) = &prompt_name {
                request["prompt_name"] = json!(name);
            }
            let (status, answer) = server.embed(request).await;
            assert_eq!(status, 200, "{answer}");
            let data = answer["data"].as_array().expect("data");
            for ((item, row), in_batch) in data.iter().zip(&rows).zip(&batch) {
                let embedding = &item["embedding"];
                let dimensions = embedding["dimensions"].as_u64().expect("dimensions") as u32;
                let vector: BTreeMap<u32, f32> = embedding["indices"]
                    .as_array()
                    .expect("indices")
                    .iter()
                    .zip(embedding["values"].as_array().expect("values"))
                    .map(|(i, v)| (i.as_u64().expect("index") as u32, v.as_f64().expect("value") as f32))
                    .collect();
                assert_eq!(&vector, in_batch, "{alias}: /v1/embeddings and /embed_sparse agree");
                assert!(
                    vector.keys().all(|&i| i < dimensions),
                    "{alias}: indices below {dimensions}"
                );
                assert_eq!(item["object"], "embedding");
                assert!(!row.vector.is_empty());
            }
            let tokens: u64 = rows.iter().map(|r| r.tokens).sum();
            assert_eq!(
                answer["usage"]["prompt_tokens"],
                json!(tokens),
                "{alias}: tokens as the references count them"
            );
        }
    }
}

#[tokio::test]
async fn an_inference_free_model_looks_queries_up_and_runs_documents() {
    let server = server().await;
    let rows = rows("sparse/tiny-router-splade");
    for route in ["document", "query"] {
        let rows: Vec<&Row> = rows.iter().filter(|r| r.route.as_deref() == Some(route)).collect();
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        // Cohere's names for the two, and the route's name itself.
        for input_type in [route.to_owned(), format!("search_{route}")] {
            let (status, answer) = server
                .post(
                    "/embed_sparse",
                    &json!({"model": "router-splade", "inputs": texts, "input_type": input_type}),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            for (row, vector) in rows.iter().zip(tei_vectors(&answer)) {
                assert_same(&vector, &row.vector, 1e-5, &format!("{input_type}: {:?}", row.text));
            }
        }
        let (status, answer) = server
            .embed(json!({"model": "router-splade", "input": texts, "input_type": route}))
            .await;
        assert_eq!(status, 200, "{answer}");
        let tokens: u64 = rows.iter().map(|r| r.tokens).sum();
        assert_eq!(
            answer["usage"]["prompt_tokens"],
            json!(tokens),
            "{route}: the tokens that route reads"
        );
    }
    // No input_type: the Router's default route (document); a prompt_name naming a route takes it.
    let row = rows
        .iter()
        .find(|r| r.route.as_deref() == Some("document"))
        .expect("a document row");
    let (_, answer) = server
        .post("/embed_sparse", &json!({"model": "router-splade", "inputs": row.text}))
        .await;
    assert_same(&tei_vectors(&answer)[0], &row.vector, 1e-5, "the default route");
    let row = rows
        .iter()
        .find(|r| r.route.as_deref() == Some("query"))
        .expect("a query row");
    let (_, answer) = server
        .post(
            "/embed_sparse",
            &json!({"model": "router-splade", "inputs": row.text, "prompt_name": "query"}),
        )
        .await;
    assert_same(&tei_vectors(&answer)[0], &row.vector, 1e-5, "prompt_name query");
    let (status, answer) = server
        .post(
            "/embed_sparse",
            &json!({"model": "router-splade", "inputs": "x", "input_type": "classification"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("\"query\"")),
        "{answer}"
    );
    let (status, _) = server
        .post(
            "/embed_sparse",
            &json!({"model": "router-splade", "inputs": [[101, 7592, 102]], "input_type": "query"}),
        )
        .await;
    assert_eq!(
        status, 422,
        "token ids cannot be looked up in another tokenizer's table"
    );
}

#[tokio::test]
async fn max_active_dims_keeps_the_largest_values() {
    let server = server().await;
    let row = &rows("rerank/tiny-splade")[3];
    let (status, answer) = server
        .post(
            "/embed_sparse",
            &json!({"model": "splade", "inputs": [row.text], "max_active_dims": 10}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut largest: Vec<(u32, f32)> = row.vector.iter().map(|(&i, &v)| (i, v)).collect();
    largest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let want: BTreeMap<u32, f32> = largest.into_iter().take(10).collect();
    assert_same(&tei_vectors(&answer)[0], &want, 1e-5, "top 10");
    // The model's own max_active_dims (40) applies unless a request asks for more or fewer.
    let (_, answer) = server
        .post(
            "/embed_sparse",
            &json!({"model": "modernbert-splade", "inputs": ["a rather long text with many words in it to fill the vocabulary up"], "max_active_dims": 1000}),
        )
        .await;
    let (_, capped) = server
        .post(
            "/embed_sparse",
            &json!({"model": "modernbert-splade", "inputs": ["a rather long text with many words in it to fill the vocabulary up"]}),
        )
        .await;
    let (all, capped) = (&tei_vectors(&answer)[0], &tei_vectors(&capped)[0]);
    assert!(all.len() > 40, "{} active without the cap", all.len());
    assert_eq!(capped.len(), 40);
    for bad in [json!(0), json!(-1), json!("ten"), json!(1.5)] {
        let (status, answer) = server
            .post(
                "/embed_sparse",
                &json!({"model": "splade", "inputs": "x", "max_active_dims": bad}),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains("max_active_dims")),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn sparse_and_dense_routes_take_only_their_kind() {
    let server = server().await;
    let (status, answer) = server
        .post("/embed_sparse", &json!({"model": "embedder", "inputs": "hello"}))
        .await;
    assert_eq!(status, 424, "TEI's status for a model of the wrong kind: {answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("an embedding model") && e.contains("a sparse")),
        "{answer}"
    );
    for (path, body) in [
        ("/embed", json!({"model": "splade", "inputs": "hello"})),
        ("/api/embed", json!({"model": "splade", "input": "hello"})),
        (
            "/v2/embed",
            json!({"model": "splade", "texts": ["hello"], "input_type": "search_query", "embedding_types": ["float"]}),
        ),
    ] {
        let (status, answer) = server.post(path, &body).await;
        // TEI's route answers a model of the wrong kind with 424, the others with 400.
        let wanted = if path == "/embed" { 424 } else { 400 };
        assert_eq!(status, wanted, "{path}: {answer}");
        assert!(answer.to_string().contains("a sparse model"), "{path}: {answer}");
    }
    // Options that only dense vectors have.
    let (status, answer) = server
        .embed(json!({"model": "splade", "input": "hello", "encoding_format": "base64"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "encoding_format");
    let (status, answer) = server
        .embed(json!({"model": "splade", "input": "hello", "dimensions": 8}))
        .await;
    assert_eq!(
        (status, answer["error"]["param"].clone()),
        (400, json!("dimensions")),
        "{answer}"
    );
    let (status, answer) = server
        .embed(json!({"model": "embedder", "input": "hello", "max_active_dims": 8}))
        .await;
    assert_eq!(
        (status, answer["error"]["param"].clone()),
        (400, json!("max_active_dims")),
        "{answer}"
    );
    // A body that names no model gets the first sparse model; /v1/models says what each is.
    let (status, answer) = server.post("/embed_sparse", &json!({"inputs": "hello"})).await;
    assert_eq!(status, 200, "{answer}");
    let (_, list) = server.get("/v1/models").await;
    let card = |alias: &str| {
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|m| m["aliases"][0] == alias)
            .cloned()
            .unwrap_or_else(|| panic!("{alias} listed: {list}"))
    };
    assert_eq!(card("splade")["kind"], "sparse");
    assert_eq!(card("splade")["pipeline"]["sparse"]["pooling_strategy"], "max");
    assert_eq!(
        card("distilbert-splade")["pipeline"]["sparse"]["activation_function"],
        "log1p_relu"
    );
    assert_eq!(card("modernbert-splade")["pipeline"]["sparse"]["max_active_dims"], 40);
    assert_eq!(card("embedder")["kind"], "embedding");
    let (_, info) = server.get("/info").await;
    assert_eq!(info["model_type"]["embedding"]["pooling"], "splade", "{info}");
}

#[tokio::test]
async fn sparse_inputs_are_truncated_or_refused_as_dense_ones_are() {
    let server = server().await;
    let long = "word ".repeat(500);
    let (status, answer) = server
        .post(
            "/embed_sparse",
            &json!({"model": "splade", "inputs": long, "truncate": false}),
        )
        .await;
    assert_eq!(status, 422, "TEI's validation error: {answer}");
    let (status, answer) = server
        .post("/embed_sparse", &json!({"model": "splade", "inputs": long}))
        .await;
    assert_eq!(status, 200, "{answer}");
    for (body, status) in [
        (json!({"model": "splade", "inputs": []}), 400),
        (json!({"model": "splade"}), 422),
        (json!({"model": "splade", "inputs": "x", "prompt_name": "nope"}), 422),
        (json!({"model": "nope", "inputs": "x"}), 404),
    ] {
        let (got, answer) = server.post("/embed_sparse", &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error_type"].is_string(), "TEI's error shape: {answer}");
    }
}

#[test]
fn sparse_models_the_service_cannot_run_exactly_are_refused_at_start() {
    let splade = fixtures_dir().join("rerank").join("tiny-splade");
    let change = |file: &str, from: &'static str, to: &'static str| {
        common::altered_copy_of(&splade, file, move |text| {
            assert!(text.contains(from), "{file} has no {from}");
            text.replace(from, to)
        })
    };
    let cases = [
        (
            change("1_SpladePooling/config.json", "\"max\"", "\"mean\""),
            "pooling_strategy",
        ),
        (
            change("1_SpladePooling/config.json", "\"relu\"", "\"softplus\""),
            "activation_function",
        ),
        (
            change(
                "modules.json",
                "splade_pooling.SpladePooling",
                "sparse_auto_encoder.SparseAutoEncoder",
            ),
            "SparseAutoEncoder",
        ),
        (change("config.json", "BertForMaskedLM", "BertModel"), "ForMaskedLM"),
        (
            change("config.json", "\"bert\"", "\"roberta\""),
            "masked-LM head on roberta",
        ),
        (
            change("sentence_bert_config.json", "fill-mask", "feature-extraction"),
            "transformer_task",
        ),
    ];
    for (dir, key) in cases {
        common::assert_refused(&dir, "", key);
    }
    // A Router whose routes are other than a SPLADE one and a looked-up one.
    let router = fixtures_dir().join("sparse").join("tiny-router-splade");
    let copy = common::altered_copy_of(&router, "router_config.json", |text| {
        text.replace(
            "sparse_static_embedding.SparseStaticEmbedding",
            "sparse_auto_encoder.SparseAutoEncoder",
        )
    });
    common::assert_refused(&copy, "", "route \"query\"");
}
