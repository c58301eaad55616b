//! Forward-pass throughput of the runner on the real all-MiniLM-L6-v2 and all-mpnet-base-v2
//! (CPU, float32, each model's own pipeline), with a plain large matmul measured in the same run
//! as the yardstick.
//!
//! Run: `cargo bench --bench runner` (after `scripts/fetch-test-model.py`). Options after `--`:
//! `--model minilm|mpnet` (default minilm), `--seconds S` (time per shape, default 2),
//! `--shape BxL` (that shape only), `--forwards N` (one threading layout only).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use embeddings::hub::{Access, HubSettings, Snapshot};
use embeddings::registry::{ModelSource, ModelSpec};
use embeddings::runner::config::EncoderConfig;
use embeddings::runner::{Embedder, EmbeddingModel, Pooling, SequenceInput};
use embeddings::snapshot::{ModelDescription, WeightFiles};

/// The models this benchmark knows: (name on the command line, repo id, CLS id, SEP id).
const MODELS: [(&str, &str, u32, u32); 2] = [
    ("minilm", "sentence-transformers/all-MiniLM-L6-v2", 101, 102),
    ("mpnet", "sentence-transformers/all-mpnet-base-v2", 0, 2),
];

const SHAPES: [(usize, usize); 6] = [(1, 16), (16, 16), (32, 64), (256, 64), (8, 256), (64, 128)];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args
        .windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let only: Option<(usize, usize)> = args.windows(2).find(|w| w[0] == "--shape").and_then(|w| {
        let (b, l) = w[1].split_once('x')?;
        Some((b.parse().ok()?, l.parse().ok()?))
    });
    let only_layout: Option<usize> = args
        .windows(2)
        .find(|w| w[0] == "--forwards")
        .and_then(|w| w[1].parse().ok());

    let model_name = args
        .windows(2)
        .find(|w| w[0] == "--model")
        .map_or("minilm", |w| w[1].as_str());
    let (_, repo_id, cls, sep) = MODELS
        .into_iter()
        .find(|(name, ..)| *name == model_name)
        .ok_or_else(|| anyhow::anyhow!("--model is minilm or mpnet"))?;
    let cores = embeddings::runner::compute_threads();
    // Two ways to use the cores: one forward pass spread over all of them, or one
    // single-threaded forward pass per core running side by side (the engine's default).
    let layouts = [(1, cores), (cores, 1)];
    if only_layout.is_none() {
        println!(
            "# runner benchmark: {repo_id}, f32, CPU ({})",
            embeddings::runner::cpu_backend()
        );
        // candle sizes its elementwise thread pool once per process, so each layout runs in a
        // child process of its own, configured as the server would be.
        for (forwards, threads) in layouts {
            let status = std::process::Command::new(std::env::current_exe()?)
                .args(args.iter().skip(1).filter(|a| *a != "--bench"))
                .args(["--forwards", &forwards.to_string()])
                .env("CANDLE_NUM_THREADS", threads.to_string())
                .status()?;
            anyhow::ensure!(status.success(), "layout {forwards}x{threads} failed");
        }
        return Ok(());
    }
    let cache = std::env::var_os("EMBEDDINGS_TEST_HF_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-hf-home/hub"));
    let cache_text = cache.to_string_lossy().into_owned();
    let hub = HubSettings::from_lookup(move |name| match name {
        "HF_HUB_CACHE" => Some(cache_text.clone()),
        "HF_HUB_OFFLINE" => Some("1".into()),
        _ => None,
    });
    let spec = ModelSpec {
        id: repo_id.into(),
        source: ModelSource::Hub {
            repo_id: repo_id.into(),
            revision: "main".into(),
        },
        aliases: vec![],
        options: Default::default(),
    };
    let snapshot = Snapshot::new(&spec, &hub, Access::CacheOnly);
    let description = ModelDescription::read(&snapshot)?;
    let files = WeightFiles::fetch(&snapshot)?;
    let model: Arc<EmbeddingModel> = Arc::new(EmbeddingModel::load(
        &description.encoder,
        &files.weights,
        &description.head,
        &Device::Cpu,
    )?);
    let pooling = Pooling::new(description.pooling);
    let config = model.config().clone();

    for (forwards, threads) in layouts.into_iter().filter(|(f, _)| only_layout.is_none_or(|o| o == *f)) {
        let yardstick = parallel_gflops(forwards, threads, budget, || matmul(2048, 384, 1536))?;
        let small = parallel_gflops(forwards, threads, budget, || matmul(16, 384, 384))?;
        println!();
        println!("## {forwards} forward pass(es) x {threads} thread(s)");
        println!("plain matmul 2048x384x1536: {yardstick:.0} GFLOP/s; 16x384x384: {small:.0} GFLOP/s (all forwards together)");
        println!();
        println!("| batch x tokens | ms / batch | tokens/s | GFLOP/s | % of matmul yardstick |");
        println!("|---|---|---|---|---|");
        let shapes: Vec<(usize, usize)> = match only {
            Some(shape) => vec![shape],
            None => SHAPES.to_vec(),
        };
        for (batch, len) in shapes {
            let sequences = synthetic_batch(batch, len, cls, sep);
            let flops = batch as f64 * len as f64 * flops_per_token(&config, len);
            let model = Arc::clone(&model);
            let gflops = parallel_gflops(forwards, threads, budget, move || {
                let inputs: Vec<SequenceInput> = sequences
                    .iter()
                    .map(|tokens| SequenceInput { tokens, pooling })
                    .collect();
                black_box(model.embed_batch(&inputs)?);
                Ok(flops)
            })?;
            let per_batch = flops / (gflops * 1e9 / forwards as f64);
            println!(
                "| {batch} x {len} | {:.2} | {:.0} | {gflops:.0} | {:.0}% |",
                per_batch * 1e3,
                gflops * 1e9 / flops_per_token(&config, len),
                100.0 * gflops / yardstick
            );
        }
    }
    Ok(())
}

