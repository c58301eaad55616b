//! The HTTP API end to end on a tiny random BERT: every input form, every error, encodings,
//! `dimensions`, usage counts, concurrency and backpressure.

use crate::common;

use base64::Engine as _;
use common::tiny::{TINY_HIDDEN, TINY_MAX_TOKENS};
use common::{assert_openai_error, max_abs_diff, vectors, Options, TestServer};
use embeddings::engine::EngineConfig;
use embeddings::service::Limits;
use serde_json::{json, Value};

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test]
async fn embeds_a_string_in_openai_shape() {
    let server = TestServer::tiny(Options::default()).await;
    let (status, body) = server
        .embed(json!({"model": "tiny-alias", "input": "hello world"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "tiny-alias", "the model string is echoed as requested");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let vector = &vectors(&body)[0];
    assert_eq!(vector.len(), TINY_HIDDEN);
    assert!((norm(vector) - 1.0).abs() < 1e-5);
    // [CLS] hello world [SEP]
    assert_eq!(body["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
}

#[tokio::test]
async fn every_input_form_gives_consistent_vectors_and_usage() {
    let server = TestServer::tiny(Options::default()).await;
    let (_, single) = server
        .embed(json!({"model": "tiny", "input": "the quick brown fox"}))
        .await;
    let (_, many) = server
        .embed(json!({"model": "tiny", "input": ["the quick brown fox", "lazy dog", ""]}))
        .await;
    // Ids of "[CLS] the quick brown fox [SEP]" in the tiny vocabulary.
    let ids = json!([2, 5, 6, 7, 8, 3]);
    let (s1, one_ids) = server.embed(json!({"model": "tiny", "input": ids})).await;
    let (s2, many_ids) = server.embed(json!({"model": "tiny", "input": [ids, [2, 3]]})).await;
    assert_eq!((s1, s2), (200, 200), "{one_ids} {many_ids}");
    let reference = &vectors(&single)[0];
    assert!(max_abs_diff(reference, &vectors(&many)[0]) <= 1e-5);
    assert!(
        max_abs_diff(reference, &vectors(&one_ids)[0]) <= 1e-6,
        "token ids give the text's vector"
    );
    assert!(max_abs_diff(reference, &vectors(&many_ids)[0]) <= 1e-5);
    assert!(
        max_abs_diff(&vectors(&many)[2], &vectors(&many_ids)[1]) <= 1e-5,
        "\"\" embeds [CLS][SEP]"
    );
    assert_eq!(many["usage"]["prompt_tokens"], 6 + 4 + 2);
    assert_eq!(many_ids["usage"]["prompt_tokens"], 6 + 2);
    let indexes: Vec<u64> = many["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![0, 1, 2]);
}

#[tokio::test]
async fn long_inputs_are_truncated_and_counted_after_truncation() {
    let server = TestServer::tiny(Options::default()).await;
    let long_text = "the cat sat on the mat ".repeat(20);
    let (status, body) = server
        .embed(json!({"model": "tiny", "input": [long_text.clone(), "dog"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], TINY_MAX_TOKENS + 3);
    // The same text as ids, untruncated, ends up identical to the truncated text.
    let mut ids: Vec<u32> = vec![2];
    for _ in 0..20 {
        ids.extend([5, 25, 26, 27, 5, 28]); // the cat sat on the mat
    }
    ids.push(3);
    let (status, by_ids) = server.embed(json!({"model": "tiny", "input": ids})).await;
    assert_eq!(status, 200, "{by_ids}");
    assert_eq!(by_ids["usage"]["prompt_tokens"], TINY_MAX_TOKENS);
    assert!(max_abs_diff(&vectors(&body)[0], &vectors(&by_ids)[0]) <= 1e-6);
}

#[tokio::test]
async fn base64_round_trips_to_the_float_vector() {
    let server = TestServer::tiny(Options::default()).await;
    let (_, floats) = server
        .embed(json!({"model": "tiny", "input": ["hello", "world"]}))
        .await;
    let (status, encoded) = server
        .embed(json!({"model": "tiny", "input": ["hello", "world"], "encoding_format": "base64"}))
        .await;
    assert_eq!(status, 200, "{encoded}");
    for (item, expected) in encoded["data"].as_array().unwrap().iter().zip(vectors(&floats)) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(item["embedding"].as_str().expect("base64 string"))
            .expect("valid base64");
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, expected, "base64 carries exactly the float32 values");
    }
    let (status, explicit) = server
        .embed(json!({"model": "tiny", "input": "hello", "encoding_format": "float"}))
        .await;
    assert_eq!(status, 200);
    assert!(explicit["data"][0]["embedding"].is_array());
}

#[tokio::test]
async fn dimensions_truncate_and_renormalise() {
    let server = TestServer::tiny(Options::default()).await;
    let (_, full) = server.embed(json!({"model": "tiny", "input": "hello world"})).await;
    let (status, short) = server
        .embed(json!({"model": "tiny", "input": "hello world", "dimensions": 8}))
        .await;
    assert_eq!(status, 200, "{short}");
    let short = &vectors(&short)[0];
    let full = &vectors(&full)[0];
    assert_eq!(short.len(), 8);
    assert!((norm(short) - 1.0).abs() < 1e-5);
    let scale = norm(&full[..8]);
    for (s, f) in short.iter().zip(&full[..8]) {
        assert!((s * scale - f).abs() < 1e-6);
    }
    let (_, native) = server
        .embed(json!({"model": "tiny", "input": "hello world", "dimensions": TINY_HIDDEN}))
        .await;
    assert_eq!(&vectors(&native)[0], full, "the native size is a no-op");
    for bad in [json!(0), json!(TINY_HIDDEN + 1), json!(-1), json!("8")] {
        let (status, body) = server
            .embed(json!({"model": "tiny", "input": "x", "dimensions": bad}))
            .await;
        assert_openai_error(status, &body, 400);
        assert_eq!(body["error"]["param"], "dimensions");
    }
}

#[tokio::test]
async fn client_errors_are_openai_shaped_4xx() {
    let server = TestServer::tiny(Options::default()).await;
    let cases = [
        (json!({"model": "tiny", "input": []}), "input"),
        (json!({"model": "tiny", "input": 3}), "input"),
        (json!({"model": "tiny", "input": [true]}), "input"),
        (json!({"model": "tiny", "input": ["a", ["b"]]}), "input"),
        (json!({"model": "tiny", "input": vec!["x"; 2049]}), "input"),
        (json!({"model": "tiny", "input": [1, 2, 100000]}), "input"),
        (json!({"model": "tiny", "input": [[2, -4]]}), "input"),
        (json!({"model": "tiny"}), "input"),
        (json!({"input": "x"}), "model"),
        (
            json!({"model": "tiny", "input": "x", "encoding_format": "int8"}),
            "encoding_format",
        ),
    ];
    for (body, param) in cases {
        let (status, answer) = server.embed(body.clone()).await;
        assert_openai_error(status, &answer, 400);
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["param"], param, "{body}");
    }
}

#[tokio::test]
async fn unknown_models_are_404_model_not_found_naming_the_available_ones() {
    let server = TestServer::tiny(Options::default()).await;
    let (status, body) = server.embed(json!({"model": "gpt-embeddings-xl", "input": "x"})).await;
    assert_openai_error(status, &body, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");
    // The entry by its alias: its id is a path on the server's disk, which clients never see.
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Available models: tiny."), "{message}");
    let path = server.state.store.registry().specs()[0].id.clone();
    assert!(!message.contains(&path), "{message}");
}

#[tokio::test]
async fn malformed_bodies_routes_and_methods_get_json_errors() {
    let server = TestServer::tiny(Options::default()).await;
    let send = |builder: reqwest::RequestBuilder| async move {
        let response = builder.send().await.expect("sent");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON error body"))
    };
    let url = server.url("/v1/embeddings");
    for (content_type, body, expected) in [
        ("application/json", "{\"model\": ", 400),
        ("application/json", "[1,2]", 400),
        ("text/plain", "{\"model\":\"tiny\",\"input\":\"x\"}", 415),
    ] {
        let (status, answer) = send(server.client.post(&url).header("content-type", content_type).body(body)).await;
        assert_openai_error(status, &answer, expected);
    }
    let (status, body) = send(server.client.get(&url)).await;
    assert_openai_error(status, &body, 405);
    let (status, body) = send(server.client.get(server.url("/v1/nothing-here"))).await;
    assert_openai_error(status, &body, 404);
    assert_eq!(body["error"]["code"], "unknown_url");
    // Without /v1, as some tools send it; and without a content type at all.
    let (status, body) = send(
        server
            .client
            .post(server.url("/embeddings"))
            .body("{\"model\":\"tiny\",\"input\":\"x\"}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn body_and_token_limits_protect_the_server() {
    let limits = Limits {
        max_body_bytes: 4096,
        max_request_tokens: 50,
        ..Limits::default()
    };
    let server = TestServer::tiny(Options {
        limits,
        ..Options::default()
    })
    .await;
    let (status, body) = server.embed(json!({"model": "tiny", "input": "x".repeat(5000)})).await;
    assert_openai_error(status, &body, 413);
    let (status, body) = server
        .embed(json!({"model": "tiny", "input": vec!["the cat sat on the mat"; 10]}))
        .await;
    assert_openai_error(status, &body, 400);
    assert_eq!(body["error"]["code"], "too_many_tokens");
    let (status, _) = server
        .embed(json!({"model": "tiny", "input": vec!["the cat"; 10]}))
        .await;
    assert_eq!(status, 200, "40 tokens fit the limit of 50");
}

#[tokio::test]
async fn models_and_health_endpoints() {
    let server = TestServer::tiny(Options::default()).await;
    let models: Value = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let card = &models["data"][0];
    assert_eq!(card["object"], "model");
    assert_eq!(card["owned_by"], "local");
    assert!(card["created"].as_u64().is_some());
    assert_eq!(card["dimensions"], TINY_HIDDEN);
    assert_eq!(card["max_input_tokens"], TINY_MAX_TOKENS);
    assert_eq!(card["device"], "cpu");
    let one: Value = server
        .client
        .get(server.url("/v1/models/tiny-alias"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], card["id"]);
    let health = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn health_is_503_until_the_models_are_loaded() {
    let server = TestServer::tiny(Options {
        preload: false,
        ..Options::default()
    })
    .await;
    let health = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let models: Value = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["ready"], false);
    // A request before readiness loads the model on first use; concurrent ones share one load.
    let body = json!({"model": "tiny", "input": "hello"});
    let (a, b, c) = tokio::join!(
        server.embed(body.clone()),
        server.embed(body.clone()),
        server.embed(body.clone())
    );
    for (status, body) in [a, b, c] {
        assert_eq!(status, 200, "{body}");
    }
    let models: Value = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["ready"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_correct_vectors() {
    let server = std::sync::Arc::new(
        TestServer::tiny(Options {
            engine: EngineConfig {
                max_batch_tokens: 64,
                queue_capacity: 1024,
                workers: 2,
                threads_per_worker: 1,
                max_batch_sequences: usize::MAX,
            },
            ..Options::default()
        })
        .await,
    );
    let texts: Vec<String> = (0..48)
        .map(|i| {
            [
                "hello",
                "world",
                "the quick brown fox",
                "lazy dog jumps",
                "cat sat on the mat",
            ][i % 5]
                .repeat(1 + i % 3)
        })
        .collect();
    // Each text alone first: the reference.
    let mut alone = Vec::new();
    for text in &texts {
        let (_, body) = server.embed(json!({"model": "tiny", "input": text})).await;
        alone.push(vectors(&body).remove(0));
    }
    let tasks: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let server = std::sync::Arc::clone(&server);
            let batch = vec![text.clone(), texts[(i + 7) % texts.len()].clone()];
            tokio::spawn(async move { (i, server.embed(json!({"model": "tiny", "input": batch})).await) })
        })
        .collect();
    for task in tasks {
        let (i, (status, body)) = task.await.expect("task");
        assert_eq!(status, 200, "{body}");
        let got = vectors(&body);
        assert!(
            max_abs_diff(&got[0], &alone[i]) <= 1e-5,
            "request {i} got someone else's vector"
        );
        assert!(max_abs_diff(&got[1], &alone[(i + 7) % texts.len()]) <= 1e-5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_429_with_retry_after_instead_of_hanging() {
    let server = std::sync::Arc::new(
        TestServer::tiny(Options {
            engine: EngineConfig {
                max_batch_tokens: 256,
                queue_capacity: 1,
                workers: 2,
                threads_per_worker: 1,
                max_batch_sequences: usize::MAX,
            },
            ..Options::default()
        })
        .await,
    );
    // Distinct texts: repeats inside one request are computed once.
    let heavy: Vec<String> = (0..2048)
        .map(|i| format!("the quick brown fox jumps over the lazy dog and the cat sat on the mat {i}"))
        .collect();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            let heavy = heavy.clone();
            tokio::spawn(async move {
                let response = server
                    .client
                    .post(server.url("/v1/embeddings"))
                    .json(&json!({"model": "tiny", "input": heavy}))
                    .send()
                    .await
                    .expect("sent");
                let retry_after = response.headers().get("retry-after").cloned();
                (
                    response.status().as_u16(),
                    retry_after,
                    response.json::<Value>().await.expect("json"),
                )
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, retry_after, body) = tokio::time::timeout(std::time::Duration::from_secs(120), task)
            .await
            .expect("no request hangs")
            .expect("task");
        if status == 429 {
            assert_openai_error(status, &body, 429);
            assert_eq!(body["error"]["code"], "rate_limit_exceeded");
            assert!(retry_after.is_some(), "429 carries Retry-After");
        } else {
            assert_eq!(status, 200, "{body}");
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    // The server is still healthy afterwards.
    let (status, _) = server.embed(json!({"model": "tiny", "input": "still here"})).await;
    assert_eq!(status, 200);
}
