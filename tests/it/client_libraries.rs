//! The real client libraries, with their default settings, against the running server: the
//! official OpenAI Python SDK, huggingface_hub's InferenceClient, the ollama Python client,
//! LlamaIndex's TextEmbeddingsInference, the official cohere SDK and LangChain's CohereEmbeddings;
//! and for reranking, the cohere SDK's v1 and v2 `rerank`, LangChain's CohereRerank and
//! LlamaIndex's TEI reranker (llama-index-postprocessor-tei-rerank); and for hybrid search,
//! qdrant-client indexing our dense and sparse vectors in Qdrant's local mode.
//!
//! Needs a Python with those packages: `EMBEDDINGS_TEST_PYTHON` names it (scripts/test.sh
//! prepares one in target/ from tests/requirements.txt), and
//! `EMBEDDINGS_TEST_PYTHON_LANGCHAIN_COHERE` one for langchain-cohere, which needs an older
//! cohere SDK (tests/requirements-langchain-cohere.txt). Set `EMBEDDINGS_SKIP_CLIENT_LIBRARIES=1`
//! to skip on a machine without it; otherwise a missing package fails the test rather than
//! passing silently.

use crate::common;

use common::python::{run_script, skipped};
use common::{offline_hub, test_hf_cache, Options, TestServer, MINILM};

async fn run_client(script: &str, route: &str) {
    run_client_in("EMBEDDINGS_TEST_PYTHON", script, route).await;
}

/// Runs `script` with the Python that the variable `python_var` names, against MiniLM.
async fn run_client_in(python_var: &str, script: &str, route: &str) {
    if skipped() {
        return;
    }
    let server = TestServer::start(
        &format!("{MINILM} minilm all-minilm\n"),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let fixtures = common::reference_fixtures().display().to_string();
    run_script(python_var, script, &server.url(route), &[fixtures]).await;
}

/// Runs a rerank client script against the scoring fixtures, with the references and the
/// model name of the tiny BERT reranker: the first listed, which TEI clients (whose bodies name
/// no model) get.
async fn run_rerank_client(python_var: &str, script: &str) {
    if skipped() {
        return;
    }
    let server = common::rerank::server(Options::default()).await;
    let (name, alias) = common::rerank::RERANKERS[0];
    let fixtures = common::fixtures_dir().join("rerank").join(format!("{name}.jsonl"));
    let args = [fixtures.display().to_string(), alias.to_owned()];
    run_script(python_var, script, &server.url(""), &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_gets_the_reference_vectors() {
    run_client("openai_sdk_client.py", "/v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hugging_face_ollama_and_llama_index_clients_get_the_reference_vectors() {
    run_client("dialect_clients.py", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_cohere_sdk_gets_the_reference_vectors_and_compact_forms() {
    run_client("cohere_client.py", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchains_cohere_embeddings_get_the_reference_vectors() {
    run_client_in(
        "EMBEDDINGS_TEST_PYTHON_LANGCHAIN_COHERE",
        "langchain_cohere_client.py",
        "",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohere_sdk_and_llama_index_rerank_as_sentence_transformers_scores() {
    run_rerank_client("EMBEDDINGS_TEST_PYTHON", "rerank_clients.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchains_cohere_rerank_ranks_as_sentence_transformers_scores() {
    run_rerank_client("EMBEDDINGS_TEST_PYTHON_LANGCHAIN_COHERE", "langchain_cohere_rerank.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_runs_a_hybrid_query_over_our_dense_and_sparse_vectors() {
    if skipped() {
        return;
    }
    let splade = common::fixtures_dir().join("rerank").join("tiny-splade");
    let server = TestServer::start(
        &format!("{MINILM} minilm\n{} splade\n", splade.display()),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    let references = common::fixtures_dir().join("rerank").join("tiny-splade.jsonl");
    let args = [
        references.display().to_string(),
        "minilm".to_owned(),
        "splade".to_owned(),
    ];
    run_script("EMBEDDINGS_TEST_PYTHON", "qdrant_hybrid.py", &server.url(""), &args).await;
}
