//! The command line. Every flag can also be set through the environment variable shown in
//! `--help`, which is how containers configure the service.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::EngineConfig;
use crate::registry::{ModelSpec, Registry};
use crate::runner::kernels::packed::select::IsaCap;
use crate::runner::{DeviceChoice, Precision};
use crate::server::connections::ConnectionSettings;
use crate::service::Limits;

mod memory;
mod serve;
pub mod tei;
pub use memory::{byte_size, MemoryArgs};
pub use serve::{DEFAULT_ADDRESS, TEI_DEFAULT_ADDRESS, TEI_PROMETHEUS_PORT};
pub use tei::TeiArgs;

#[derive(Debug, Parser)]
#[command(
    name = "embeddings",
    version,
    about = "OpenAI-compatible text-embeddings server for Hugging Face sentence-transformers models",
    long_about = "OpenAI-compatible text-embeddings server for Hugging Face sentence-transformers models.\n\n\
        Serves POST /v1/embeddings with the same vectors as sentence-transformers (each model's \
        own pooling, Dense and Normalize modules; always unit length), on the CPU or an NVIDIA \
        GPU. Only models listed in the models file are ever loaded; weights come from the Hugging Face cache or hub (HF_HOME, HF_HUB_CACHE, \
        HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE=1 for air-gapped hosts). Logging: RUST_LOG."
)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, env = "EMBEDDINGS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Fetch models into the Hugging Face cache (all listed models when none are named).
    Download(DownloadArgs),
    /// Embed texts without a server and print the JSON the API would return.
    Embed(EmbedArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ModelsFileArg {
    /// The allow-list of models: one `org/name[@revision] [alias...] [key=value...]` or local
    /// path per line.
    #[arg(long, env = "EMBEDDINGS_MODELS_FILE", default_value = "supported_models.txt")]
    pub models_file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0 to accept connections from other hosts) [default:
    /// 127.0.0.1; 0.0.0.0 with --model-id, as TEI].
    #[arg(long, alias = "hostname", env = "EMBEDDINGS_HOST")]
    pub host: Option<String>,

    /// Port to listen on (HTTP, and gRPC by content type); TEI's PORT is read too [default:
    /// 11445; 3000 with --model-id, as TEI].
    #[arg(long, short = 'p', env = "EMBEDDINGS_PORT")]
    pub port: Option<u16>,

    #[command(flatten)]
    pub models: ModelsFileArg,

    /// Where the models run.
    #[arg(long, env = "EMBEDDINGS_DEVICE", value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,

    #[command(flatten)]
    pub precision: PrecisionArgs,

    /// Models loaded before /health turns ready: `first` (the first listed), `all`, `none`,
    /// or a comma-separated list of names. Other listed models load on their first request.
    #[arg(long, env = "EMBEDDINGS_PRELOAD", default_value = "first")]
    pub preload: String,

    #[command(flatten)]
    pub tuning: TuningArgs,

    #[command(flatten)]
    pub memory: MemoryArgs,

    #[command(flatten)]
    pub protection: ProtectionArgs,

    #[command(flatten)]
    pub access: AccessArgs,

    #[command(flatten)]
    pub tei: TeiArgs,
}

/// The number format of the models' matmuls.
#[derive(Debug, Clone, Args)]
pub struct PrecisionArgs {
    /// `float32` (exact, the default) or `bfloat16` (weights rounded once at load and kept in
    /// half the memory, float32 accumulation; about twice the CPU throughput on CPUs with
    /// AVX512_BF16, widened to float32 in the kernels on others). A `dtype=` option on a line of
    /// the models file overrides it for that entry. TEI's `float16` is taken and served as
    /// float32, which holds every float16 value (said at start).
    #[arg(long, env = "EMBEDDINGS_DTYPE", default_value = "float32", value_parser = dtype)]
    pub dtype: Dtype,

    /// The best instruction set the CPU kernels may use: `auto` (whatever the CPU has), `avx512`,
    /// `avx2` or `portable` (plain Rust). A cap, to compare kernels on one machine or to make a
    /// fleet of mixed CPUs run the same ones; the CPU's own features still decide below it.
    #[arg(long, env = "EMBEDDINGS_CPU_KERNELS", default_value = "auto", value_parser = IsaCap::parse)]
    pub cpu_kernels: IsaCap,
}

impl PrecisionArgs {
    /// Loads the models file with these settings applied to it and to the process.
    pub fn registry(&self, models: &ModelsFileArg) -> anyhow::Result<Registry> {
        self.apply_to_process();
        Ok(Registry::load(&models.models_file)?.with_default_precision(self.dtype.precision))
    }
}

impl PrecisionArgs {
    /// Caps the CPU kernels for the whole process (before any model loads).
    fn apply_to_process(&self) {
        if let IsaCap(Some(isa)) = self.cpu_kernels {
            crate::runner::kernels::packed::select::cap_isa(isa);
        }
    }
}

/// `--dtype`: the precision served, and whether TEI's `float16` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtype {
    pub precision: Precision,
    pub float16: bool,
}

