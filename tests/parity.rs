//! The real sentence-transformers/all-MiniLM-L6-v2, loaded through the hf-hub cache path, over
//! HTTP: parity with sentence-transformers' vectors and token counts, token-id input, and
//! batch invariance.

mod common;

use common::{max_abs_diff, reference_fixtures, vectors, TestServer, MINILM};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Reference {
    text: String,
    tokens: usize,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let path = reference_fixtures();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let references: Vec<Reference> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line"))
        .collect();
    assert!(references.len() >= 20, "expected the full fixture set");
    references
}

#[tokio::test]
async fn matches_sentence_transformers_for_every_reference_text() {
    let server = TestServer::minilm().await;
    let references = references();
    let mut worst = 0.0f32;
    for reference in &references {
        let (status, body) = server.embed(json!({"model": MINILM, "input": reference.text})).await;
        assert_eq!(status, 200, "{body}");
        let diff = max_abs_diff(&vectors(&body)[0], &reference.embedding);
        assert!(diff <= 2e-5, "{:?}: max abs diff {diff}", reference.text);
        assert_eq!(body["usage"]["prompt_tokens"], reference.tokens, "{:?}", reference.text);
        worst = worst.max(diff);
    }
    eprintln!("parity: worst max-abs-diff over {} texts = {worst:e}", references.len());
    assert!(
        references.iter().any(|r| r.tokens > 128),
        "the fixtures must cover inputs past the tokenizer.json's 128"
    );
}

#[tokio::test]
async fn token_ids_give_the_same_vectors_as_text() {
    let server = TestServer::minilm().await;
    let references = references();
    let ids: Vec<&Vec<u32>> = references.iter().map(|r| &r.ids).collect();
    let (status, body) = server.embed(json!({"model": "minilm", "input": ids})).await;
    assert_eq!(status, 200, "{body}");
    let total: usize = references.iter().map(|r| r.tokens).sum();
    assert_eq!(body["usage"]["prompt_tokens"], total);
    for (got, reference) in vectors(&body).iter().zip(&references) {
        assert!(max_abs_diff(got, &reference.embedding) <= 2e-5, "{:?}", reference.text);
    }
}

#[tokio::test]
async fn a_vector_does_not_depend_on_its_batch() {
    let server = TestServer::minilm().await;
    let references = references();
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let (status, batched) = server.embed(json!({"model": "all-MiniLM-L6-v2", "input": texts})).await;
    assert_eq!(status, 200, "{batched}");
    let batched = vectors(&batched);
    for (i, text) in texts.iter().enumerate() {
        let (_, alone) = server.embed(json!({"model": MINILM, "input": text})).await;
        let diff = max_abs_diff(&vectors(&alone)[0], &batched[i]);
        assert!(
            diff <= 1e-5,
            "{text:?}: alone vs in a batch of {} differs by {diff}",
            texts.len()
        );
    }
    // Also mixed with a long text, which forces heavy padding around the short ones.
    let long = references
        .iter()
        .find(|r| r.tokens == 256)
        .expect("a truncated fixture");
    let (_, mixed) = server
        .embed(json!({"model": MINILM, "input": [long.text.as_str(), "x", texts[0]]}))
        .await;
    let mixed = vectors(&mixed);
    assert!(
        max_abs_diff(
            &mixed[1],
            &batched[texts.iter().position(|t| *t == "x").expect("x fixture")]
        ) <= 1e-5
    );
    assert!(max_abs_diff(&mixed[2], &batched[0]) <= 1e-5);
}
