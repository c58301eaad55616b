//! Where a request's time went, as a text-embeddings-inference user reads it: the `x-*-time`
//! headers on every embedding route of every dialect, and the stage histograms.

use crate::common;

use common::{offline_hub, test_hf_cache, Options, TestServer};
use embeddings::engine::EngineConfig;
use serde_json::{json, Value};

const HEADERS: [&str; 8] = [
    "x-compute-type",
    "x-compute-time",
    "x-compute-characters",
    "x-compute-tokens",
    "x-tokenization-time",
    "x-queue-time",
    "x-inference-time",
    "x-total-time",
];

/// One answer's timing headers, read as TEI's clients read them.
#[derive(Debug)]
struct Timings {
    compute_type: String,
    compute: u64,
    characters: u64,
    tokens: u64,
    tokenization: u64,
    queue: u64,
    inference: u64,
    total: u64,
}

impl Timings {
    fn of(response: &reqwest::Response) -> Self {
        let headers = response.headers();
        for name in HEADERS {
            assert!(headers.contains_key(name), "{name} missing: {headers:?}");
        }
        let number = |name: &str| -> u64 {
            let text = headers[name].to_str().expect("ascii");
            text.parse()
                .unwrap_or_else(|_| panic!("{name} is not a whole number of milliseconds: {text}"))
        };
        Self {
            compute_type: headers["x-compute-type"].to_str().expect("ascii").to_owned(),
            compute: number("x-compute-time"),
            characters: number("x-compute-characters"),
            tokens: number("x-compute-tokens"),
            tokenization: number("x-tokenization-time"),
            queue: number("x-queue-time"),
            inference: number("x-inference-time"),
            total: number("x-total-time"),
        }
    }

    /// The stages follow one another inside the request.
    fn assert_consistent(&self, what: &str) {
        assert!(self.queue + self.inference <= self.total, "{what}: {self:?}");
        assert!(
            self.tokenization + self.queue + self.inference <= self.total,
            "{what}: {self:?}"
        );
        assert!(self.compute <= self.total, "{what}: {self:?}");
        assert_eq!(self.compute_type, "cpu", "{what}");
        assert!(self.tokens > 0, "{what}: {self:?}");
    }
}

async fn post(server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn every_embedding_route_of_every_dialect_says_where_its_time_went() {
    let server = TestServer::tiny(Options::default()).await;
    let texts = json!(["hello", "world"]);
    let routes = [
        ("/v1/embeddings", json!({"model": "tiny", "input": texts})),
        ("/embeddings", json!({"model": "tiny", "input": texts})),
        ("/models/tiny", json!({"inputs": texts})),
        ("/pipeline/feature-extraction/tiny", json!({"inputs": texts})),
        (
            "/hf-inference/models/tiny/pipeline/feature-extraction",
            json!({"inputs": texts}),
        ),
        ("/embed", json!({"inputs": texts})),
        ("/", json!({"inputs": texts})),
        ("/api/embed", json!({"model": "tiny", "input": texts})),
        (
            "/v2/embed",
            json!({"model": "tiny", "texts": texts, "input_type": "search_document", "embedding_types": ["float"]}),
        ),
        ("/v1/embed", json!({"model": "tiny", "texts": texts})),
    ];
    for (path, body) in &routes {
        let response = post(&server, path, body).await;
        assert_eq!(response.status(), 200, "{path}");
        let timings = Timings::of(&response);
        timings.assert_consistent(path);
        assert_eq!(
            timings.characters, 10,
            "{path}: the characters of \"hello\" and \"world\""
        );
    }
    // Ollama's older route takes one prompt.
    let response = post(&server, "/api/embeddings", &json!({"model": "tiny", "prompt": "hello"})).await;
    assert_eq!(response.status(), 200);
    let timings = Timings::of(&response);
    timings.assert_consistent("/api/embeddings");
    assert_eq!(timings.characters, 5);
    // The token count is the usage OpenAI's answer reports.
    let response = post(&server, "/v1/embeddings", &json!({"model": "tiny", "input": texts})).await;
    let timings = Timings::of(&response);
    let body: Value = response.json().await.expect("json");
    assert_eq!(Some(timings.tokens), body["usage"]["prompt_tokens"].as_u64());
}

#[tokio::test]
async fn answers_that_computed_nothing_carry_no_timings() {
    let server = TestServer::tiny(Options::default()).await;
    let refused = post(&server, "/v1/embeddings", &json!({"model": "tiny", "input": []})).await;
    assert_eq!(refused.status(), 400);
    let models = server.client.get(server.url("/v1/models")).send().await.expect("sent");
    for response in [refused, models] {
        for name in HEADERS {
            assert!(!response.headers().contains_key(name), "{name} on {}", response.url());
        }
    }
}

#[tokio::test]
async fn a_request_queued_behind_a_big_one_shows_its_queue_time() {
    // One worker, and a budget that makes the big request one forward pass of about a second
    // (the real MiniLM), which the small one must wait for. MiniLM is listed by its snapshot
    // folder, a path no other test lists: the queue metric below is process-wide, and other
    // tests of the binary serving MiniLM under its hub id must not move it.
    let snapshot = common::minilm_snapshot();
    let server = TestServer::start(
        &format!("{} minilm\n", snapshot.display()),
        offline_hub(&test_hf_cache()),
        Options {
            engine: EngineConfig {
                workers: 1,
                max_batch_tokens: 1 << 20,
                ..EngineConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    // Distinct texts: repeats inside one request are computed once.
    let texts: Vec<String> = (0..256)
        .map(|i| format!("the quick brown fox jumps over the lazy dog {i} times, and then once more"))
        .collect();
    let big = {
        let client = server.client.clone();
        let url = server.url("/v1/embeddings");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"model": "minilm", "input": texts}))
                .send()
                .await
                .expect("sent")
        })
    };
    // The big request reaches the worker first.
    let model = server.state.store.registry().specs()[0].id.clone();
    let labels = [("model", model.as_str())];
    let mut waited = 0;
    while server.metric_sum("embeddings_queue_seconds_count", &labels).await < 1.0 && waited < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        waited += 1;
    }
    let small = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "minilm", "input": "a small one"}),
    )
    .await;
    assert_eq!(small.status(), 200);
    let small = Timings::of(&small);
    let big = big.await.expect("big request");
    assert_eq!(big.status(), 200);
    let big = Timings::of(&big);
    big.assert_consistent("big");
    small.assert_consistent("small");
    assert!(big.inference >= 1, "the big request took time: {big:?}");
    assert!(
        small.queue >= 1,
        "the small request waited behind the big one: {small:?}"
    );
    assert!(small.queue <= big.total, "{small:?} {big:?}");
}

#[tokio::test]
async fn stage_histograms_count_each_request() {
    let server = TestServer::tiny(Options::default()).await;
    let model = server.state.store.registry().specs()[0].id.clone();
    let labels = [("model", model.as_str())];
    let stages = [
        "embeddings_tokenize_seconds_count",
        "embeddings_queue_seconds_count",
        "embeddings_forward_seconds_count",
    ];
    let mut before = Vec::new();
    for stage in stages {
        before.push(server.metric_sum(stage, &labels).await);
    }
    for i in 0..3 {
        let response = post(&server, "/embed", &json!({"inputs": format!("text number {i}")})).await;
        assert_eq!(response.status(), 200);
    }
    for (stage, before) in stages.into_iter().zip(before) {
        let after = server.metric_sum(stage, &labels).await;
        assert!(after >= before + 3.0, "{stage}: {before} -> {after}");
    }
}
