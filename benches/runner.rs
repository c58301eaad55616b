//! Forward-pass throughput of the runner on the real all-MiniLM-L6-v2 and all-mpnet-base-v2
//! (CPU, float32 and bfloat16, each model's own pipeline), and on random weights with the real
//! configs of Qwen3-Embedding-0.6B, embeddinggemma-300m, nomic-embed-text-v1.5 and
//! gte-modernbert-base (`benches/shapes/`), with a plain large float32 matmul measured in the
//! same run as the yardstick (the roof).
//!
//! Run: `cargo bench --bench runner` (after `scripts/fetch-test-model.py`). Options after `--`:
//! `--model minilm|mpnet|qwen3-embedding-0.6b|embeddinggemma-300m|nomic-embed-text-v1.5|gte-modernbert-base`
//! (default minilm), `--dtype float32|bfloat16` (default both), `--seconds S` (time per shape, default 2), `--shape BxL` (that shape only),
//! `--forwards N` (one threading layout only), `--cpu-kernels avx512|avx2|portable` (cap the
//! kernels' instruction set, as the server's flag does, to time the AVX2 kernels on an AVX-512
//! CPU).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::DType;
use candle_core::Device;
use candle_nn::VarBuilder;
use embeddings::hub::{Access, HubSettings, Snapshot};
use embeddings::model_files::{ModelDescription, WeightFiles};
use embeddings::registry::{ModelSource as ModelSourceOfSpec, ModelSpec};
use embeddings::runner::architectures;
use embeddings::runner::backbone::Architecture;
use embeddings::runner::head::HeadStep;
use embeddings::runner::{EmbeddingModel, Pooling, PoolingMode, PoolingModes, Precision, SequenceInput, SequenceModel};
use roof::{bf16_matmul, matmul, packed_matmul, parallel_gflops, ROOF_SHAPE};

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/random_weights.rs"]
mod random_weights;
#[path = "support/roof.rs"]
mod roof;

/// Real configs timed on random weights: (name on the command line, config file).
const SHAPE_MODELS: [(&str, &str); 4] = [
    ("qwen3-embedding-0.6b", "qwen3-embedding-0.6b.json"),
    ("embeddinggemma-300m", "embeddinggemma-300m.json"),
    ("nomic-embed-text-v1.5", "nomic-embed-text-v1.5.json"),
    ("gte-modernbert-base", "gte-modernbert-base.json"),
];

/// Their shapes: a sentence, a small batch, a batch of mid-length texts, one long text.
const LARGE_SHAPES: [(usize, usize); 4] = [(1, 16), (16, 16), (4, 128), (1, 512)];

/// Where the benchmarked model comes from.
enum Source {
    /// A real snapshot in the test cache.
    Snapshot { repo_id: &'static str, cls: u32, sep: u32 },
    /// A real config with random weights.
    Shape { config: PathBuf },
}

/// The models this benchmark knows: (name on the command line, repo id, CLS id, SEP id).
const MODELS: [(&str, &str, u32, u32); 2] = [
    ("minilm", "sentence-transformers/all-MiniLM-L6-v2", 101, 102),
    ("mpnet", "sentence-transformers/all-mpnet-base-v2", 0, 2),
];

const SHAPES: [(usize, usize); 6] = [(1, 16), (16, 16), (32, 64), (256, 64), (8, 256), (64, 128)];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let budget = cpu::seconds_arg(&args, 2.0);
    let only: Option<(usize, usize)> = args.windows(2).find(|w| w[0] == "--shape").and_then(|w| {
        let (b, l) = w[1].split_once('x')?;
        Some((b.parse().ok()?, l.parse().ok()?))
    });
    let only_layout: Option<usize> = args
        .windows(2)
        .find(|w| w[0] == "--forwards")
        .and_then(|w| w[1].parse().ok());

    let precisions: Vec<Precision> = match args.windows(2).find(|w| w[0] == "--dtype") {
        Some(w) => vec![Precision::parse(&w[1]).ok_or_else(|| anyhow::anyhow!("--dtype is float32 or bfloat16"))?],
        None => vec![Precision::Float32, Precision::BFloat16],
    };
    if let Some(isa) = cpu::cpu_kernels_arg(&args)? {
        embeddings::runner::kernels::packed::select::cap_isa(isa);
    }
    let model_name = args
        .windows(2)
        .find(|w| w[0] == "--model")
        .map_or("minilm", |w| w[1].as_str());
    let source = match MODELS.into_iter().find(|(name, ..)| *name == model_name) {
        Some((_, repo_id, cls, sep)) => Source::Snapshot { repo_id, cls, sep },
        None => match SHAPE_MODELS.into_iter().find(|(name, _)| *name == model_name) {
            Some((_, file)) => Source::Shape {
                config: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("benches/shapes")
                    .join(file),
            },
            None => anyhow::bail!(
                "--model is minilm, mpnet, or one of {}",
                SHAPE_MODELS.map(|(name, _)| name).join(", ")
            ),
        },
    };
    let title = match &source {
        Source::Snapshot { repo_id, .. } => repo_id.to_string(),
        Source::Shape { .. } => format!("{model_name} (its config, random weights)"),
    };
    let cores = embeddings::runner::kernels::compute_threads();
    // Two ways to use the cores: one forward pass spread over all of them, or one
    // single-threaded forward pass per core running side by side (the engine's default).
    let layouts = [(1, cores), (cores, 1)];
    if only_layout.is_none() {
        println!(
            "# runner benchmark: {title}, CPU {} ({})",
            cpu::cpu_name(),
            embeddings::runner::kernels::cpu_backend()
        );
        for precision in &precisions {
            println!(
                "kernels, {precision}: {}",
                embeddings::runner::kernels::describe(&Device::Cpu, *precision)
            );
        }
        // candle sizes its elementwise thread pool once per process, so each layout runs in a
        // child process of its own, configured as the server would be.
        for (forwards, threads) in layouts {
            let status = std::process::Command::new(std::env::current_exe()?)
                .args(args.iter().skip(1).filter(|a| *a != "--bench"))
                .args(["--forwards", &forwards.to_string()])
                .env("CANDLE_NUM_THREADS", threads.to_string())
                // As the server sets it (see `configure_cpu_threads`).
                .env("RAYON_NUM_THREADS", cores.to_string())
                .status()?;
            anyhow::ensure!(status.success(), "layout {forwards}x{threads} failed");
        }
        return Ok(());
    }
    let (model_source, cls, sep, shapes_default): (ModelSource, u32, u32, &[(usize, usize)]) = match &source {
        Source::Snapshot { repo_id, cls, sep } => (load_snapshot(repo_id)?, *cls, *sep, &SHAPES),
        Source::Shape { config } => (
            ModelSource::Random(architectures::from_file(config)?),
            1,
            2,
            &LARGE_SHAPES,
        ),
    };
    let pooling = model_source.pooling();

