//! OpenAI's embeddings and models operations (tests/specs/openai, extracted from its published
//! OpenAPI document), walked against the server started our way, with a models file: every
//! request the spec's schemas build (strings, string arrays, token arrays, arrays of token
//! arrays; `encoding_format` float and base64) answers `CreateEmbeddingResponse`, the model list
//! and a model `ListModelsResponse` and `Model`, and every error OpenAI's `ErrorResponse`.
//!
//! Where OpenAI's spec and its API disagree, the walk expects what the API does, since that is
//! what the SDKs read: with `encoding_format: "base64"` each `embedding` is a base64 string (the
//! spec types it as an array of floats only).

use serde_json::{json, Value};

use super::openapi::{Operation, Spec};
use super::walk::{Peer, Walk};
use super::{report, spec_file, Expect};
use crate::common::{offline_hub, pipeline_dir, scratch_dir, Options, TestServer};

fn peer(spec: &Spec) -> Peer {
    Peer {
        prefix: "/v1",
        path_parameters: vec![("model", "tiny".to_owned())],
        fixed_fields: vec![("model", json!("tiny"))],
        error_schema: Some(
            spec.resolve(&json!({"$ref": "#/components/schemas/ErrorResponse"}))
                .clone(),
        ),
        invalid_status: 400,
        many_inputs: 2048,
        correct: base64_answers,
    }
}

/// A base64 request's answer carries strings where the spec says arrays of floats.
fn base64_answers(spec: &Spec, operation: &Operation, status: u16, request: Option<&Value>, schema: Value) -> Value {
    let base64 = request.is_some_and(|r| r["encoding_format"] == "base64");
    if operation.path != "/embeddings" || status != 200 || !base64 {
        return schema;
    }
    let mut schema = schema;
    let mut embedding = spec.resolve(&schema["properties"]["data"]["items"]).clone();
    embedding["properties"]["embedding"] = json!({"type": "string", "contentEncoding": "base64"});
    schema["properties"]["data"]["items"] = embedding;
    schema
}

#[tokio::test]
async fn openais_embeddings_and_models_operations_answer_as_its_spec_says() {
    let mut spec = Spec::load(&spec_file("openai", "openapi.embeddings.json"));
    // "hello" in MiniLM's vocabulary, which the fixture uses; other ids are refused (not a
    // tokenization by the model), as docs/api/openai.md says.
    spec.token_ids = vec![101, 7592, 102];
    let file = format!("{} tiny\n", pipeline_dir("tiny-bert-mean-prompts").display());
    let server = TestServer::start(&file, offline_hub(&scratch_dir("openai-spec")), Options::default()).await;
    let peer = peer(&spec);
    let mut walk = Walk {
        spec: &spec,
        peer: &peer,
        client: reqwest::Client::new(),
        base: server.base.clone(),
        checks: Vec::new(),
    };
    let operations = spec.operations();
    for operation in &operations {
        walk.walk(operation, Some(Expect::Success)).await;
    }
    // An unknown model: OpenAI's 404 with its error object.
    let retrieve = operations
        .iter()
        .find(|o| o.path == "/models/{model}")
        .expect("retrieveModel");
    let mut unknown = Walk {
        peer: &Peer {
            path_parameters: vec![("model", "no-such-model".to_owned())],
            ..super::openai::peer(&spec)
        },
        ..walk
    };
    unknown.check(retrieve, None, Some(Expect::Status(404))).await;
    report("OpenAI", operations.len(), &unknown.checks);
}
