//! TEI's `POST /embed_all`: every token's last hidden state, before pooling. Checked against
//! all-MiniLM-L6-v2's sentence-transformers vectors: the mean of a text's token states, at unit
//! length, is its embedding.

use crate::common;

use serde_json::{json, Value};

use common::{fixtures_dir, max_abs_diff, offline_hub, read_references, reference_fixtures, test_hf_cache};
use common::{Options, TestServer, MINILM};

fn states(body: &Value) -> Vec<Vec<Vec<f32>>> {
    body.as_array()
        .unwrap_or_else(|| panic!("an array per input: {body}"))
        .iter()
        .map(|tokens| {
            tokens
                .as_array()
                .expect("an array per token")
                .iter()
                .map(|row| {
                    row.as_array()
                        .expect("a state")
                        .iter()
                        .map(|x| x.as_f64().expect("number") as f32)
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_mean_of_the_token_states_is_the_sentence_embedding() {
    let splade = fixtures_dir().join("rerank").join("tiny-splade");
    let server = TestServer::start(
        &format!("{MINILM} minilm\n{} splade\n", splade.display()),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let references = read_references(&reference_fixtures());
    let chosen: Vec<_> = references.iter().filter(|r| r.tokens > 3).take(6).collect();
    let texts: Vec<&str> = chosen.iter().map(|r| r.text.as_str()).collect();
    let (status, body) = server
        .post("/embed_all", &json!({"model": "minilm", "inputs": texts}))
        .await;
    assert_eq!(status, 200, "{body}");
    let all = states(&body);
    assert_eq!(all.len(), chosen.len());
    let mut worst = 0f32;
    for (reference, tokens) in chosen.iter().zip(&all) {
        assert_eq!(
            tokens.len(),
            reference.tokens,
            "one state per token, [CLS] and [SEP] included"
        );
        assert!(tokens.iter().all(|row| row.len() == 384));
        let mut mean = vec![0f32; 384];
        for row in tokens {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, x)| *m += x / tokens.len() as f32);
        }
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
        mean.iter_mut().for_each(|x| *x /= norm);
        worst = worst.max(max_abs_diff(&mean, &reference.embedding));
    }
    assert!(worst < 1e-5, "mean of the token states vs the reference: {worst:e}");
    // A text alone gives the states it gave in the batch.
    let (_, alone) = server
        .post("/embed_all", &json!({"model": "minilm", "inputs": texts[1]}))
        .await;
    let alone = states(&alone);
    let diff = alone[0]
        .iter()
        .zip(&all[1])
        .map(|(a, b)| max_abs_diff(a, b))
        .fold(0f32, f32::max);
    assert!(diff < 1e-5, "alone vs batch: {diff:e}");

    // Truncated as /embed truncates, or refused with truncate: false; a sparse model's kind is
    // named; pooled-vector options are refused.
    let long = "word ".repeat(600);
    let (status, body) = server
        .post("/embed_all", &json!({"model": "minilm", "inputs": long}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(states(&body)[0].len(), 256, "MiniLM's max_seq_length");
    let (status, _) = server
        .post(
            "/embed_all",
            &json!({"model": "minilm", "inputs": long, "truncate": false}),
        )
        .await;
    assert_eq!(status, 422, "TEI's validation error");
    let (status, body) = server
        .post("/embed_all", &json!({"model": "splade", "inputs": "x"}))
        .await;
    assert_eq!(status, 424, "TEI's status for a model of the wrong kind: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("a sparse model")),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/embed_all",
            &json!({"model": "minilm", "inputs": "x", "dimensions": 8}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}
