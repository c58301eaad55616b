//! Cohere's embed API through HTTP: the reference vectors by every embedding type, `input_type`
//! onto the model's prompts, `truncate`, `output_dimension`, v1's two response shapes, and
//! Cohere's error shape (the real SDK is driven in `client_libraries.rs`).

use crate::common;

use base64::Engine as _;
use common::{
    max_abs_diff, offline_hub, pipeline_dir, pipeline_references, read_references, reference_fixtures, scratch_dir,
    test_hf_cache, Options, TestServer, MINILM,
};
use embeddings::service::quantize;
use serde_json::{json, Value};

fn floats(value: &Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            v.as_array()
                .expect("vector")
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
                .collect()
        })
        .collect()
}

fn integers(value: &Value) -> Vec<Vec<i64>> {
    value
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            v.as_array()
                .expect("vector")
                .iter()
                .map(|x| x.as_i64().unwrap_or(i64::MIN))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_embedding_type_of_the_reference_vectors() {
    let server = TestServer::minilm().await;
    let references = read_references(&reference_fixtures());
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let (status, body) = server
        .post(
            "/v2/embed",
            &json!({"model": MINILM, "texts": texts, "input_type": "search_document",
                    "embedding_types": ["float", "int8", "uint8", "binary", "ubinary", "base64"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response_type"], "embeddings_by_type");
    assert_eq!(body["meta"]["api_version"]["version"], "2");
    let tokens: usize = references.iter().map(|r| r.tokens).sum();
    assert_eq!(body["meta"]["billed_units"]["input_tokens"], tokens);
    assert_eq!(body["texts"], json!(texts));
    let embeddings = &body["embeddings"];
    let vectors = floats(&embeddings["float"]);
    for (vector, reference) in vectors.iter().zip(&references) {
        assert!(
            max_abs_diff(vector, &reference.embedding) <= 2e-5,
            "{:?}",
            reference.text
        );
    }
    let widen = |v: Vec<i8>| v.into_iter().map(i64::from).collect::<Vec<_>>();
    let unsigned = |v: Vec<u8>| v.into_iter().map(i64::from).collect::<Vec<_>>();
    assert_eq!(
        integers(&embeddings["int8"]),
        vectors.iter().map(|v| widen(quantize::int8(v))).collect::<Vec<_>>()
    );
    assert_eq!(
        integers(&embeddings["uint8"]),
        vectors.iter().map(|v| unsigned(quantize::uint8(v))).collect::<Vec<_>>()
    );
    assert_eq!(
        integers(&embeddings["binary"]),
        vectors.iter().map(|v| widen(quantize::binary(v))).collect::<Vec<_>>()
    );
    assert_eq!(integers(&embeddings["ubinary"])[0].len(), 384 / 8);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(embeddings["base64"][0].as_str().expect("base64"))
        .expect("decodes");
    let first: Vec<f32> = decoded
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(first, vectors[0]);

    // A compact vector depends on its text's float vector alone: within one step of the same
    // text embedded by itself (the float vectors agree to 1e-5, not always to the last bit).
    let (_, alone) = server
        .post(
            "/v2/embed",
            &json!({"model": MINILM, "texts": [texts[3]], "embedding_types": ["int8"]}),
        )
        .await;
    let (together, alone) = (
        &integers(&embeddings["int8"])[3],
        &integers(&alone["embeddings"]["int8"])[0],
    );
    assert!(together.iter().zip(alone).all(|(a, b)| (a - b).abs() <= 1));
}

#[tokio::test]
async fn v1_answers_floats_unless_types_are_named() {
    let server = TestServer::minilm().await;
    let reference = &read_references(&reference_fixtures())[0];
    let (status, body) = server.post("/v1/embed", &json!({"texts": [reference.text]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response_type"], "embeddings_floats");
    assert!(max_abs_diff(&floats(&body["embeddings"])[0], &reference.embedding) <= 2e-5);
    let (_, typed) = server
        .post(
            "/v1/embed",
            &json!({"model": MINILM, "texts": [reference.text], "embedding_types": ["ubinary"]}),
        )
        .await;
    assert_eq!(typed["response_type"], "embeddings_by_type");
    assert!(typed["embeddings"].get("float").is_none());
}

#[tokio::test]
async fn input_types_use_the_models_own_prompts() {
    let name = "tiny-bert-mean-prompts";
    let server = TestServer::start(
        &format!("{} {name}\n", pipeline_dir(name).display()),
        offline_hub(&scratch_dir("empty-cache")),
        Options::default(),
    )
    .await;
    let references = pipeline_references(name);
    let text = &references[0].text;
    let row = |prompt: Option<&str>| {
        references
            .iter()
            .find(|r| &r.text == text && r.prompt_name.as_deref() == prompt)
            .expect("row")
    };
    for (input_type, prompt) in [
        ("search_query", Some("query")),
        // Its `document` prompt is the empty string.
        ("search_document", None),
        ("classification", None),
    ] {
        let (status, body) = server
            .post(
                "/v2/embed",
                &json!({"model": name, "texts": [text], "input_type": input_type}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let reference = row(prompt);
        assert!(
            max_abs_diff(&floats(&body["embeddings"]["float"])[0], &reference.embedding) <= 2e-5,
            "{input_type}"
        );
        assert_eq!(body["meta"]["billed_units"]["input_tokens"], reference.tokens);
    }
}

#[tokio::test]
async fn truncation_dimensions_and_errors_in_cohere_shape() {
    let server = TestServer::minilm().await;
    let long = "word ".repeat(400);
    let (status, body) = server
        .post(
            "/v2/embed",
            &json!({"model": MINILM, "texts": [long], "truncate": "NONE"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("256")), "{body}");
    let (_, end) = server
        .post("/v2/embed", &json!({"model": MINILM, "texts": [format!("{long} end")]}))
        .await;
    let (_, start) = server
        .post(
            "/v2/embed",
            &json!({"model": MINILM, "texts": [format!("start {long}")], "truncate": "START"}),
        )
        .await;
    assert_eq!(end["meta"]["billed_units"]["input_tokens"], 256);
    assert_eq!(
        floats(&end["embeddings"]["float"]),
        floats(&start["embeddings"]["float"]),
        "each cut drops the odd word"
    );
    let (_, short) = server
        .post(
            "/v2/embed",
            &json!({"model": MINILM, "texts": ["hello"], "output_dimension": 32}),
        )
        .await;
    let vector = &floats(&short["embeddings"]["float"])[0];
    assert_eq!(vector.len(), 32);
    assert!((vector.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    for (body, status) in [
        (json!({"model": "nope", "texts": ["a"]}), 404),
        (
            json!({"model": MINILM, "texts": ["a"], "embedding_types": ["int4"]}),
            400,
        ),
        (json!({"model": MINILM, "texts": ["a"], "max_tokens": 16}), 400),
        (json!({"model": MINILM, "texts": ["a"], "output_dimension": 4096}), 400),
        (json!({"model": MINILM}), 400),
    ] {
        let (got, answer) = server.post("/v2/embed", &body).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(
            answer["message"].is_string() && answer.get("error").is_none(),
            "{answer}"
        );
    }
    let (status, answer) = server.post_raw("/v1/embed", "{not json").await;
    assert_eq!(status, 400);
    assert!(answer["message"].is_string(), "{answer}");
}

#[tokio::test]
async fn keys_are_bearer_tokens_and_refusals_are_in_cohere_shape() {
    let server = TestServer::start(
        &format!("{MINILM}\n"),
        offline_hub(&test_hf_cache()),
        Options {
            api_keys: "secret",
            ..Options::default()
        },
    )
    .await;
    let (status, body) = server.post("/v2/embed", &json!({"texts": ["a"]})).await;
    assert_eq!(status, 401);
    assert!(body["message"].is_string(), "{body}");
    let response = server
        .client
        .post(server.url("/v2/embed"))
        .bearer_auth("secret")
        .json(&json!({"texts": ["a"]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}
