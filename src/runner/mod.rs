//! The model side: load a checkpoint onto a device and turn batches of token sequences
//! into sentence-transformers' pipeline output (backbone, pooling, Dense, Normalize). Nothing
//! here knows about HTTP or JSON requests.
//!
//! Layout:
//! - the seam: [`architecture`] (which `model_type`s run, and the trait each one implements)
//!   and [`backbone`] (a forward pass over a packed [`batch`] to `[tokens, hidden]`), with the
//!   [`shape`] the rest of the service sees;
//! - shared parts: [`embeddings`], [`attention`] (with [`mask`] and [`rotary`]), [`norm`],
//!   [`mlp`], [`projection`] on the [`packed`] kernels, assembled into the two [`block`]s;
//! - one small module per architecture: [`bert`] (and [`roberta`], [`distilbert`], [`mpnet`]),
//!   [`modernbert`], [`nomic_bert`], [`gte`], and the decoders over [`decoder`]: [`qwen3`],
//!   [`gemma3`], [`llama`] (Llama and Mistral);
//! - after the backbone: [`pooling`] and the [`pipeline`] head (Dense, Normalize).

pub mod architecture;
pub mod attention;
pub mod backbone;
pub mod batch;
pub mod bert;
pub mod block;
pub mod decoder;
pub mod device;
pub mod distilbert;
pub mod embeddings;
pub mod gemma3;
pub mod gte;
pub mod head;
pub mod kernels;
pub mod llama;
pub mod mask;
pub mod mlp;
pub mod modernbert;
pub mod mpnet;
pub mod nomic_bert;
pub mod norm;
pub mod packed;
pub mod pooling;
pub mod precision;
pub mod projection;
pub mod qwen3;
pub mod roberta;
pub mod rotary;
pub mod shape;
pub mod tiled_attention;

use std::path::PathBuf;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use architecture::Architecture;
use backbone::Backbone;
use batch::PackedBatch;
use head::{Head, HeadStep};
pub use pooling::{Pooling, PoolingMode, PoolingModes};
pub use precision::Precision;
use shape::ModelShape;

pub use device::{select_device, DeviceChoice};

/// One sequence to embed and how to pool it.
#[derive(Debug, Clone, Copy)]
pub struct SequenceInput<'a> {
    pub tokens: &'a [u32],
    pub pooling: Pooling,
}

/// What the batching engine needs from a model: a batch of token sequences in, the pipeline's
/// vector for each out, in order. Implementations must be callable from any thread.
pub trait Embedder: Send + Sync + 'static {
    fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>>;
}

pub struct EmbeddingModel {
    backbone: Box<dyn Backbone>,
    head: Head,
    device: Device,
}

impl EmbeddingModel {
    /// Maps the safetensors weights of the backbone (one file, or every shard of a sharded
    /// checkpoint) and the Dense modules onto `device`. Weights stored as float16 or bfloat16
    /// are converted to float32 as they load.
    pub fn load(
        architecture: &dyn Architecture,
        weights: &[PathBuf],
        head: &[HeadStep],
        device: &Device,
        precision: Precision,
    ) -> anyhow::Result<Self> {
        if let Some(reason) = precision.unsupported_on(device, packed::cpu_supports_bf16()) {
            anyhow::bail!(reason);
        }
        anyhow::ensure!(!weights.is_empty(), "no weights file");
        // SAFETY: the weights files are memory-mapped read-only; the hub cache never rewrites a
        // blob in place (downloads go to a temporary file that is renamed into place).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, DType::F32, device)? };
        let names = weights
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let backbone = architecture
            .load(vb, precision)
            .map_err(|e| anyhow::anyhow!("cannot load weights from {names}: {e}"))?;
        Ok(Self {
            backbone,
            head: Head::load(head, device)?,
            device: device.clone(),
        })
    }

    /// A model from a backbone already built (the benches' random-weight backbones).
    pub fn from_parts(backbone: Box<dyn Backbone>, head: &[HeadStep], device: &Device) -> anyhow::Result<Self> {
        Ok(Self {
            backbone,
            head: Head::load(head, device)?,
            device: device.clone(),
        })
    }

