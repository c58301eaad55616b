//! Every dialect's routes over raw HTTP on the real all-MiniLM-L6-v2: the vectors match
//! sentence-transformers' through each of them, the options they carry are honoured, and every
//! route's errors (unknown model, bad body, empty input, too many inputs) come in that
//! dialect's shape, naming entries as clients know them (never by a server path).

use crate::common;

use common::{
    assert_near_references, fixtures_dir, max_abs_diff, offline_hub, read_references, reference_fixtures,
    test_hf_cache, Options, Reference, TestServer, MINILM,
};
use serde_json::{json, Value};

/// MiniLM, and a tiny model whose pipeline has no Normalize (Dense + tanh), for `normalize`.
async fn server() -> TestServer {
    let dense = fixtures_dir().join("st-pipelines/tiny-bert-max-dense");
    TestServer::start(
        &format!("{MINILM} minilm all-minilm\n{} dense\n", dense.display()),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await
}

fn dense_reference() -> Reference {
    read_references(&fixtures_dir().join("st-pipelines/tiny-bert-max-dense.jsonl")).remove(0)
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("a vector")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn matrix(value: &Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .expect("a list of vectors")
        .iter()
        .map(floats)
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test]
async fn tei_routes_embed_tokenize_and_describe() {
    let server = server().await;
    let references = read_references(&reference_fixtures());
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    for path in ["/embed", "/"] {
        let (status, body) = server.post(path, &json!({"inputs": texts})).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_near_references(&matrix(&body), &references, path);
    }
    // One string still answers a list of one vector, as TEI does.
    let (_, one) = server.post("/embed", &json!({"inputs": texts[0]})).await;
    assert_eq!(matrix(&one).len(), 1);
    // normalize: false is the pipeline's own vector (MiniLM's ends in Normalize; the Dense
    // model's does not).
    let (_, raw) = server
        .post("/embed", &json!({"inputs": texts[0], "normalize": false}))
        .await;
    assert!(max_abs_diff(&matrix(&raw)[0], &references[0].embedding) <= 2e-5);
    let dense = dense_reference();
    let (_, raw) = server
        .post(
            "/embed",
            &json!({"inputs": dense.text, "normalize": false, "model": "dense"}),
        )
        .await;
    let unnormalized = dense.unnormalized.as_ref().expect("fixture");
    assert!(max_abs_diff(&matrix(&raw)[0], unnormalized) <= 2e-5);
    assert!(
        (norm(unnormalized) - 1.0).abs() > 1e-2,
        "the fixture is not unit length"
    );
    let (_, unit) = server
        .post("/embed", &json!({"inputs": dense.text, "model": "dense"}))
        .await;
    assert!(max_abs_diff(&matrix(&unit)[0], &dense.embedding) <= 2e-5);
    let (_, short) = server
        .post("/embed", &json!({"inputs": texts[0], "dimensions": 32}))
        .await;
    assert_eq!(matrix(&short)[0].len(), 32);
    // The long text is cut at 256 tokens; with truncation off it is TEI's validation error.
    let long = references
        .iter()
        .find(|r| r.tokens == 256)
        .expect("a truncated fixture");
    let (status, body) = server
        .post("/embed", &json!({"inputs": long.text, "truncate": false}))
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (422, Some("Validation")),
        "{body}"
    );
    let (_, left) = server
        .post("/embed", &json!({"inputs": long.text, "truncation_direction": "left"}))
        .await;
    assert!(
        max_abs_diff(&matrix(&left)[0], &long.embedding) > 1e-3,
        "the other end was kept"
    );

    let (status, tokens) = server.post("/tokenize", &json!({"inputs": [texts[0]]})).await;
    assert_eq!(status, 200, "{tokens}");
    let ids: Vec<u64> = tokens[0]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["id"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(ids, references[0].ids.iter().map(|&i| i as u64).collect::<Vec<_>>());
    assert_eq!(tokens[0][0]["special"], true);
    assert_eq!(tokens[0][1]["start"], 0);

    let (status, info) = server.get("/info").await;
    assert_eq!(status, 200);
    assert_eq!(info["model_id"], MINILM);
    assert_eq!(info["max_input_length"], 256);
    assert_eq!(info["model_type"]["embedding"]["pooling"], "mean");
}

#[tokio::test]
async fn hugging_face_inference_paths_answer_the_hosted_shape() {
    let server = server().await;
    let references = read_references(&reference_fixtures());
    for path in [
        format!("/pipeline/feature-extraction/{MINILM}"),
        format!("/models/{MINILM}"),
        format!("/models/{MINILM}/pipeline/feature-extraction"),
        format!("/hf-inference/models/{MINILM}/pipeline/feature-extraction"),
        "/pipeline/feature-extraction/minilm".to_owned(),
    ] {
        let (status, one) = server.post(&path, &json!({"inputs": references[0].text})).await;
        assert_eq!(status, 200, "{path}: {one}");
        assert!(
            max_abs_diff(&floats(&one), &references[0].embedding) <= 2e-5,
            "{path}: one text, one vector"
        );
        let texts = [references[1].text.as_str(), references[2].text.as_str()];
        let (_, many) = server
            .post(&path, &json!({"inputs": texts, "options": {"wait_for_model": true}}))
            .await;
        assert_near_references(&matrix(&many), &references[1..3], &path);
    }
    // Options at the top level and inside `parameters`.
    let dense = dense_reference();
    let unnormalized = dense.unnormalized.as_ref().expect("fixture");
    for body in [
        json!({"inputs": dense.text, "normalize": false}),
        json!({"inputs": dense.text, "parameters": {"normalize": false}}),
    ] {
        let (_, raw) = server.post("/pipeline/feature-extraction/dense", &body).await;
        assert!(max_abs_diff(&floats(&raw), unnormalized) <= 2e-5, "{body}");
    }
    let (_, short) = server
        .post(
            "/models/dense",
            &json!({"inputs": dense.text, "parameters": {"dimensions": 4}}),
        )
        .await;
    assert_eq!(floats(&short).len(), 4);
    // GET /models/{id} stays OpenAI's model object.
    let (status, card) = server.get(&format!("/models/{MINILM}")).await;
    assert_eq!((status, card["id"].as_str()), (200, Some(MINILM)));
}

#[tokio::test]
async fn ollama_routes_embed_list_and_show() {
    let server = server().await;
    let references = read_references(&reference_fixtures());
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    for model in ["all-minilm", "all-minilm:latest", MINILM] {
        let (status, body) = server
            .post(
                "/api/embed",
                &json!({"model": model, "input": texts, "keep_alive": "5m"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["model"], model);
        assert_near_references(&matrix(&body["embeddings"]), &references, model);
        let tokens: usize = references.iter().map(|r| r.tokens).sum();
        assert_eq!(body["prompt_eval_count"], tokens);
        assert!(body["total_duration"].as_u64().is_some() && body["load_duration"].as_u64().is_some());
    }
    let (status, body) = server
        .post("/api/embeddings", &json!({"model": "all-minilm", "prompt": texts[0]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(max_abs_diff(&floats(&body["embedding"]), &references[0].embedding) <= 2e-5);

    let long = references
        .iter()
        .find(|r| r.tokens == 256)
        .expect("a truncated fixture");
    let (status, body) = server
        .post(
            "/api/embed",
            &json!({"model": "all-minilm", "input": long.text, "truncate": false}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string());

    let (status, tags) = server.get("/api/tags").await;
    assert_eq!(status, 200);
    let model = &tags["models"][0];
    assert_eq!(model["name"], format!("{MINILM}:latest"));
    assert_eq!(model["details"]["family"], "bert");
    assert!(model["size"].as_u64().is_some_and(|s| s > 1_000_000), "{model}");
    let (status, show) = server.post("/api/show", &json!({"model": "all-minilm"})).await;
    assert_eq!(status, 200, "{show}");
    assert_eq!(show["capabilities"], json!(["embedding"]));
    assert_eq!(show["model_info"]["bert.embedding_length"], 384);
    let (status, version) = server.get("/api/version").await;
    assert_eq!(status, 200);
    assert!(version["version"].is_string());
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    OpenAi,
    Tei,
    Plain,
}

/// One route's request bodies for the same mistakes: (route for a known model, route for an
/// unknown one, body naming an unknown model, body with an empty input, body with too many
/// inputs, body with a malformed input field).
struct Case {
    dialect: Dialect,
    route: String,
    unknown_route: String,
    unknown: Value,
    empty: Value,
    many: Value,
    malformed: Value,
}

fn cases() -> Vec<Case> {
    let too_many = vec!["x"; 2049];
    let tei = |route: &str| Case {
        dialect: Dialect::Tei,
        route: route.into(),
        unknown_route: route.into(),
        unknown: json!({"inputs": "x", "model": "nope"}),
        empty: json!({"inputs": []}),
        many: json!({"inputs": too_many}),
        malformed: json!({"inputs": 5}),
    };
    let hf = |route: &str| Case {
        dialect: Dialect::Plain,
        route: route.replace("{model}", MINILM),
        unknown_route: route.replace("{model}", "nope"),
        unknown: json!({"inputs": "x"}),
        empty: json!({"inputs": []}),
        many: json!({"inputs": too_many}),
        malformed: json!({"inputs": 5}),
    };
    let with_model = |dialect, route: &str, field: &str| Case {
        dialect,
        route: route.into(),
        unknown_route: route.into(),
        unknown: json!({"model": "nope", field: "x"}),
        empty: json!({"model": "minilm", field: []}),
        many: json!({"model": "minilm", field: too_many}),
        malformed: json!({"model": "minilm", field: 5}),
    };
    vec![
        with_model(Dialect::OpenAi, "/v1/embeddings", "input"),
        with_model(Dialect::OpenAi, "/embeddings", "input"),
        tei("/embed"),
        tei("/"),
        tei("/tokenize"),
        hf("/pipeline/feature-extraction/{model}"),
        hf("/models/{model}"),
        hf("/hf-inference/models/{model}/pipeline/feature-extraction"),
        with_model(Dialect::Plain, "/api/embed", "input"),
    ]
}

/// Every embedding route's errors for the same mistakes, each in its dialect's shape and with
/// its dialect's status.
#[tokio::test]
async fn every_dialect_reports_errors_in_its_own_shape() {
    let server = server().await;
    for case in cases() {
        let route = &case.route;
        let shape_ok = |body: &Value| match case.dialect {
            Dialect::OpenAi => body["error"]["message"].is_string() && body["error"]["type"].is_string(),
            Dialect::Tei => body["error"].is_string() && body["error_type"].is_string(),
            Dialect::Plain => body["error"].is_string() && body.as_object().is_some_and(|o| o.len() == 1),
        };
        let tei = case.dialect == Dialect::Tei;
        let checks = [
            (
                "unknown model",
                &case.unknown_route,
                case.unknown.to_string(),
                404,
                None,
            ),
            (
                "empty input",
                route,
                case.empty.to_string(),
                400,
                tei.then_some("Empty"),
            ),
            (
                "too many inputs",
                route,
                case.many.to_string(),
                if tei { 422 } else { 400 },
                None,
            ),
            ("bad body", route, "{not json".to_owned(), 400, None),
            (
                "malformed field",
                route,
                case.malformed.to_string(),
                if tei { 422 } else { 400 },
                None,
            ),
        ];
        for (mistake, path, body, status, error_type) in checks {
            let (got, answer) = server.post_raw(path, &body).await;
            assert_eq!(got, status, "{path}, {mistake}: {answer}");
            assert!(shape_ok(&answer), "{path}, {mistake}: {answer}");
            if let Some(error_type) = error_type {
                assert_eq!(answer["error_type"], error_type, "{path}, {mistake}");
            }
        }
    }
    // The older Ollama route and /api/show: unknown model and bad bodies, in Ollama's shape.
    for (path, body) in [
        ("/api/embeddings", json!({"model": "nope", "prompt": "x"})),
        ("/api/show", json!({"model": "nope"})),
    ] {
        let (status, answer) = server.post(path, &body).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(answer["error"].is_string() && answer.as_object().is_some_and(|o| o.len() == 1));
        let (status, answer) = server.post_raw(path, "{not json").await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].is_string());
    }
    let (status, answer) = server.post("/api/embeddings", &json!({"model": "minilm"})).await;
    assert_eq!(status, 400, "no prompt: {answer}");
}

/// A local directory entry is shown to clients by its alias (or directory name), never by the
/// path on the server's disk.
#[tokio::test]
async fn clients_never_see_a_path_of_the_servers_disk() {
    let (aliased, dir) = (common::tiny_model_dir(), common::tiny_model_dir());
    let server = TestServer::start(
        &format!("{} tiny\n{}\n", aliased.display(), dir.display()),
        common::offline_hub(&common::scratch_dir("empty-cache")),
        Options::default(),
    )
    .await;
    let (status, body) = server.embed(json!({"model": "nope", "input": "x"})).await;
    assert_eq!(status, 404);
    let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
    let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(message.contains("tiny") && message.contains(folder), "{message}");
    for path in [&aliased, &dir] {
        let path = path.display().to_string();
        assert!(!message.contains(&path), "{message}");
        let (_, models) = server.get("/v1/models").await;
        assert!(!models.to_string().contains(&path), "{models}");
    }
    let (_, tags) = server.get("/api/tags").await;
    assert_eq!(tags["models"][0]["name"], "tiny:latest");
}