fn synthetic_batch(batch: usize, len: usize, cls: u32, sep: u32) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|b| {
            let mut ids = vec![cls];
            ids.extend((1..len - 1).map(|i| 1000 + ((b * 131 + i * 17) % 20000) as u32));
            ids.push(sep);
            ids
        })
        .collect()
}

/// Runs `work` (which returns the FLOPs it did) on `forwards` threads at once, each limited to
/// `threads` compute threads, for about `budget`; returns the total GFLOP/s.
fn parallel_gflops(
    forwards: usize,
    threads: usize,
    budget: Duration,
    work: impl Fn() -> anyhow::Result<f64> + Send + Sync + Clone + 'static,
) -> anyhow::Result<f64> {
    let handles: Vec<_> = (0..forwards)
        .map(|_| {
            let work = work.clone();
            std::thread::spawn(move || -> anyhow::Result<(f64, Duration)> {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
                pool.install(|| {
                    embeddings::runner::limit_matmul_threads(threads);
                    for _ in 0..2 {
                        work()?;
                    }
                    let start = Instant::now();
                    let mut flops = 0.0;
                    let mut runs = 0;
                    while runs < 3 || start.elapsed() < budget {
                        flops += work()?;
                        runs += 1;
                    }
                    Ok((flops, start.elapsed()))
                })
            })
        })
        .collect();
    let mut total = 0.0;
    for handle in handles {
        let (flops, elapsed) = handle.join().map_err(|_| anyhow::anyhow!("bench thread panicked"))??;
        total += flops / elapsed.as_secs_f64() / 1e9;
    }
    Ok(total)
}

/// Multiply-adds of the encoder per token, counted as 2 FLOPs each: the linear layers plus
/// the attention products for a sequence of `len` tokens.
fn flops_per_token(config: &EncoderConfig, len: usize) -> f64 {
    let (h, i, layers) = (
        config.hidden_size as f64,
        config.intermediate_size as f64,
        config.layers as f64,
    );
    let linear = 2.0 * (4.0 * h * h + 2.0 * h * i);
    let attention = 2.0 * 2.0 * len as f64 * h;
    layers * (linear + attention)
}

/// Random operands per matmul shape, made once per thread so only the product is timed.
type Operands = std::collections::HashMap<(usize, usize, usize), (Tensor, Tensor)>;

fn matmul(m: usize, k: usize, n: usize) -> anyhow::Result<f64> {
    thread_local! {
        static OPERANDS: std::cell::RefCell<Operands> = Default::default();
    }
    let (a, b) = OPERANDS.with(|cache| -> anyhow::Result<(Tensor, Tensor)> {
        let mut cache = cache.borrow_mut();
        if let Some(pair) = cache.get(&(m, k, n)) {
            return Ok(pair.clone());
        }
        let pair = (
            Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?,
            Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?,
        );
        cache.insert((m, k, n), pair.clone());
        Ok(pair)
    })?;
    black_box(a.matmul(&b.t()?)?);
    Ok(2.0 * (m * k * n) as f64)
}
