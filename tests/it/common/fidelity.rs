//! The checks every model's vectors go through: float32 parity with sentence-transformers'
//! references (every prompt row, `usage` too), token ids giving the texts' vectors, batch
//! invariance, and bfloat16 within its bounds. The per-architecture test files and the
//! bfloat16 suite share them.

use serde_json::{json, Value};

use super::{
    max_abs_diff, offline_hub, pipeline_dir, pipeline_references, scratch_dir, vectors, Options, Reference, TestServer,
};

pub const MIN_COSINE: f32 = 0.9999;
pub const MAX_ABS: f32 = 3e-3;
/// float32 against sentence-transformers' float32 references.
pub const PARITY: f32 = 2e-5;
/// One text's vector alone and inside a batch.
pub const INVARIANCE: f32 = 1e-5;

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

pub fn request(model: &str, reference: &Reference) -> Value {
    let mut body = json!({"model": model, "input": reference.text});
    if let Some(prompt) = &reference.prompt_name {
        body["prompt_name"] = json!(prompt);
    }
    body
}

/// One reference row (its prompt too) through HTTP in float32: within [`PARITY`], with its
/// token count as `usage`. Returns the difference.
pub async fn check_reference(server: &TestServer, model: &str, reference: &Reference) -> f32 {
    let (status, body) = server.embed(request(model, reference)).await;
    assert_eq!(status, 200, "{model}: {body}");
    let diff = max_abs_diff(&vectors(&body)[0], &reference.embedding);
    assert!(
        diff <= PARITY,
        "{model} {:?} {:?}: max abs diff {diff}",
        reference.text,
        reference.prompt_name
    );
    assert_eq!(
        body["usage"]["prompt_tokens"], reference.tokens,
        "{model} {:?}",
        reference.text
    );
    diff
}

/// Serves the tiny pipeline `name` alone, in `dtype`.
pub async fn serve_pipeline(name: &str, dtype: &str) -> TestServer {
    TestServer::start(
        &format!("{} {name} dtype={dtype}\n", pipeline_dir(name).display()),
        offline_hub(&scratch_dir("empty-cache")),
        Options {
            preload: true,
            ..Options::default()
        },
    )
    .await
}

/// float32 through HTTP: every reference row (each prompt) within [`PARITY`] with its token
/// count as `usage`, the reference ids giving the same vectors, and every text's vector the
/// same alone as in one batch of all of them. Returns the worst difference.
pub async fn check_float32(name: &str) -> f32 {
    let server = serve_pipeline(name, "float32").await;
    let references = pipeline_references(name);
    let mut worst = 0f32;
    for reference in &references {
        worst = worst.max(check_reference(&server, name, reference).await);
    }
    let ids: Vec<&Vec<u32>> = references.iter().map(|r| &r.ids).collect();
    let (status, body) = server.embed(json!({"model": name, "input": ids})).await;
    assert_eq!(status, 200, "{name}: {body}");
    for (got, reference) in vectors(&body).iter().zip(&references) {
        let diff = max_abs_diff(got, &reference.embedding);
        assert!(diff <= PARITY, "{name} ids of {:?}: {diff}", reference.text);
    }
    for prompt in prompt_names(&references) {
        let rows: Vec<&Reference> = references.iter().filter(|r| r.prompt_name == prompt).collect();
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let mut body = json!({"model": name, "input": texts});
        if let Some(prompt) = &prompt {
            body["prompt_name"] = json!(prompt);
        }
        let (status, batched) = server.embed(body).await;
        assert_eq!(status, 200, "{name}: {batched}");
        for (together, reference) in vectors(&batched).iter().zip(&rows) {
            let (_, alone) = server.embed(request(name, reference)).await;
            let diff = max_abs_diff(&vectors(&alone)[0], together);
            assert!(
                diff <= INVARIANCE,
                "{name} {:?}: alone vs batched {diff}",
                reference.text
            );
        }
    }
    eprintln!("{name} float32: worst max abs diff {worst:e}");
    worst
}

fn prompt_names(references: &[Reference]) -> Vec<Option<String>> {
    let mut names: Vec<Option<String>> = Vec::new();
    for reference in references {
        if !names.contains(&reference.prompt_name) {
            names.push(reference.prompt_name.clone());
        }
    }
    names
}

/// bfloat16 through HTTP on the tiny pipeline `name`, on the CPU's best kernels:
/// [`check_fidelity`] (`tests/bfloat16.rs` runs every fixture on the other kernels).
pub async fn check_bfloat16(name: &str) {
    let server = serve_pipeline(name, "bfloat16").await;
    check_fidelity(&server, name, &pipeline_references(name)).await;
}

/// Embeds every reference alone and all of them in one batch; checks both bounds against
/// sentence-transformers and that the two ways agree. Returns (lowest cosine, worst max abs).
pub async fn check_fidelity(server: &TestServer, model: &str, references: &[Reference]) -> (f32, f32) {
    let (mut lowest, mut worst) = (1f32, 0f32);
    let plain: Vec<&Reference> = references.iter().filter(|r| r.prompt_name.is_none()).collect();
    let texts: Vec<&str> = plain.iter().map(|r| r.text.as_str()).collect();
    let (status, batched) = server.embed(json!({"model": model, "input": texts})).await;
    assert_eq!(status, 200, "{model}: {batched}");
    let batched = vectors(&batched);
    for reference in references {
        let (status, body) = server.embed(request(model, reference)).await;
        assert_eq!(status, 200, "{model}: {body}");
        let alone = &vectors(&body)[0];
        let (cos, diff) = (
            cosine(alone, &reference.embedding),
            max_abs_diff(alone, &reference.embedding),
        );
        assert!(
            cos >= MIN_COSINE && diff <= MAX_ABS,
            "{model} {:?} {:?}: cosine {cos}, max abs {diff}",
            reference.text,
            reference.prompt_name
        );
        if let Some(index) = plain.iter().position(|r| std::ptr::eq(*r, reference)) {
            let invariance = max_abs_diff(alone, &batched[index]);
            assert!(
                invariance <= INVARIANCE,
                "{model} {:?}: alone vs batched {invariance}",
                reference.text
            );
        }
        lowest = lowest.min(cos);
        worst = worst.max(diff);
    }
    eprintln!("{model} bfloat16: lowest cosine {lowest}, worst max abs {worst:e}");
    (lowest, worst)
}
