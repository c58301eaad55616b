//! The binary started as text-embeddings-inference would be: `MODEL_ID` and `PORT` (and TEI's
//! other flags), no models file. TEI's clients over HTTP and gRPC (tests/tei_clients.py), the
//! metrics port, TEI flags with no meaning here, and refusals.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::ServerProcess;
use common::python::{run_script, skipped};
use common::tei::{address_of, addresses, tei_style};
use common::{fixtures_dir, scratch_dir, MINILM};
use serde_json::Value;

/// `GET path` over the Unix socket at `socket`, HTTP/1.1: the whole answer as text.
fn get_over_socket(socket: &Path, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("the socket accepts");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answered");
    answer
}

#[test]
fn model_id_serves_one_model_to_tei_clients_over_http_and_grpc() {
    let socket = scratch_dir("tei-socket").join("embeddings.sock");
    let uds = socket.display().to_string();
    // A hub id: the Hugging Face cache laid out by scripts/fetch-test-model.py.
    let mut server = ServerProcess::start(tei_style(
        Path::new(MINILM),
        &[
            "serve",
            "--served-model-name",
            "minilm",
            "--hostname",
            "127.0.0.1",
            "--grpc-port",
            "0",
            "--tokenization-workers",
            "4",
            "--dtype",
            "float16",
            "--max-client-batch-size",
            "32",
            "--uds-path",
            &uds,
        ],
    ));
    let addresses = addresses(&mut server, 3);
    assert!(
        server.wait_for("\"ready\"", Duration::from_secs(60)).is_some(),
        "{:?}",
        server.seen
    );
    // A TEI flag with no meaning here is warned about; the precision served instead is said.
    for line in [
        "--tokenization-workers 4 has no effect",
        "--dtype float16 is served as float32",
    ] {
        assert!(
            server.seen.iter().any(|l| l.contains(line)),
            "{line}: {:?}",
            server.seen
        );
    }
    let http = address_of(&addresses, "HTTP and gRPC");
    let over_socket = get_over_socket(&socket, "/info");
    assert!(over_socket.starts_with("HTTP/1.1 200"), "{over_socket}");
    assert!(
        over_socket.contains("\"served_model_name\":\"minilm\""),
        "{over_socket}"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let info: Value = client
            .get(format!("http://{http}/info"))
            .send()
            .await
            .expect("info")
            .json()
            .await
            .expect("JSON");
        // TEI keeps the id and names the served name beside it.
        assert_eq!(info["model_id"], MINILM);
        assert_eq!(info["served_model_name"], "minilm");
        assert_eq!(info["max_client_batch_size"], 32);
        assert_eq!(info["tokenization_workers"], 4);
        assert_eq!(info["model_dtype"], "float32", "--dtype float16 is served as float32");
        let models: Value = client
            .get(format!("http://{http}/v1/models"))
            .send()
            .await
            .expect("models")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            models["data"].as_array().expect("list").len(),
            1,
            "an allow-list of one"
        );
        let too_many = client
            .post(format!("http://{http}/embed"))
            .json(&serde_json::json!({"inputs": vec!["a"; 33]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(too_many.status(), 422, "--max-client-batch-size, as TEI's code answers");
        let metrics = client
            .get(format!("http://{}/metrics", address_of(&addresses, "metrics")))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(metrics.contains("embeddings_http_requests_total"), "{metrics}");
        if !skipped() {
            let args = [
                address_of(&addresses, "gRPC").to_owned(),
                fixtures_dir().display().to_string(),
                "embedding".to_owned(),
            ];
            run_script(
                "EMBEDDINGS_TEST_PYTHON",
                "tei_clients.py",
                &format!("http://{http}"),
                &args,
            )
            .await;
        }
    });
}

#[test]
fn model_id_may_be_a_local_directory_and_tei_clients_rerank_with_it() {
    let reranker = fixtures_dir().join("rerank/tiny-bert-reranker");
    // No `serve`: flags alone, as `text-embeddings-router` takes them.
    let mut server = ServerProcess::start(tei_style(&reranker, &["--json-output"]));
    let http = addresses(&mut server, 1)[0].1.clone();
    assert!(
        server.wait_for("\"ready\"", Duration::from_secs(60)).is_some(),
        "{:?}",
        server.seen
    );
    if skipped() {
        return;
    }
    tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        // gRPC on the HTTP port, by content type.
        let args = [
            http.clone(),
            fixtures_dir().display().to_string(),
            "reranker".to_owned(),
        ];
        run_script(
            "EMBEDDINGS_TEST_PYTHON",
            "tei_clients.py",
            &format!("http://{http}"),
            &args,
        )
        .await;
    });
}

#[test]
fn tei_flags_that_cannot_be_honoured_stop_the_start_in_one_line() {
    let run = |mut command: Command| {
        let output = command.output().expect("runs");
        assert!(!output.status.success(), "expected a failing start");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run(tei_style(Path::new(MINILM), &["--pooling", "splade"]));
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("--pooling splade: sentence-transformers/all-MiniLM-L6-v2 is not a SPLADE model"),
        "{stderr}"
    );
    let stderr = run(tei_style(Path::new(MINILM), &["--pooling", "median"]));
    assert!(stderr.contains("--pooling median is not a pooling mode"), "{stderr}");
    let mut both = tei_style(Path::new(MINILM), &["serve", "--models-file", "supported_models.txt"]);
    both.env_remove("PORT");
    let stderr = run(both);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
