//! `--dtype bfloat16` / `dtype=bfloat16`: fidelity against sentence-transformers on every fixture
//! model and reference text (cosine >= 0.9999, max abs <= 3e-3 per component), batch invariance
//! within the mode, one entry per number format side by side, and the refusal at start on a CPU
//! without bf16 instructions (simulated by a flag).

mod common;

use common::fidelity::{check_fidelity, has_bf16, MAX_ABS};
use common::process::binary;
use common::{
    fixtures_dir, max_abs_diff, offline_hub, pipeline_dir, pipeline_references, read_references, reference_fixtures,
    scratch_dir, test_hf_cache, vectors, Options, TestServer, MINILM, TINY_PIPELINES,
};
use serde_json::json;

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