    pub fn shape(&self) -> &ModelShape {
        self.backbone.shape()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl Embedder for EmbeddingModel {
    fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let shape = self.backbone.shape();
        let vocab = shape.vocab_size as u32;
        let positions = shape.max_positions;
        for sequence in sequences {
            if sequence.tokens.len() > positions {
                anyhow::bail!(
                    "a sequence of {} tokens exceeds the model's {positions} positions",
                    sequence.tokens.len()
                );
            }
            if let Some(bad) = sequence.tokens.iter().find(|&&id| id >= vocab) {
                anyhow::bail!("token id {bad} is outside the vocabulary of {vocab}");
            }
        }
        let _pass = packed::ForwardPass::begin();
        let tokens: Vec<&[u32]> = sequences.iter().map(|s| s.tokens).collect();
        let batch = PackedBatch::new(&tokens, shape.positions, &self.device)?;
        let hidden = self.backbone.forward(&batch)?;
        // Requests through differently configured entries of one model may share a batch: pool
        // each group of sequences with its own settings.
        let mut vectors = vec![Vec::new(); sequences.len()];
        let mut done = vec![false; sequences.len()];
        for first in 0..sequences.len() {
            if done[first] {
                continue;
            }
            let pooling = sequences[first].pooling;
            let members: Vec<usize> = (first..sequences.len())
                .filter(|&i| !done[i] && sequences[i].pooling == pooling)
                .collect();
            let pooled = pooling::pool(&hidden, &batch, &members, pooling)?;
            let output = self.head.forward(pooled)?.to_vec2::<f32>()?;
            for (member, vector) in members.into_iter().zip(output) {
                vectors[member] = vector;
                done[member] = true;
            }
        }
        Ok(vectors)
    }
}

/// Which matrix-multiply library the CPU backend of this build uses.
pub fn cpu_backend() -> &'static str {
    if cfg!(feature = "mkl") {
        "Intel MKL"
    } else {
        "gemm (pure Rust)"
    }
}

/// The kernels a model in `precision` runs on `device` here, in one line: the linear layers'
/// matmul, and how attention runs. Chosen at start from what the CPU reports.
pub fn kernels(device: &Device, precision: Precision) -> String {
    if !device.is_cpu() {
        return format!("{} matmuls and attention on the GPU (candle)", precision.name());
    }
    let linear = match precision {
        Precision::Float32 if packed::available(Precision::Float32) => {
            "packed float32 AVX-512 (vfmadd231ps)".to_owned()
        }
        Precision::Float32 => format!("candle's float32 matmul ({})", cpu_backend()),
        Precision::BFloat16 if packed::available(Precision::BFloat16) => {
            "packed bfloat16 AVX512_BF16 (vdpbf16ps)".to_owned()
        }
        Precision::BFloat16 => "none: this CPU cannot run bfloat16".to_owned(),
    };
    format!(
        "linear layers: {linear}; attention: float32, in tiles with an online softmax from {} tokens",
        attention::TILED_FROM
    )
}

/// How many threads one forward pass may use on the CPU (candle follows RAYON_NUM_THREADS,
/// else the number of physical cores).
pub fn compute_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Forward passes worth running at once on `device`: one per physical core on the CPU (each
/// single-threaded, which keeps the non-matmul work parallel too); one on a GPU, which
/// serialises kernels anyway.
pub fn default_workers(device: &Device) -> usize {
    if device.is_cpu() {
        compute_threads()
    } else {
        1
    }
}

/// Sizes candle's global pool for elementwise CPU ops to `threads_per_worker`. That pool is
/// shared by every forward pass in the process; when each worker already has a core to itself,
/// extra pool threads only spin against the workers. candle reads `CANDLE_NUM_THREADS` once, at
/// its first parallel op, so call this before any tensor work; an explicit setting wins.
pub fn configure_cpu_threads(threads_per_worker: usize) {
    // Called from `main` before the runtime and any other thread start.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", threads_per_worker.max(1).to_string());
    }
    // candle asks for the core count on every matmul, and without this variable that means
    // parsing /proc/cpuinfo each time (several per sequence per layer in bfloat16's attention).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", compute_threads().to_string());
    }
}

#[cfg(feature = "mkl")]
extern "C" {
    /// MKL's per-thread cap on its own threading; returns the previous value. (The lowercase
    /// `mkl_set_num_threads_local` symbol is the Fortran binding, which takes a pointer.)
    fn MKL_Set_Num_Threads_Local(threads: std::os::raw::c_int) -> std::os::raw::c_int;
}

/// Caps the matmul threads used by forward passes started from the calling thread. The pure
/// Rust backend follows the rayon pool it runs in instead, so there is nothing to do for it.
pub fn limit_matmul_threads(threads: usize) {
    #[cfg(feature = "mkl")]
    // SAFETY: a plain setter of MKL's thread-local configuration.
    unsafe {
        MKL_Set_Num_Threads_Local(threads.clamp(1, i32::MAX as usize) as std::os::raw::c_int);
    }
    #[cfg(not(feature = "mkl"))]
    let _ = threads;
}

#[cfg(test)]
mod tests;