impl Dtype {
    /// The line said at start when the precision asked for is not the one served.
    pub fn substitution(&self) -> Option<String> {
        self.float16.then(|| {
            "--dtype float16 is served as float32 here (float16 matmuls are not run on this device): \
             every float16 weight is held exactly, and vectors differ from a float16 run by float16's rounding"
                .to_owned()
        })
    }
}

fn dtype(value: &str) -> Result<Dtype, String> {
    if matches!(value.to_ascii_lowercase().as_str(), "float16" | "fp16" | "f16" | "half") {
        return Ok(Dtype {
            precision: Precision::Float32,
            float16: true,
        });
    }
    let precision = Precision::parse(value).ok_or_else(|| format!("one of {}, or float16", Precision::NAMES))?;
    Ok(Dtype {
        precision,
        float16: false,
    })
}

/// Who may call the server.
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// API keys (comma-separated): every route but the health probes then needs
    /// `Authorization: Bearer KEY`. Off when no key is set.
    #[arg(
        long,
        env = "EMBEDDINGS_API_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub api_key: String,

    /// A file of API keys, one per line (`#` comments), read again on SIGHUP.
    #[arg(long, env = "EMBEDDINGS_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Serve /metrics without a key even when keys are set.
    #[arg(long, env = "EMBEDDINGS_METRICS_PUBLIC")]
    pub metrics_public: bool,

    /// Origins browsers may call from, comma-separated, or `*` for any; CORS is off by default.
    #[arg(long, env = "EMBEDDINGS_CORS_ALLOW_ORIGIN", value_delimiter = ',')]
    pub cors_allow_origin: Vec<String>,
}

/// Timeouts and limits that keep slow or hostile clients from holding the server.
#[derive(Debug, Clone, Args)]
pub struct ProtectionArgs {
    /// Seconds from a request's first byte to its complete header (then the connection closes).
    #[arg(long, env = "EMBEDDINGS_HEADER_READ_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub header_read_timeout: Duration,

    /// Seconds a kept-alive connection may sit idle between requests.
    #[arg(long, env = "EMBEDDINGS_IDLE_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub idle_timeout: Duration,

    /// Open connections at most; more wait in the listen backlog.
    #[arg(long, env = "EMBEDDINGS_MAX_CONNECTIONS", default_value_t = ConnectionSettings::default().max_connections)]
    pub max_connections: usize,

    /// Seconds a request body may take, plus the time its size takes at --body-min-rate (408 beyond).
    #[arg(long, env = "EMBEDDINGS_BODY_READ_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub body_read_timeout: Duration,

    /// Bytes per second a request body must arrive at, after --body-read-timeout.
    #[arg(long, env = "EMBEDDINGS_BODY_MIN_RATE", default_value_t = Limits::default().body_min_bytes_per_second)]
    pub body_min_rate: u64,

    /// Seconds a request may take in all; its queued work is cancelled then (503).
    #[arg(long, env = "EMBEDDINGS_REQUEST_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub request_timeout: Duration,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "EMBEDDINGS_SHUTDOWN_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub shutdown_timeout: Duration,
}