    for (forwards, threads) in layouts.into_iter().filter(|(f, _)| only_layout.is_none_or(|o| o == *f)) {
        let (m, k, n) = ROOF_SHAPE;
        let yardstick = parallel_gflops(forwards, threads, budget, move || matmul(m, k, n))?;
        let small = parallel_gflops(forwards, threads, budget, || matmul(16, 384, 384))?;
        println!();
        println!("## {forwards} forward pass(es) x {threads} thread(s)");
        println!("float32 roof, a plain matmul {m}x{k}x{n}: {yardstick:.0} GFLOP/s; 16x384x384: {small:.0} GFLOP/s (all forwards together)");
        if embeddings::runner::kernels::packed::available(Precision::Float32) {
            let packed = parallel_gflops(forwards, threads, budget, move || {
                packed_matmul(Precision::Float32, m, k, n)
            })?;
            println!(
                "packed float32 kernel on the same {m}x{k}x{n}: {packed:.0} GFLOP/s ({:.2}x the plain matmul)",
                packed / yardstick
            );
        }
        if precisions.contains(&Precision::BFloat16) {
            let bf16 = parallel_gflops(forwards, threads, budget, move || bf16_matmul(m, k, n))?;
            println!(
                "bfloat16 kernel on the same {m}x{k}x{n}: {bf16:.0} GFLOP/s ({:.2}x the plain matmul)",
                bf16 / yardstick
            );
        }
        for &precision in &precisions {
            let model: Arc<EmbeddingModel> = Arc::new(model_source.load(precision)?);
            let config = model.shape().clone();
            println!();
            println!("### {precision}");
            println!();
            println!("| batch x tokens | ms / batch | tokens/s | GFLOP/s | % of float32 roof |");
            println!("|---|---|---|---|---|");
            let shapes: Vec<(usize, usize)> = match only {
                Some(shape) => vec![shape],
                None => shapes_default.to_vec(),
            };
            for (batch, len) in shapes {
                let sequences = synthetic_batch(batch, len, cls, sep);
                let flops = batch as f64 * len as f64 * config.flops_per_token(len);
                let model = Arc::clone(&model);
                let gflops = parallel_gflops(forwards, threads, budget, move || {
                    let inputs: Vec<SequenceInput> = sequences
                        .iter()
                        .map(|tokens| SequenceInput::single(tokens, pooling))
                        .collect();
                    black_box(model.run_batch(&inputs)?);
                    Ok(flops)
                })?;
                let per_batch = flops / (gflops * 1e9 / forwards as f64);
                println!(
                    "| {batch} x {len} | {:.2} | {:.0} | {gflops:.0} | {:.0}% |",
                    per_batch * 1e3,
                    gflops * 1e9 / config.flops_per_token(len),
                    100.0 * gflops / yardstick
                );
            }
        }
    }
    Ok(())
}

/// The model a run times, before it is loaded in each number format.
enum ModelSource {
    Real {
        description: Box<ModelDescription>,
        files: WeightFiles,
    },
    Random(Arc<dyn Architecture>),
}

impl ModelSource {
    fn load(&self, precision: Precision) -> anyhow::Result<EmbeddingModel> {
        match self {
            Self::Real { description, files } => Ok(EmbeddingModel::load(
                description.architecture.as_ref(),
                &files.weights,
                &description.head,
                &Device::Cpu,
                precision,
            )?),
            Self::Random(architecture) => {
                let weights =
                    VarBuilder::from_backend(Box::new(random_weights::RandomWeights), DType::F32, Device::Cpu);
                let backbone = architecture.load(weights, precision)?;
                Ok(EmbeddingModel::from_parts(
                    backbone,
                    &[HeadStep::Normalize],
                    &Device::Cpu,
                )?)
            }
        }
    }

    fn pooling(&self) -> Pooling {
        match self {
            Self::Real { description, .. } => Pooling::new(description.pooling),
            Self::Random(_) => Pooling::new(PoolingModes::single(PoolingMode::Mean)),
        }
    }
}

fn load_snapshot(repo_id: &str) -> anyhow::Result<ModelSource> {
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
        source: ModelSourceOfSpec::Hub {
            repo_id: repo_id.into(),
            revision: "main".into(),
        },
        aliases: vec![],
        options: Default::default(),
    };
    let snapshot = Snapshot::new(&spec, &hub, Access::CacheOnly);
    Ok(ModelSource::Real {
        description: Box::new(ModelDescription::read(&snapshot)?),
        files: WeightFiles::fetch(&snapshot)?,
    })
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
