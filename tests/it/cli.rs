//! The `embeddings` binary as users run it: help, version, `embed`, and `serve` configured
//! through environment variables, on loopback.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::process::{binary, ServerProcess};
use common::{scratch_dir, test_hf_cache, tiny_model_dir, MINILM};
use serde_json::{json, Value};

#[test]
fn help_and_version() {
    let help = binary().arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for word in ["serve", "download", "embed"] {
        assert!(text.contains(word), "{text}");
    }
    let version = binary().arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn embed_prints_the_api_json() {
    let dir = tiny_model_dir();
    let models = scratch_dir("cli-embed").join("models.txt");
    std::fs::write(&models, format!("{} tiny\n", dir.display())).expect("models file");
    let output = binary()
        .args(["embed", "--model", "tiny", "--device", "cpu", "--models-file"])
        .arg(&models)
        .args(["--dimensions", "8", "hello world", "lazy dog"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "tiny");
    assert_eq!(body["data"].as_array().expect("data").len(), 2);
    assert_eq!(body["data"][1]["embedding"].as_array().expect("floats").len(), 8);
}

#[test]
fn serve_is_configured_by_environment_and_answers_over_http() {
    let dir = scratch_dir("cli-serve");
    let models = dir.join("models.txt");
    std::fs::write(&models, format!("{MINILM}\n")).expect("models file");
    let mut command = binary();
    command
        .arg("serve")
        .env("EMBEDDINGS_HOST", "127.0.0.1")
        .env("EMBEDDINGS_PORT", "0")
        .env("EMBEDDINGS_MODELS_FILE", &models)
        .env("EMBEDDINGS_DEVICE", "auto")
        .env("HF_HUB_CACHE", test_hf_cache())
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_TOKEN", "hf_secret_token_that_must_not_be_logged")
        .env("RUST_LOG", "debug");
    let mut server = ServerProcess::start(command);
    let address = server.address();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(
        server.wait_for("\"ready\"", Duration::from_secs(60)).is_some(),
        "model loads: {:?}",
        server.seen
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let health = client
            .get(format!("http://{address}/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(health.status(), 200);
        let response = client
            .post(format!("http://{address}/v1/embeddings"))
            .json(&json!({"model": "all-MiniLM-L6-v2", "input": ["hello", "world"]}))
            .send()
            .await
            .expect("embeddings");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["data"][0]["embedding"].as_array().expect("floats").len(), 384);
    });
    let _ = server.child.kill();
    let _ = server.wait_for("never-printed", Duration::from_secs(2));
    for line in &server.seen {
        assert!(
            !line.contains("hf_secret_token"),
            "the token leaked into a log line: {line}"
        );
    }
}

fn run_to_failure(mut command: Command) -> String {
    let output = command.output().expect("runs");
    assert!(!output.status.success(), "expected a failing start");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn start_up_failures_are_clear_one_line_errors() {
    let dir = scratch_dir("cli-fail");
    let models = dir.join("models.txt");
    std::fs::write(&models, "acme/not-downloaded\n").expect("models file");
    let mut command = binary();
    command
        .args(["serve", "--port", "0", "--models-file"])
        .arg(&models)
        .env("HF_HUB_CACHE", dir.join("empty-cache"))
        .env("HF_HUB_OFFLINE", "1");
    let stderr = run_to_failure(command);
    let error = stderr.lines().find(|l| l.starts_with("error:")).expect("an error line");
    assert!(error.contains("model acme/not-downloaded"), "{error}");
    assert!(error.contains("HF_HUB_OFFLINE"), "{error}");

    let mut command = binary();
    command
        .args(["serve", "--port", "0", "--models-file"])
        .arg(dir.join("missing.txt"));
    assert!(run_to_failure(command).contains("missing.txt"));

    // A model that is not BERT is refused by name.
    let other = dir.join("not-bert");
    common::tiny::write_tiny_bert(&other, 1).expect("model written");
    let config = std::fs::read_to_string(other.join("config.json")).expect("config");
    std::fs::write(other.join("config.json"), config.replace("\"bert\"", "\"gpt2\"")).expect("config");
    std::fs::write(&models, format!("{}\n", other.display())).expect("models file");
    let mut command = binary();
    command.args(["serve", "--port", "0", "--models-file"]).arg(&models);
    let stderr = run_to_failure(command);
    assert!(stderr.contains("unsupported architecture \"gpt2\""), "{stderr}");

    // An unknown option in the models file is named with its line.
    std::fs::write(&models, "# models\nacme/one\nacme/two colour=red\n").expect("models file");
    let mut command = binary();
    command.args(["serve", "--port", "0", "--models-file"]).arg(&models);
    let stderr = run_to_failure(command);
    let error = stderr.lines().find(|l| l.starts_with("error:")).expect("an error line");
    assert!(error.contains("models.txt:3:"), "{error}");
    assert!(error.contains("unknown option \"colour\""), "{error}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_without_cuda_support_fails_clearly() {
    let dir = tiny_model_dir();
    let models = scratch_dir("cli-cuda").join("models.txt");
    std::fs::write(&models, format!("{}\n", dir.display())).expect("models file");
    let mut command = binary();
    command
        .args(["serve", "--port", "0", "--device", "cuda", "--models-file"])
        .arg(&models);
    let stderr = run_to_failure(command);
    assert!(stderr.contains("--features cuda"), "{stderr}");
}
