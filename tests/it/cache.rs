//! The exact-repeat cache through HTTP: a hit gives the bit-identical vector the miss computed,
//! repeats inside one request are computed once, everything that changes a vector is part of
//! its address, the byte budget holds, and `/metrics` counts hits and misses.

use crate::common;

use common::{
    max_abs_diff, offline_hub, read_references, reference_fixtures, test_hf_cache, vectors, Options, TestServer, MINILM,
};
use serde_json::json;

/// MiniLM under the id `entry` (the second line of the models file; the first is MiniLM itself).
async fn minilm_with_cache(bytes: usize, entry: &str) -> TestServer {
    TestServer::start(
        &format!("{MINILM}\n{MINILM} {entry} pooling=mean\n"),
        offline_hub(&test_hf_cache()),
        Options {
            cache_bytes: bytes,
            ..Options::default()
        },
    )
    .await
}

/// The counter `name` of the entry `model` (each test uses entries of its own).
async fn counter(server: &TestServer, name: &str, model: &str) -> f64 {
    server.metric_sum(name, &[("model", model)]).await
}

#[tokio::test]
async fn hits_are_bit_identical_to_the_miss_and_skip_the_model() {
    let server = minilm_with_cache(64 << 20, "minilm-hits").await;
    let entry = "minilm-hits";
    let references = read_references(&reference_fixtures());
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let (status, first) = server.embed(json!({"model": entry, "input": texts})).await;
    assert_eq!(status, 200, "{first}");
    let first = vectors(&first);
    let misses = counter(&server, "embeddings_cache_misses_total", entry).await;
    let hits = counter(&server, "embeddings_cache_hits_total", entry).await;
    for (text, computed) in texts.iter().zip(&first) {
        let (_, again) = server.embed(json!({"model": entry, "input": text})).await;
        assert_eq!(
            &vectors(&again)[0],
            computed,
            "{text:?}: a hit is the miss's vector, bit for bit"
        );
    }
    assert_eq!(counter(&server, "embeddings_cache_misses_total", entry).await, misses);
    assert_eq!(
        counter(&server, "embeddings_cache_hits_total", entry).await,
        hits + texts.len() as f64
    );
    for (vector, reference) in first.iter().zip(&references) {
        assert!(max_abs_diff(vector, &reference.embedding) <= 2e-5);
    }
    // usage still counts the tokens of every input, cached or not.
    let (_, body) = server.embed(json!({"model": entry, "input": texts})).await;
    let tokens: usize = references.iter().map(|r| r.tokens).sum();
    assert_eq!(body["usage"]["prompt_tokens"], tokens);
}

#[tokio::test]
async fn repeats_in_one_request_are_computed_once() {
    let server = minilm_with_cache(64 << 20, "minilm-repeats").await;
    let entry = "minilm-repeats";
    let before = counter(&server, "embeddings_cache_misses_total", entry).await;
    let (status, body) = server
        .embed(json!({"model": entry, "input": ["one text", "one text", "another", "one text"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let got = vectors(&body);
    assert_eq!(got[0], got[1]);
    assert_eq!(got[0], got[3]);
    assert_ne!(got[0], got[2]);
    assert_eq!(
        counter(&server, "embeddings_cache_misses_total", entry).await - before,
        2.0
    );
    let (_, alone) = server.embed(json!({"model": entry, "input": "one text"})).await;
    assert_eq!(
        body["usage"]["prompt_tokens"],
        4 * alone["usage"]["prompt_tokens"].as_u64().unwrap_or(0) - 1
    );
}

#[tokio::test]
async fn what_changes_a_vector_changes_its_address() {
    let (cached, uncached) = (
        minilm_with_cache(64 << 20, "minilm-cached").await,
        minilm_with_cache(0, "minilm-uncached").await,
    );
    let entry = MINILM;
    let long = "word ".repeat(300);
    let requests = [
        json!({"model": entry, "input": "hello world"}),
        json!({"model": entry, "input": "hello world", "dimensions": 8}),
        json!({"model": entry, "input": "hello world", "encoding_format": "float", "dimensions": 100}),
        json!({"model": entry, "input": format!("start {long}")}),
    ];
    for request in &requests {
        let (_, with) = cached.embed(request.clone()).await;
        let (_, without) = uncached.embed(request.clone()).await;
        assert!(
            max_abs_diff(&vectors(&with)[0], &vectors(&without)[0]) <= 1e-6,
            "{request}"
        );
    }
    // An over-long text cached under truncation is still refused with truncation off.
    let (status, body) = cached
        .post("/embed", &json!({"inputs": format!("start {long}"), "truncate": false}))
        .await;
    assert_eq!(status, 422, "TEI's validation error: {body}");
    // Left truncation of the same text is another vector.
    let (_, right) = cached
        .post("/embed", &json!({"inputs": format!("start {long} end")}))
        .await;
    let (_, left) = cached
        .post(
            "/embed",
            &json!({"inputs": format!("start {long} end"), "truncation_direction": "left"}),
        )
        .await;
    assert_ne!(right, left);
}

#[tokio::test]
async fn the_byte_budget_holds() {
    let server = minilm_with_cache(10_000, "minilm-budget").await;
    let entry = "minilm-budget";
    let texts: Vec<String> = (0..40).map(|i| format!("text number {i}")).collect();
    let (status, _) = server.embed(json!({"model": entry, "input": texts})).await;
    assert_eq!(status, 200);
    let (bytes, entries) = server.state.cache.usage();
    assert!(
        bytes <= 10_000 && entries > 0 && entries < 40,
        "{bytes} bytes, {entries} entries"
    );
    // The most recent texts stayed; the oldest were evicted.
    let before = counter(&server, "embeddings_cache_hits_total", entry).await;
    let _ = server.embed(json!({"model": entry, "input": texts[39]})).await;
    assert_eq!(
        counter(&server, "embeddings_cache_hits_total", entry).await,
        before + 1.0
    );
    let _ = server.embed(json!({"model": entry, "input": texts[0]})).await;
    assert_eq!(
        counter(&server, "embeddings_cache_hits_total", entry).await,
        before + 1.0
    );
}