impl ProtectionArgs {
    pub fn connections(&self) -> ConnectionSettings {
        ConnectionSettings {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections.max(1),
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!("{text:?} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

#[derive(Debug, Clone, Args)]
pub struct TuningArgs {
    /// Most tokens (padding included) in one forward pass.
    #[arg(long, env = "EMBEDDINGS_MAX_BATCH_TOKENS", default_value_t = EngineConfig::default().max_batch_tokens)]
    pub max_batch_tokens: usize,

    /// Most requests waiting per model; beyond it requests get 429 with Retry-After [default:
    /// 256; under --model-id TEI's 512].
    #[arg(long, alias = "max-concurrent-requests", env = "EMBEDDINGS_MAX_QUEUE")]
    pub max_queue: Option<usize>,

    /// Forward passes run at once, each on its own thread [default: one per physical core on
    /// the CPU, 1 on a GPU].
    #[arg(long, env = "EMBEDDINGS_WORKERS")]
    pub workers: Option<usize>,

    /// Matmul threads each forward pass may use [default: 1 on the CPU].
    #[arg(long, env = "EMBEDDINGS_THREADS_PER_WORKER")]
    pub threads_per_worker: Option<usize>,

    /// Most tokens one request may ask for, after truncation (400 beyond).
    #[arg(long, env = "EMBEDDINGS_MAX_REQUEST_TOKENS", default_value_t = Limits::default().max_request_tokens)]
    pub max_request_tokens: usize,

    /// Most documents one rerank request may hold (texts or pairs for /predict and /score);
    /// 400 beyond.
    #[arg(long, env = "EMBEDDINGS_MAX_RERANK_DOCUMENTS", default_value_t = Limits::default().max_rerank_documents)]
    pub max_rerank_documents: usize,

    /// Largest request body in bytes (413 beyond) [default: 16 MiB; under --model-id TEI's
    /// 2,000,000].
    #[arg(long, alias = "payload-limit", env = "EMBEDDINGS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Bytes the exact-repeat cache of text vectors may hold (least recently used out first);
    /// 0 turns it off.
    #[arg(long, env = "EMBEDDINGS_CACHE_BYTES", default_value_t = crate::service::DEFAULT_CACHE_BYTES)]
    pub cache_bytes: usize,
}

impl TuningArgs {
    /// The engine settings for a model on `device`.
    pub fn engine(&self, device: &candle_core::Device) -> EngineConfig {
        EngineConfig {
            max_batch_tokens: self.max_batch_tokens.max(1),
            max_batch_sequences: usize::MAX,
            queue_capacity: self.max_queue.unwrap_or(EngineConfig::default().queue_capacity).max(1),
            workers: self
                .workers
                .unwrap_or_else(|| crate::runner::kernels::default_workers(device))
                .max(1),
            threads_per_worker: self.threads_per_worker(),
        }
    }

    /// Matmul threads per forward pass: one unless set, since workers already take a core each.
    pub fn threads_per_worker(&self) -> usize {
        self.threads_per_worker.unwrap_or(1).max(1)
    }

    pub fn limits(&self, protection: &ProtectionArgs) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes.unwrap_or(Limits::default().max_body_bytes),
            max_request_tokens: self.max_request_tokens.max(1),
            body_read_timeout: protection.body_read_timeout,
            body_min_bytes_per_second: protection.body_min_rate.max(1),
            request_timeout: protection.request_timeout,
            max_rerank_documents: self.max_rerank_documents.max(1),
            ..Limits::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub models: ModelsFileArg,

    /// Model names (ids, aliases or short names from the models file).
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EmbedArgs {
    /// The model to use (id, alias or short name from the models file).
    #[arg(long, short)]
    pub model: String,

    #[command(flatten)]
    pub models: ModelsFileArg,

    /// Where the model runs.
    #[arg(long, env = "EMBEDDINGS_DEVICE", value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,

    #[command(flatten)]
    pub precision: PrecisionArgs,

    /// `float` or `base64`, as in the API.
    #[arg(long, default_value = "float")]
    pub encoding_format: String,

    /// Shorten the vectors to this many dimensions, as in the API.
    #[arg(long)]
    pub dimensions: Option<usize>,

    /// The texts to embed.
    #[arg(required = true)]
    pub texts: Vec<String>,
}

/// Turns a `--preload` value into the models it names.
pub fn preload_selection(value: &str, registry: &Registry) -> anyhow::Result<Vec<ModelSpec>> {
    match value.trim() {
        "none" | "" => Ok(Vec::new()),
        "all" => Ok(registry.specs().to_vec()),
        "first" => Ok(registry.specs().iter().take(1).cloned().collect()),
        list => list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                registry.resolve(name).cloned().ok_or_else(|| {
                    anyhow::anyhow!(
                        "--preload names {name}, which is not in the models file ({})",
                        registry.ids().join(", ")
                    )
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
