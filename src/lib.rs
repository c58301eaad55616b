//! An OpenAI-compatible text-embeddings service for Hugging Face embedding models, giving
//! sentence-transformers' own vectors.
//!
//! Layers, from the wire inwards: the transports [`http`] (every dialect's routes, bodies and
//! error shapes) and [`grpc`] → [`service`] (the operations they share: embed, score, sparse,
//! tokens; no transport type in it) → [`model_store`] (loaded models and tokenization) →
//! [`engine`] (request queue and batching) → [`runner`] (the backbone forward pass, pooling and
//! the rest of the pipeline on a candle device). [`registry`] and [`hub`] decide which models
//! exist and where their files come from, [`model_files`] what those files say; [`config`] is
//! the command line and [`server`] the listeners, connections and telemetry.

// candle's `mkl` backend calls MKL but does not name the crate that links it; without this
// line the MKL libraries never reach the linker.
#[cfg(feature = "mkl")]
extern crate intel_mkl_src;

pub mod auth;
pub mod config;
pub mod engine;
pub mod grpc;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod model_files;
pub mod model_store;
pub mod registry;
pub mod runner;
pub mod server;
pub mod service;
#[cfg(test)]
mod test_fixtures;
pub mod tokenize;
