//! Request parsing under arbitrary input, for every dialect's routes (embedding and rerank,
//! with an embedding model and a reranker served): random bytes, random JSON, and random
//! objects made of the fields the routes read, with random values. None may
//! panic or answer 5xx, and the server keeps serving. The case count is fixed (seeded), so the
//! run is bounded and repeatable.

use crate::common;

use common::{Options, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};

const ROUTES: [&str; 23] = [
    "/v1/embeddings",
    "/embeddings",
    "/embed",
    "/",
    "/tokenize",
    "/pipeline/feature-extraction/tiny",
    "/models/tiny",
    "/hf-inference/models/tiny/pipeline/feature-extraction",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/rerank",
    "/predict",
    "/v1/rerank",
    "/v2/rerank",
    "/score",
    "/v1/score",
    "/embed_sparse",
    "/embed_all",
    "/decode",
    "/similarity",
    "/vertex",
    "/invocations",
];

const FIELDS: [&str; 32] = [
    "model",
    "input",
    "inputs",
    "prompt",
    "name",
    "prompt_name",
    "dimensions",
    "normalize",
    "truncate",
    "truncation_direction",
    "encoding_format",
    "parameters",
    "options",
    "add_special_tokens",
    "keep_alive",
    "user",
    "query",
    "texts",
    "documents",
    "top_n",
    "return_documents",
    "return_text",
    "raw_scores",
    "max_tokens_per_doc",
    "text_1",
    "text_2",
    "max_active_dims",
    "ids",
    "skip_special_tokens",
    "source_sentence",
    "sentences",
    "instances",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n % 200)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z ]{0,12}".prop_map(Value::String),
        Just(json!("tiny")),
        Just(json!("rr")),
        Just(json!("splade")),
        Just(json!("left")),
        Just(json!("base64")),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects built from the fields the routes read, with arbitrary values.
fn request_body() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json_value()), 0..6)
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        request_body().prop_map(|v| v.to_string().into_bytes()),
        request_body().prop_map(|v| v.to_string().into_bytes()),
    ]
}

#[test]
fn arbitrary_bodies_never_panic_or_answer_5xx_on_any_route() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let models = format!(
        "{} tiny\n{} rr\n{} splade\n",
        common::tiny_model_dir().display(),
        common::fixtures_dir().join("rerank/tiny-bert-reranker").display(),
        common::fixtures_dir().join("rerank/tiny-splade").display()
    );
    let hub = common::offline_hub(&common::scratch_dir("empty-cache"));
    let server = runtime.block_on(TestServer::start(&models, hub, Options::default()));
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 600,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = (prop::sample::select(ROUTES.to_vec()), body());
    let outcome = runner.run(&strategy, |(route, bytes)| {
        let status = runtime.block_on(async {
            server
                .client
                .post(server.url(route))
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        let status = status.map_err(|e| TestCaseError::fail(format!("{route}: no answer: {e}")))?;
        prop_assert!(
            status < 500,
            "{} answered {} to {}",
            route,
            status,
            String::from_utf8_lossy(&bytes)
        );
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let (status, _) = runtime.block_on(server.embed(json!({"model": "tiny", "input": "still serving"})));
    assert_eq!(status, 200);
}
