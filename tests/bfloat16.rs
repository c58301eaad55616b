//! `--dtype bfloat16` / `dtype=bfloat16`: fidelity against sentence-transformers on every fixture
//! model and reference text (cosine >= 0.9999, max abs <= 3e-3 per component) on every kernel
//! family this CPU has (the bf16 dot product, and weights widened to float32 in AVX2 or portable
//! code, as on CPUs without bf16 instructions), batch invariance within the mode, one entry per
//! number format side by side, and the server started as on a CPU without bf16 instructions.

#[allow(dead_code)]
#[path = "it/common/mod.rs"]
mod common;

use common::fidelity::{check_fidelity, MAX_ABS};
use common::process::{binary, ServerProcess};
use common::{
    fixtures_dir, max_abs_diff, offline_hub, pipeline_dir, pipeline_references, read_references, reference_fixtures,
    scratch_dir, test_hf_cache, vectors, Options, TestServer, MINILM, TINY_PIPELINES,
};
use embeddings::runner::kernels::packed::select::{self, Isa, IsaCap};
use serde_json::json;

#[tokio::test]
async fn every_tiny_pipeline_stays_within_the_bounds_in_bfloat16_on_every_kernel() {
    for cap in bf16_kernel_caps() {
        eprintln!("kernels capped at {cap:?}");
        let _capped = CappedKernels::new(cap);
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
}

/// MiniLM and MPNet on the CPU's best bfloat16 kernels and on the next family down (the
/// widening kernels where the CPU has the dot product; the portable ones on an AVX2 CPU).
#[tokio::test]
async fn the_real_models_stay_within_the_bounds_in_bfloat16() {
    for cap in bf16_kernel_caps().into_iter().take(2) {
        eprintln!("kernels capped at {cap:?}");
        let _capped = CappedKernels::new(cap);
        check_real_models().await;
    }
}

async fn check_real_models() {
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

/// Started as on a CPU without bf16 instructions (`--cpu-kernels avx2`, or `portable` where the
/// CPU has no AVX2 either), `--dtype bfloat16` serves, says which kernels it runs, and stays
/// within the bounds.
#[tokio::test]
async fn a_cpu_without_bf16_serves_bfloat16_on_widened_weights() {
    let dir = pipeline_dir("tiny-bert-cls");
    let models = scratch_dir("bf16-widened").join("models.txt");
    std::fs::write(&models, format!("{} tiny\n", dir.display())).expect("models file");
    let cap = if std::arch::is_x86_feature_detected!("avx2") {
        "avx2"
    } else {
        "portable"
    };
    let mut command = binary();
    command
        .args([
            "serve",
            "--port",
            "0",
            "--cpu-kernels",
            cap,
            "--dtype",
            "bfloat16",
            "--models-file",
        ])
        .arg(&models);
    let mut process = ServerProcess::start(command);
    let address = process.address();
    let client = reqwest::Client::new();
    let models: serde_json::Value = client
        .get(format!("http://{address}/v1/models"))
        .send()
        .await
        .expect("models answer")
        .json()
        .await
        .expect("JSON");
    let kernels = models["data"][0]["kernels"].as_str().unwrap_or_default();
    assert!(kernels.contains("widened to float32"), "{models}");
    assert_eq!(models["data"][0]["dtype"], "bfloat16", "{models}");
    for reference in pipeline_references("tiny-bert-cls") {
        let body: serde_json::Value = client
            .post(format!("http://{address}/v1/embeddings"))
            .json(&json!({"model": "tiny", "input": reference.text}))
            .send()
            .await
            .expect("embeddings answer")
            .json()
            .await
            .expect("JSON");
        let diff = max_abs_diff(&vectors(&body)[0], &reference.embedding);
        assert!(diff <= MAX_ABS, "{:?}: {diff}", reference.text);
    }
    drop(process);
    // Values that are no number format or kernel cap are refused by clap, naming the choices.
    for (flag, value, choices) in [
        ("--dtype", "nope", "float32, bfloat16"),
        ("--cpu-kernels", "sse9", "auto, avx512, avx2, portable"),
    ] {
        let output = binary()
            .args(["serve", "--port", "0", flag, value, "--models-file"])
            .arg(&dir)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(choices), "{stderr}");
    }
}

/// The kernel caps under which bfloat16 runs on a different kernel family here: none (the
/// CPU's best: on AVX-512, the bf16 dot product or weights widened in zmm registers, whichever
/// this CPU runs faster), AVX2 (weights widened in ymm registers) and portable (widened in
/// plain Rust). A cap the CPU is already below is left out, saying so.
pub fn bf16_kernel_caps() -> Vec<IsaCap> {
    let best = select::best_isa();
    let mut caps = vec![IsaCap(None)];
    for isa in [Isa::Avx2, Isa::Portable] {
        if isa < best {
            caps.push(IsaCap(Some(isa)));
        } else if isa != best {
            eprintln!("skipped the {isa:?} cap: this CPU's best is {best:?}, its kernels run uncapped");
        }
    }
    caps
}

/// Runs models loaded while it lives on the kernels under `cap` (the cap is process-wide:
/// other tests of the binary loading models meanwhile run on those kernels too, which are held
/// to the same bounds).
pub struct CappedKernels;

impl CappedKernels {
    pub fn new(cap: IsaCap) -> Self {
        select::set_isa_cap(cap);
        Self
    }
}

impl Drop for CappedKernels {
    fn drop(&mut self) {
        select::set_isa_cap(IsaCap(None));
    }
}
