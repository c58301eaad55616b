//! text-embeddings-inference 1.9.3 (tests/specs/tei): the binary started as TEI is
//! (`MODEL_ID`, TEI's defaults) with one model of each kind, and TEI's `docs/openapi.json`
//! walked against it; the router's flags and environment variables (its clap `Args`); the gRPC
//! API's `proto/tei.proto`.
//!
//! Where TEI's spec and its code disagree, the walk expects what the code does, since that is
//! what TEI's clients meet (docs/migrating-from-tei.md lists each case):
//! - `/v1/embeddings` errors are `{message, code, type}`: the router serialises the field the
//!   spec calls `error_type` as `type`;
//! - more inputs than `--max-client-batch-size` are 422 `Validation`, not the documented 413
//!   (the walk expects 422 of every invalid request, and the documented schema of its body).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::openapi::Spec;
use super::walk::{Peer, Walk};
use super::{report, spec_file, Check, Expect};
use crate::common::process::ServerProcess;
use crate::common::tei::{address_of, addresses, tei_style};
use crate::common::{fixtures_dir, pipeline_dir};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Embedding,
    Sparse,
    Reranker,
    Classifier,
}

/// What TEI's code answers for an operation on a model of `kind`: its success, its backend
/// error (424) for a model of the wrong kind, or `None` where either may come (`/embed` on a
/// SPLADE model succeeds only with `normalize: false`).
fn expected(kind: Kind, path: &str) -> Option<Expect> {
    use Kind::*;
    let fits = match path {
        "/v1/embeddings" => kind == Embedding,
        "/embed" | "/embed_all" | "/similarity" => match kind {
            Embedding => true,
            Sparse => return None,
            Reranker | Classifier => false,
        },
        "/embed_sparse" => kind == Sparse,
        "/rerank" => kind == Reranker,
        "/predict" => matches!(kind, Reranker | Classifier),
        _ => true,
    };
    Some(if fits { Expect::Success } else { Expect::Status(424) })
}

/// TEI's router beside its spec: validation errors are 422, `--max-client-batch-size` is 32
/// when started as TEI, and `/v1/embeddings` errors name their last field `type`.
fn peer() -> Peer {
    Peer {
        prefix: "",
        path_parameters: Vec::new(),
        fixed_fields: Vec::new(),
        error_schema: None,
        invalid_status: 422,
        many_inputs: 32,
        correct: |_, operation, status, _, mut schema| {
            if operation.path == "/v1/embeddings" && status >= 400 {
                let error_type = schema["properties"]["error_type"].take();
                schema["properties"]["type"] = error_type;
                schema["properties"].as_object_mut().map(|p| p.remove("error_type"));
                schema["required"] = json!(["message", "code", "type"]);
            }
            schema
        },
    }
}

/// Starts the binary as TEI with `model`, walks every operation of TEI's spec against it,
/// sending `token_ids` (a tokenization by the model) where the spec takes token ids.
fn walk_served(model: &Path, kind: Kind, token_ids: &[u64]) -> Vec<Check> {
    let mut spec = Spec::load(&spec_file("tei", "openapi.json"));
    spec.token_ids = token_ids.to_vec();
    let spec = &spec;
    let mut server = ServerProcess::start(tei_style(model, &["--hostname", "127.0.0.1"]));
    let found = addresses(&mut server, 2);
    assert!(
        server.wait_for("\"ready\"", Duration::from_secs(60)).is_some(),
        "{:?}",
        server.seen
    );
    let base = format!("http://{}", address_of(&found, "HTTP and gRPC"));
    let peer = peer();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut walk = Walk {
            spec,
            peer: &peer,
            client: reqwest::Client::new(),
            base,
            checks: Vec::new(),
        };
        for operation in spec.operations() {
            walk.walk(&operation, expected(kind, &operation.path)).await;
        }
        started_as_tei(&mut walk, model, kind).await;
        walk.checks
    })
}

