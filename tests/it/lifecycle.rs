//! Operating the server: API keys on every route family (and their rotation by SIGHUP), the
//! probes, and a SIGTERM under load that answers every accepted request. Loopback only, every
//! wait bounded.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::process::{binary, ServerProcess};
use common::{scratch_dir, tiny_model_dir, Options, TestServer};
use serde_json::{json, Value};

/// One request per route family, as (method, path, body).
fn every_route_family() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("POST", "/v1/embeddings", json!({"model": "tiny", "input": "hello"})),
        ("GET", "/v1/models", Value::Null),
        ("POST", "/embed", json!({"inputs": "hello"})),
        ("POST", "/tokenize", json!({"inputs": "hello"})),
        ("GET", "/info", Value::Null),
        ("POST", "/pipeline/feature-extraction/tiny", json!({"inputs": "hello"})),
        ("POST", "/models/tiny", json!({"inputs": "hello"})),
        ("POST", "/api/embed", json!({"model": "tiny", "input": "hello"})),
        ("GET", "/api/tags", Value::Null),
        ("GET", "/api/version", Value::Null),
    ]
}

async fn call(server: &TestServer, method: &str, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let mut request = match method {
        "GET" => server.client.get(server.url(path)),
        _ => server.client.post(server.url(path)).json(body),
    };
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn with_keys_set_every_route_family_needs_one_and_answers_401_in_its_dialect() {
    let server = TestServer::tiny(Options {
        api_keys: "first-key,second-key",
        ..Options::default()
    })
    .await;
    for (method, path, body) in every_route_family() {
        for key in [None, Some("wrong-key")] {
            let (status, error) = call(&server, method, path, &body, key).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}: {error}");
            let text = error.to_string();
            assert!(!text.contains("wrong-key"), "the key is never echoed: {text}");
            if path == "/v1/embeddings" || path == "/v1/models" {
                assert_eq!(error["error"]["code"], "invalid_api_key", "{error}");
                assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
            } else if path.starts_with("/api/") || path.starts_with("/pipeline/") || path.starts_with("/models/") {
                assert!(error["error"].is_string(), "{path}: {error}");
            } else {
                assert_eq!(error["error_type"], "Unauthorized", "{path}: {error}");
            }
        }
        for key in ["first-key", "second-key"] {
            let (status, body) = call(&server, method, path, &body, Some(key)).await;
            assert_eq!(status, 200, "{method} {path}: {body}");
        }
    }
    for probe in ["/health", "/healthz", "/health/ready", "/health/live"] {
        let (status, _) = call(&server, "GET", probe, &Value::Null, None).await;
        assert_eq!(status, 200, "{probe} is open to orchestrators");
    }
}

fn signal(process: &ServerProcess, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &process.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn start_tiny(extra: &[&str], env: &[(&str, &str)]) -> (ServerProcess, String) {
    let dir = scratch_dir("lifecycle");
    let models = dir.join("models.txt");
    std::fs::write(&models, format!("{} tiny\n", tiny_model_dir().display())).expect("models file");
    let mut command = binary();
    command
        .args(["serve", "--port", "0", "--device", "cpu", "--models-file"])
        .arg(&models)
        .args(extra);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut process = ServerProcess::start(command);
    let address = process.address();
    assert!(
        process.wait_for("\"ready\"", Duration::from_secs(30)).is_some(),
        "{:?}",
        process.seen
    );
    (process, format!("http://{address}"))
}

#[test]
fn sighup_rotates_the_key_file_without_dropping_connections() {
    let keys = scratch_dir("keys").join("keys.txt");
    std::fs::write(&keys, "old-key\n").expect("key file");
    let keys_path = keys.display().to_string();
    let (mut process, base) = start_tiny(&["--api-key-file", &keys_path], &[]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // One client, one kept-alive connection throughout.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let embed = |key: &'static str| {
            client
                .post(format!("{base}/v1/embeddings"))
                .bearer_auth(key)
                .json(&json!({"model": "tiny", "input": "hello"}))
                .send()
        };
        assert_eq!(embed("old-key").await.expect("sent").status(), 200);
        assert_eq!(embed("new-key").await.expect("sent").status(), 401);
        std::fs::write(&keys, "new-key\n").expect("key file");
        signal(&process, "HUP");
        assert!(process.wait_for("API keys reloaded", Duration::from_secs(10)).is_some());
        assert_eq!(
            embed("new-key").await.expect("sent on the same connection").status(),
            200
        );
        assert_eq!(embed("old-key").await.expect("sent").status(), 401);
    });
    assert!(
        process
            .seen
            .iter()
            .all(|line| !line.contains("old-key") && !line.contains("new-key")),
        "a key reached the log"
    );
}

