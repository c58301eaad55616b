//! The model side: load a checkpoint onto a device and turn batches of token sequences
//! into sentence-transformers' pipeline output (backbone, pooling, Dense, Normalize). Nothing
//! here knows about HTTP or JSON requests.
//!
//! Five folders, one job each:
//! - [`architectures`]: which `model_type`s run (the table in its `mod.rs`), one small file per
//!   architecture that reads its config into a [`ModelShape`](shape::ModelShape) and builds its backbone;
//! - [`layers`]: the parts every architecture is built from (input embeddings, attention with
//!   its mask, rotary positions and position bias, norms, MLPs, projections, the two blocks);
//! - [`kernels`]: the CPU code under the layers (packed matmuls, fused softmax and GELU, tiled
//!   attention) and the thread settings;
//! - [`head`]: after the backbone, pooling and the modules that follow it (Dense, Normalize),
//!   the scoring heads and the masked-LM head of sparse models;
//! - [`tasks`]: the three task models the engine runs (embedding, scoring, sparse), each a
//!   backbone and its head behind one [`SequenceModel`] seam.
//!
//! Between them, the seam: [`backbone`] (an [`Architecture`](backbone::Architecture) and the
//! [`Backbone`](backbone::Backbone) it builds, a forward pass over a packed [`batch`] to `[tokens, hidden]`),
//! [`config`] (what can be wrong with a `config.json`) and the [`shape`] the rest of the service
//! sees.

pub mod architectures;
pub mod backbone;
pub mod batch;
pub mod config;
pub mod device;
pub mod error;
pub mod head;
pub mod kernels;
pub mod layers;
pub mod mask;
pub mod precision;
pub mod shape;
pub mod tasks;

pub use device::{select_device, DeviceChoice};
pub use error::RunnerError;
pub use head::pooling::{Pooling, PoolingMode, PoolingModes};
pub use precision::Precision;
pub use tasks::embedding::EmbeddingModel;
pub use tasks::{SequenceInput, SequenceModel};

#[cfg(test)]
mod tests;
