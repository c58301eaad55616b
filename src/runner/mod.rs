//! The model side: load a BERT checkpoint onto a device and turn batches of token sequences
//! into unit-length embeddings. Nothing here knows about HTTP or JSON.

pub mod bert;
pub mod device;
pub mod kernels;

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use bert::{Bert, BertConfig, PackedBatch};

pub use device::{select_device, DeviceChoice};

/// What the batching engine needs from a model: a batch of token sequences in, one unit-length
/// vector per sequence out, in order. Implementations must be callable from any thread.
pub trait Embedder: Send + Sync + 'static {
    fn embed_batch(&self, sequences: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>>;
}

pub struct EmbeddingModel {
    bert: Bert,
    config: BertConfig,
    device: Device,
}

impl EmbeddingModel {
    /// Reads config.json, checks the architecture, and maps the safetensors weights onto `device`.
    pub fn load(config_path: &Path, weights_path: &Path, device: &Device) -> anyhow::Result<Self> {
        let config = read_config(config_path)?;
        config.validate().map_err(anyhow::Error::msg)?;
        // SAFETY: the weights file is memory-mapped read-only; the hub cache never rewrites a
        // blob in place (downloads go to a temporary file that is renamed into place).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights_path], DType::F32, device)? };
        let bert = Bert::load(vb, &config)
            .map_err(|e| anyhow::anyhow!("cannot load weights from {}: {e}", weights_path.display()))?;
        Ok(Self {
            bert,
            config,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dimension(&self) -> usize {
        self.config.hidden_size
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
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Called from `main` before the runtime and any other thread start.
        std::env::set_var("CANDLE_NUM_THREADS", threads_per_worker.max(1).to_string());
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

pub fn read_config(path: &Path) -> anyhow::Result<BertConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not a BERT config: {e}", path.display()))
}

impl Embedder for EmbeddingModel {
    fn embed_batch(&self, sequences: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let vocab = self.config.vocab_size as u32;
        let positions = self.config.max_position_embeddings;
        for sequence in sequences {
            if sequence.len() > positions {
                anyhow::bail!(
                    "a sequence of {} tokens exceeds the model's {positions} positions",
                    sequence.len()
                );
            }
            if let Some(bad) = sequence.iter().find(|&&id| id >= vocab) {
                anyhow::bail!("token id {bad} is outside the vocabulary of {vocab}");
            }
        }
        let batch = PackedBatch::new(sequences, &self.device)?;
        let embeddings = self.bert.embed(&batch)?;
        Ok(embeddings.to_vec2::<f32>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Tensor, D};

    fn tiny() -> (std::path::PathBuf, EmbeddingModel) {
        let dir = std::env::temp_dir().join(format!("embeddings-runner-{}", std::process::id()));
        crate::testing::write_tiny_bert(&dir, 11).expect("tiny model");
        let model = EmbeddingModel::load(&dir.join("config.json"), &dir.join("model.safetensors"), &Device::Cpu)
            .expect("loads");
        (dir, model)
    }

    /// candle-transformers' BERT over a padded batch with an attention mask, mean-pooled over the
    /// mask and normalised: the textbook computation the packed runner must reproduce.
    fn reference_embeddings(dir: &Path, sequences: &[&[u32]]) -> Vec<Vec<f32>> {
        use candle_transformers::models::bert::{BertModel, Config};
        let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &Device::Cpu) }
                .unwrap();
        let model = BertModel::load(vb, &config).unwrap();
        let longest = sequences.iter().map(|s| s.len()).max().unwrap();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for s in sequences {
            ids.extend(s.iter().copied().chain(std::iter::repeat_n(0, longest - s.len())));
            mask.extend((0..longest).map(|i| u32::from(i < s.len())));
        }
        let ids = Tensor::from_vec(ids, (sequences.len(), longest), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(mask, (sequences.len(), longest), &Device::Cpu).unwrap();
        let hidden = model.forward(&ids, &ids.zeros_like().unwrap(), Some(&mask)).unwrap();
        let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
        let summed = hidden.broadcast_mul(&mask).unwrap().sum(1).unwrap();
        let mean = summed.broadcast_div(&mask.sum(1).unwrap()).unwrap();
        let norm = mean.sqr().unwrap().sum_keepdim(D::Minus1).unwrap().sqrt().unwrap();
        mean.broadcast_div(&norm).unwrap().to_vec2().unwrap()
    }

    #[test]
    fn packed_forward_matches_a_padded_reference_implementation() {
        let (dir, model) = tiny();
        let sequences: Vec<Vec<u32>> = vec![
            vec![2, 5, 6, 7, 3],
            vec![2, 3],
            vec![2, 9, 10, 11, 12, 13, 14, 15, 16, 3],
            vec![2, 40, 3],
        ];
        let views: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
        let packed = model.embed_batch(&views).expect("embeds");
        let reference = reference_embeddings(&dir, &views);
        for (got, want) in packed.iter().zip(&reference) {
            let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff <= 1e-5, "packed vs padded reference differ by {diff}");
        }
    }

    #[test]
    fn equal_length_batches_skip_padding_and_still_agree() {
        let (dir, model) = tiny();
        let views: Vec<&[u32]> = vec![&[2, 5, 6, 3], &[2, 7, 8, 3]];
        let packed = model.embed_batch(&views).expect("embeds");
        let reference = reference_embeddings(&dir, &views);
        for (got, want) in packed.iter().zip(&reference) {
            assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1e-5));
        }
    }

    #[test]
    fn rejects_out_of_vocabulary_ids_and_overlong_sequences_without_panicking() {
        let (_, model) = tiny();
        assert!(model.embed_batch(&[&[2, 100_000, 3]]).is_err());
        let long = vec![5u32; 65];
        assert!(model.embed_batch(&[&long]).is_err());
        assert!(model.embed_batch(&[&[]]).is_err());
        assert!(model.embed_batch(&[]).expect("empty batch").is_empty());
    }
}
