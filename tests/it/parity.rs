//! The real sentence-transformers/all-MiniLM-L6-v2 and all-mpnet-base-v2, loaded through the
//! hf-hub cache path, over HTTP: parity with sentence-transformers' vectors and token counts,
//! token-id input (the model's own ids, and OpenAI cl100k ids under OpenAI names), and batch
//! invariance.

use crate::common;

use common::{
    assert_near_references, assert_openai_error, fixtures_dir, max_abs_diff, offline_hub, read_references,
    reference_fixtures, test_hf_cache, vectors, Options, Reference, TestServer, MINILM,
};
use serde_json::json;

fn references() -> Vec<Reference> {
    let references = read_references(&reference_fixtures());
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
    assert_near_references(&vectors(&body), &references, "token ids");
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

const MPNET: &str = "sentence-transformers/all-mpnet-base-v2";

async fn mpnet() -> TestServer {
    TestServer::start(
        &format!("{MPNET} mpnet text-embedding-3-large\n"),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await
}

#[tokio::test]
async fn all_mpnet_base_v2_matches_sentence_transformers() {
    let server = mpnet().await;
    let references = read_references(&fixtures_dir().join("mpnet_reference.jsonl"));
    assert!(references.len() >= 20, "expected the full fixture set");
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let (status, batched) = server.embed(json!({"model": "mpnet", "input": texts})).await;
    assert_eq!(status, 200, "{batched}");
    let batched = vectors(&batched);
    let mut worst = 0.0f32;
    for (reference, together) in references.iter().zip(&batched) {
        let (status, body) = server.embed(json!({"model": MPNET, "input": reference.text})).await;
        assert_eq!(status, 200, "{body}");
        let alone = &vectors(&body)[0];
        let diff = max_abs_diff(alone, &reference.embedding);
        assert!(diff <= 2e-5, "{:?}: max abs diff {diff}", reference.text);
        assert_eq!(body["usage"]["prompt_tokens"], reference.tokens, "{:?}", reference.text);
        let invariance = max_abs_diff(alone, together);
        assert!(
            invariance <= 1e-5,
            "{:?}: alone vs batched differ by {invariance}",
            reference.text
        );
        worst = worst.max(diff);
    }
    eprintln!(
        "all-mpnet-base-v2 parity: worst max-abs-diff over {} texts = {worst:e}",
        references.len()
    );
    assert!(
        references.iter().any(|r| r.tokens == 384),
        "the fixtures cover a text cut at max_seq_length"
    );
}

/// What LangChain's `OpenAIEmbeddings` sends by default: cl100k_base ids of each text.
fn cl100k(text: &str) -> Vec<u32> {
    tiktoken_rs::cl100k_base_singleton().encode_ordinary(text)
}

#[tokio::test]
async fn openai_token_arrays_under_an_openai_name_embed_their_text() {
    let server = TestServer::start(
        &format!("{MINILM} minilm text-embedding-3-small text-embedding-ada-002\n"),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let references = references();
    let ids: Vec<Vec<u32>> = references.iter().map(|r| cl100k(&r.text)).collect();
    for name in ["text-embedding-3-small", "text-embedding-ada-002"] {
        let (status, body) = server.embed(json!({"model": name, "input": ids})).await;
        assert_eq!(status, 200, "{body}");
        assert_near_references(&vectors(&body), &references, name);
        let total: usize = references.iter().map(|r| r.tokens).sum();
        assert_eq!(
            body["usage"]["prompt_tokens"], total,
            "usage counts the model's own tokens"
        );
    }
    // One flat array is one input.
    let (status, body) = server
        .embed(json!({"model": "text-embedding-3-small", "input": cl100k(&references[0].text)}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(max_abs_diff(&vectors(&body)[0], &references[0].embedding) <= 2e-5);
}

#[tokio::test]
async fn foreign_token_ids_under_a_hugging_face_name_are_refused() {
    let server = TestServer::start(
        &format!("{MINILM} minilm text-embedding-3-small\n"),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    for (input, needle) in [
        // "hello world" in cl100k_base: no [CLS] ... [SEP] frame.
        (json!([15339, 1917]), "[CLS]"),
        (json!([[101, 7592, 102], cl100k("hello world")]), "input[1]"),
        // [unused12] inside a frame, and ids past the vocabulary.
        (json!([101, 13, 102]), "[unused12]"),
        (json!([101, 30522, 102]), "outside the vocabulary"),
        // A padded batch row.
        (json!([101, 7592, 102, 0, 0]), "[SEP]"),
    ] {
        let (status, body) = server.embed(json!({"model": "minilm", "input": input})).await;
        assert_openai_error(status, &body, 400);
        assert_eq!(body["error"]["code"], "invalid_token_ids", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {message}");
        assert!(
            message.contains("text-embedding-3-small"),
            "names the OpenAI-name fix: {message}"
        );
        assert!(
            message.contains("check_embedding_ctx_length=False"),
            "names LangChain's fix: {message}"
        );
    }
    // The model's own framing with an [UNK] inside is a real tokenization.
    let (status, body) = server.embed(json!({"model": "minilm", "input": [101, 100, 102]})).await;
    assert_eq!(status, 200, "{body}");
}

/// `token_ids=` on an entry decides the vocabulary of its token arrays, whatever the name.
#[tokio::test]
async fn an_entrys_token_ids_option_chooses_the_vocabulary() {
    let server = TestServer::start(
        &format!("{MINILM} langchain-minilm token_ids=cl100k\n{MINILM} text-embedding-3-small token_ids=model\n"),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let references = references();
    let cl100k_ids: Vec<Vec<u32>> = references.iter().map(|r| cl100k(&r.text)).collect();
    let own_ids: Vec<Vec<u32>> = references.iter().map(|r| r.ids.clone()).collect();
    for (name, ids) in [("langchain-minilm", cl100k_ids), ("text-embedding-3-small", own_ids)] {
        let (status, body) = server.embed(json!({"model": name, "input": ids})).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_near_references(&vectors(&body), &references, name);
    }
}