/// TEI's series that a TEI dashboard reads, for a server that embedded or scored.
const EMBED_SERIES: [&str; 14] = [
    "te_request_count",
    "te_request_success",
    "te_request_failure",
    "te_request_duration",
    "te_request_tokenization_duration",
    "te_request_queue_duration",
    "te_request_inference_duration",
    "te_request_input_length",
    "te_embed_count",
    "te_embed_success",
    "te_embed_duration",
    "te_queue_size",
    "te_batch_next_size",
    "te_batch_next_tokens",
];

/// What the spec leaves to the values: `/info` as TEI's code fills it when started with
/// `--model-id` and TEI's defaults, and TEI's metrics after the walk.
async fn started_as_tei(walk: &mut Walk<'_>, model: &Path, kind: Kind) {
    let (client, base) = (walk.client.clone(), walk.base.clone());
    let get = |path: &str| client.get(format!("{base}{path}")).send();
    let info: Value = get("/info").await.expect("info").json().await.expect("JSON");
    let id = model.display().to_string();
    let pooling = match kind {
        Kind::Embedding => json!({"embedding": {"pooling": "mean"}}),
        Kind::Sparse => json!({"embedding": {"pooling": "splade"}}),
        _ => Value::Null,
    };
    let wanted = [
        ("model_id", json!(id)),
        ("served_model_name", json!(id)),
        ("max_client_batch_size", json!(32)),
        ("max_concurrent_requests", json!(512)),
        ("auto_truncate", json!(true)),
        ("model_type", pooling),
    ];
    for (field, value) in wanted {
        let failure = (!value.is_null() && info[field] != value)
            .then(|| format!("`{field}` is {}, TEI's is {value}", info[field]));
        walk.checks.push(Check {
            operation: "GET /info (values)".to_owned(),
            body: None,
            failure,
        });
    }
    let metrics = get("/metrics").await.expect("metrics").text().await.expect("text");
    let mut series: Vec<&str> = EMBED_SERIES.to_vec();
    if matches!(kind, Kind::Reranker | Kind::Classifier) {
        series.retain(|s| !s.starts_with("te_embed"));
        series.extend(["te_predict_count", "te_predict_success", "te_predict_duration"]);
    }
    let missing: Vec<&str> = series
        .into_iter()
        .filter(|name| !metrics.lines().any(|line| line.starts_with(name)))
        .collect();
    walk.checks.push(Check {
        operation: "GET /metrics (TEI's series)".to_owned(),
        body: None,
        failure: (!missing.is_empty()).then(|| format!("missing {missing:?}")),
    });
}

#[test]
fn every_operation_of_teis_openapi_answers_as_teis_code_does() {
    let spec = Spec::load(&spec_file("tei", "openapi.json"));
    assert_eq!(spec.version(), "1.9.3");
    let rerank = fixtures_dir().join("rerank");
    // "hello" in MiniLM's vocabulary (the embedding and SPLADE fixtures), "a" in the scoring
    // fixtures' cut-down one.
    let (minilm, cut_down) = ([101, 7592, 102], [2, 43, 3]);
    let served = [
        (pipeline_dir("tiny-bert-mean-prompts"), Kind::Embedding, minilm),
        (rerank.join("tiny-splade"), Kind::Sparse, minilm),
        (rerank.join("tiny-bert-reranker"), Kind::Reranker, cut_down),
        (rerank.join("tiny-bert-classifier"), Kind::Classifier, cut_down),
    ];
    let mut checks = Vec::new();
    for (model, kind, token_ids) in served {
        for mut check in walk_served(&model, kind, &token_ids) {
            check.operation = format!("{} [{kind:?}]", check.operation);
            checks.push(check);
        }
    }
    // Each operation is walked once per model kind, and the values checked once per kind.
    let operations = spec.operations().len() + 2;
    report("text-embeddings-inference", operations * 4, &checks);
}
