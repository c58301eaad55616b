//! What operators watch: Prometheus metrics that move with traffic, request ids, CORS.

use crate::common;

use std::collections::HashMap;

use common::{Options, TestServer};
use serde_json::json;

/// Scrapes /metrics and parses it as Prometheus does.
async fn scrape(server: &TestServer, key: Option<&str>) -> prometheus_parse::Scrape {
    let mut request = server.client.get(server.url("/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap_or("").to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("text");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition format")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_after_a_request() {
    let server = TestServer::tiny(Options {
        api_keys: "secret",
        ..Options::default()
    })
    .await;
    // Tests in this process share the recorder; this server's model id is its own.
    let models = server
        .client
        .get(server.url("/v1/models"))
        .bearer_auth("secret")
        .send()
        .await
        .expect("sent")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    // Clients see the entry's name; the metrics label the entry by its line's id (here a path).
    assert_eq!(models["data"][0]["id"], "tiny");
    let model = server.state.store.registry().specs()[0].id.clone();
    let requests = [
        ("route", "/v1/embeddings"),
        ("status", "200"),
        ("model", model.as_str()),
    ];
    let tokens = [("model", model.as_str())];
    let before = scrape(&server, Some("secret")).await;
    let tokens_before = value(&before, "embeddings_tokens_total", &tokens);
    let response = server
        .client
        .post(server.url("/v1/embeddings"))
        .bearer_auth("secret")
        .json(&json!({"model": "tiny", "input": ["hello world", "the lazy dog"]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let after = scrape(&server, Some("secret")).await;
    assert_eq!(
        value(&after, "embeddings_http_requests_total", &requests)
            - value(&before, "embeddings_http_requests_total", &requests),
        1.0
    );
    // [CLS] hello world [SEP] and [CLS] the lazy dog [SEP].
    assert_eq!(value(&after, "embeddings_tokens_total", &tokens) - tokens_before, 9.0);
    let names: HashMap<&str, ()> = after.samples.iter().map(|s| (s.metric.as_str(), ())).collect();
    for series in [
        "embeddings_http_request_duration_seconds",
        "embeddings_queue_depth",
        "embeddings_queue_wait_seconds",
        "embeddings_batch_sequences",
        "embeddings_batch_tokens",
        "embeddings_forward_seconds",
        "embeddings_model_load_seconds",
        "embeddings_model_ready",
        "process_resident_memory_bytes",
    ] {
        assert!(names.contains_key(series), "{series} missing from /metrics");
    }
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 1e6);

    // Behind the key unless made public.
    let response = server.client.get(server.url("/metrics")).send().await.expect("sent");
    assert_eq!(response.status(), 401);
    let public = TestServer::tiny(Options {
        api_keys: "secret",
        metrics_public: true,
        ..Options::default()
    })
    .await;
    scrape(&public, None).await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let server = TestServer::tiny(Options::default()).await;
    let given = server
        .client
        .post(server.url("/v1/embeddings"))
        .header("x-request-id", "trace-4711")
        .json(&json!({"model": "tiny", "input": "hello"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(given.headers()["x-request-id"], "trace-4711");
    for header in [None, Some("has spaces in it"), Some(&*"x".repeat(500))] {
        let mut request = server.client.get(server.url("/v1/models"));
        if let Some(header) = header {
            request = request.header("x-request-id", header);
        }
        let made = request.send().await.expect("sent");
        let id = made.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        assert_eq!(id.len(), 36, "a fresh UUID instead of {header:?}: {id}");
    }
    // Errors carry one too.
    let error = server.client.get(server.url("/nowhere")).send().await.expect("sent");
    assert!(error.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_preflights_when_on() {
    let preflight = |server: &TestServer| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/v1/embeddings"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let off = TestServer::tiny(Options::default()).await;
    let response = preflight(&off).await.expect("sent");
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let on = TestServer::tiny(Options {
        cors_origins: vec!["https://app.example".into()],
        api_keys: "secret",
        ..Options::default()
    })
    .await;
    let response = preflight(&on).await.expect("sent");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example");
    let other = on
        .client
        .post(on.url("/v1/embeddings"))
        .header("origin", "https://evil.example")
        .bearer_auth("secret")
        .json(&json!({"model": "tiny", "input": "hello"}))
        .send()
        .await
        .expect("sent");
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}