#[test]
fn sigterm_under_load_answers_every_accepted_request_then_exits() {
    let (mut process, base) = start_tiny(&["--shutdown-timeout", "20"], &[]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        // Distinct texts: the exact-repeat cache would compute 2000 copies of one text once.
        let texts: Vec<String> = (0..2000)
            .map(|i| format!("the quick brown fox jumps over the lazy dog {i}"))
            .collect();
        let requests: Vec<_> = (0..16)
            .map(|_| {
                let request = client
                    .post(format!("{base}/v1/embeddings"))
                    .json(&json!({"model": "tiny", "input": texts}))
                    .send();
                tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        signal(&process, "TERM");
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.expect("joined"));
        }
        statuses
    });
    // Requests the server accepted before the signal are answered in full; later ones are
    // refused at the door (connection refused), never cut off mid-way.
    let answered = statuses.iter().filter(|s| matches!(s, Ok(200))).count();
    assert!(answered > 0, "{statuses:?}");
    for status in &statuses {
        match status {
            Ok(code) => assert_eq!(*code, 200, "{statuses:?}"),
            Err(error) => assert!(error.is_connect(), "a request was cut off: {error}"),
        }
    }
    let draining = process
        .wait_for("draining in-flight requests", Duration::from_secs(30))
        .expect("a shutdown line");
    let draining: Value = serde_json::from_str(&draining).expect("JSON log line");
    assert!(
        draining["fields"]["requests"].as_u64().is_some_and(|n| n > 0),
        "the signal came with no request in flight: {draining}"
    );
    let drained = process.wait_for("drained", Duration::from_secs(30));
    assert!(drained.is_some(), "no drain line: {:?}", process.seen);
    let exit = (0..300).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        process.child.try_wait().ok().flatten()
    });
    assert!(
        exit.is_some_and(|status| status.success()),
        "the server did not exit cleanly: {exit:?}"
    );
}

#[tokio::test]
async fn readiness_and_liveness_probes() {
    let server = TestServer::tiny(Options {
        preload: false,
        ..Options::default()
    })
    .await;
    assert_eq!(
        server.get("/health/ready").await.0,
        503,
        "not ready before the models load"
    );
    assert_eq!(server.get("/health/live").await.0, 200);
    server.state.set_ready();
    assert_eq!(server.get("/health/ready").await, (200, json!({"status": "ready"})));
    server.state.start_draining();
    assert_eq!(server.get("/health/ready").await, (503, json!({"status": "draining"})));
    assert_eq!(server.get("/health/live").await.0, 200);
}

#[test]
fn every_request_gets_one_structured_access_log_line() {
    let (mut process, base) = start_tiny(&[], &[]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base}/v1/embeddings"))
            .header("x-request-id", "access-check-1")
            .json(&json!({"model": "tiny", "input": ["hello world", "lazy dog"]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
    });
    let line = process
        .wait_for("access-check-1", Duration::from_secs(10))
        .expect("an access log line with the request id");
    let log: Value = serde_json::from_str(&line).expect("JSON log line");
    assert_eq!(log["level"], "INFO");
    let fields = &log["fields"];
    assert_eq!(fields["route"], "/v1/embeddings");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["inputs"], 2);
    assert_eq!(fields["tokens"], 8);
    assert!(
        fields["model"].as_str().is_some_and(|m| m.contains("tiny-bert")),
        "{fields}"
    );
    assert!(
        fields["latency_ms"].as_f64().is_some() && fields["queue_wait_ms"].as_f64().is_some(),
        "{fields}"
    );
    let count = process.seen.iter().filter(|l| l.contains("access-check-1")).count();
    assert_eq!(count, 1, "exactly one line per request");
}
