//! TEI's gRPC API (tei.v1) on the HTTP port, driven by grpcio with stubs generated from
//! proto/tei.proto (tests/grpc_client.py): every RPC against the references, a stream of 1,000
//! messages, errors, health and reflection; then the same behind an API key. Needs the test
//! Python (see tests/common/python.rs).

use crate::common;

use std::path::Path;

use common::python::{run_script, skipped};
use common::{fixtures_dir, offline_hub, test_hf_cache, Options, TestServer, MINILM};

/// MiniLM first (what TEI's Info describes and Embed uses), then a reranker, the classifier and
/// a SPLADE model, each the first of its kind.
fn models_file() -> String {
    let rerank = fixtures_dir().join("rerank");
    format!(
        "{MINILM} minilm\n{} bert-rr\n{} bert-cls\n{} splade\n",
        rerank.join("tiny-bert-reranker").display(),
        rerank.join("tiny-bert-classifier").display(),
        rerank.join("tiny-splade").display(),
    )
}

async fn run_grpc_client(options: Options, key: Option<&str>) {
    if skipped() {
        return;
    }
    let server = TestServer::start(&models_file(), offline_hub(&test_hf_cache()), options).await;
    let target = server.base.trim_start_matches("http://").to_owned();
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let mut args = vec![proto.display().to_string(), fixtures_dir().display().to_string()];
    args.extend(key.map(str::to_owned));
    run_script("EMBEDDINGS_TEST_PYTHON", "grpc_client.py", &target, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_as_the_http_routes_do() {
    run_grpc_client(Options::default(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_need_the_key_as_bearer_metadata_when_keys_are_set() {
    let options = Options {
        api_keys: "grpc-secret",
        ..Options::default()
    };
    run_grpc_client(options, Some("grpc-secret")).await;
}
