//! The official OpenAI Python SDK, with its default settings, against the running server.
//!
//! Needs a Python with the `openai` package: `EMBEDDINGS_TEST_PYTHON` names it (scripts/test.sh
//! prepares one in target/). Set `EMBEDDINGS_SKIP_OPENAI_SDK=1` to skip on a machine without it;
//! otherwise a missing SDK fails the test rather than passing silently.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_gets_the_reference_vectors() {
    if std::env::var_os("EMBEDDINGS_SKIP_OPENAI_SDK").is_some() {
        eprintln!("skipped: EMBEDDINGS_SKIP_OPENAI_SDK is set");
        return;
    }
    let python = std::env::var("EMBEDDINGS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let server = TestServer::minilm().await;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = common::reference_fixtures();
    let base_url = server.url("/v1");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(manifest.join("tests/openai_sdk_client.py"))
            .arg(&base_url)
            .arg(&fixtures)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("client ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the OpenAI SDK client failed (is `openai` installed for EMBEDDINGS_TEST_PYTHON?):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
