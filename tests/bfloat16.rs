//! `--dtype bfloat16` / `dtype=bfloat16`: fidelity against sentence-transformers on every fixture
//! model and reference text (cosine >= 0.9999, max abs <= 3e-3 per component), batch invariance
//! within the mode, one entry per number format side by side, and the refusal at start on a CPU
//! without bf16 instructions (simulated by a flag).

mod common;

use common::process::binary;
use common::{
    fixtures_dir, max_abs_diff, offline_hub, pipeline_dir, pipeline_references, read_references, reference_fixtures,
    scratch_dir, test_hf_cache, vectors, Options, Reference, TestServer, MINILM, TINY_PIPELINES,
};
use embeddings::runner::packed::cpu_supports_bf16;
use serde_json::{json, Value};

const MIN_COSINE: f32 = 0.9999;
const MAX_ABS: f32 = 3e-3;

fn has_bf16() -> bool {
    if !cpu_supports_bf16() {
        eprintln!("skipped: this CPU has no AVX512_BF16");
    }
    cpu_supports_bf16()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn request(model: &str, reference: &Reference) -> Value {
    let mut body = json!({"model": model, "input": reference.text});
    if let Some(prompt) = &reference.prompt_name {
        body["prompt_name"] = json!(prompt);
    }
    body
}

/// Embeds every reference alone and all of them in one batch; checks both bounds against
/// sentence-transformers and that the two ways agree. Returns (lowest cosine, worst max abs).
async fn check_fidelity(server: &TestServer, model: &str, references: &[Reference]) -> (f32, f32) {
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
                invariance <= 1e-5,
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

#[tokio::test]
async fn every_tiny_pipeline_stays_within_the_bounds_in_bfloat16() {
    if !has_bf16() {
        return;
    }
    for name in TINY_PIPELINES {
        let server = TestServer::start(
            &format!("{} {name} dtype=bfloat16\n", pipeline_dir(name).display()),
            offline_hub(&scratch_dir("empty-cache")),
            Options::default(),
        )
        .await;
        check_fidelity(&server, name, &pipeline_references(name)).await;
    }
}

#[tokio::test]
async fn the_real_models_stay_within_the_bounds_in_bfloat16() {
    if !has_bf16() {
        return;
    }
    let server = TestServer::start(
        &format!(
            "{MINILM} dtype=bfloat16\n\
             sentence-transformers/all-mpnet-base-v2 mpnet dtype=bfloat16\n"
        ),
        offline_hub(&test_hf_cache()),
        Options::default(),
    )
    .await;
    check_fidelity(&server, MINILM, &read_references(&reference_fixtures())).await;
    check_fidelity(
        &server,
        "mpnet",
        &read_references(&fixtures_dir().join("mpnet_reference.jsonl")),
    )
    .await;
}

/// Two lines of one repository in different number formats are two models side by side: the
/// float32 line keeps its exact vectors.
#[tokio::test]
async fn one_repository_in_both_formats() {
    if !has_bf16() {
        return;
    }
    let server = TestServer::start(
        &format!("{MINILM} exact\n{MINILM} fast dtype=bfloat16\n"),
        offline_hub(&test_hf_cache()),
        Options {
            preload: true,
            ..Options::default()
        },
    )
    .await;
    let reference = &read_references(&reference_fixtures())[0];
    let (_, exact) = server.embed(json!({"model": "exact", "input": reference.text})).await;
    let (_, fast) = server.embed(json!({"model": "fast", "input": reference.text})).await;
    let (exact, fast) = (&vectors(&exact)[0], &vectors(&fast)[0]);
    assert!(max_abs_diff(exact, &reference.embedding) <= 2e-5);
    let diff = max_abs_diff(fast, &reference.embedding);
    assert!(diff > 0.0 && diff <= MAX_ABS, "bfloat16 differs, within bounds: {diff}");
    let (status, models) = server.get("/v1/models").await;
    assert_eq!(status, 200, "{models}");
    let dtypes: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["dtype"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(dtypes, ["float32", "bfloat16"]);
    let (_, info) = server.get("/info").await;
    assert_eq!(info["model_dtype"], "float32", "the first entry's");
}

#[test]
fn a_cpu_without_bf16_refuses_the_flag_at_start_in_one_line() {
    let dir = pipeline_dir("tiny-bert-cls");
    let models = scratch_dir("bf16-refused").join("models.txt");
    for (line, flags) in [
        (format!("{} tiny\n", dir.display()), vec!["--dtype", "bfloat16"]),
        (format!("{} tiny dtype=bf16\n", dir.display()), vec![]),
    ] {
        std::fs::write(&models, line).expect("models file");
        let output = binary()
            .args(["serve", "--port", "0", "--simulate-cpu-without-bf16", "--models-file"])
            .arg(&models)
            .args(flags)
            .output()
            .expect("runs");
        assert!(!output.status.success(), "expected a failing start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(
            errors[0].contains("model tiny") || errors[0].contains("tiny-bert-cls"),
            "{stderr}"
        );
        assert!(
            errors[0].contains("AVX512_BF16") && errors[0].contains("--dtype float32"),
            "{stderr}"
        );
    }
    // A value that is no number format is refused by clap, naming the choices.
    let output = binary()
        .args([
            "serve",
            "--port",
            "0",
            "--simulate-cpu-without-bf16",
            "--dtype",
            "nope",
            "--models-file",
        ])
        .arg(&models)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("float32, bfloat16"), "{stderr}");
}
